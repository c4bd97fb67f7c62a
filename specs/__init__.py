"""The parameter specs shipped with soundmatch, registered by file name (``builtin-16``, …) through
the ``register_specs`` hook like any plugin's specs."""

from pathlib import Path

from soundmatch import hookimpl


@hookimpl
def register_specs(register):
    for path in sorted(Path(__file__).parent.glob("*.yaml")):
        register(path.stem, path)
