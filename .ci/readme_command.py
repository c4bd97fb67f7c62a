"""Print the command of the README's fenced bash block that follows ``<!-- ci: NAME -->``, so
that CI runs exactly what the README tells a user to type."""

import re
import sys
from pathlib import Path

readme, name = Path(sys.argv[1]), sys.argv[2]
match = re.search(rf"<!-- ci: {re.escape(name)} -->\s*```bash\n(.*?)```", readme.read_text(),
                  re.S)
if match is None:
    sys.exit(f"{readme}: no bash block after <!-- ci: {name} -->")
lines = [line for line in match.group(1).splitlines() if line.strip()]
if len(lines) != 1:
    sys.exit(f"{readme}: the block after <!-- ci: {name} --> has {len(lines)} lines, expected one")
print(lines[0])
