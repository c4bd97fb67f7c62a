#!/usr/bin/env bash
# How the builtin-16 model that ships with soundmatch (soundmatch/pretrained/builtin-ast-tiny.pt,
# `--checkpoint builtin-16`) was made:
# it is the ast-tiny of the cpu-scale reproduction (docs/results.md), the best model of that run,
# exported as float16. About 2 hours on a 2-core CPU (10 min render, 3 x 30 min training, 11 min
# scoring), run from the repository root.
set -euo pipefail
python examples/reproduce_paper.py --scale cpu --out reproduce
python -c "from soundmatch.checkpoint import export; \
export('reproduce/run-ast-tiny/best.pt', 'soundmatch/pretrained/builtin-ast-tiny.pt')"
# Against the model it replaced (seed-0 renders, 20k examples), on renders neither has seen:
#   soundmatch render --count 2000 --seed 2 --out data/heldout-seed2-2k
#   soundmatch evaluate OLD.pt soundmatch/pretrained/builtin-ast-tiny.pt \
#       --data data/heldout-seed2-2k --split all
