#!/usr/bin/env bash
# How the model that ships with soundmatch (soundmatch/pretrained/builtin-ast-tiny.pt) was made.
# About 2 minutes of rendering and 20 minutes of training on a 2-core CPU.
set -euo pipefail
soundmatch render --count 20000 --seed 0 --out data/builtin-20k
soundmatch train --data data/builtin-20k --backbone ast-tiny --lr 3e-4 --epochs 15 \
    --out runs/ast-tiny-20k
python -c "from soundmatch.checkpoint import export; \
export('runs/ast-tiny-20k/best.pt', 'soundmatch/pretrained/builtin-ast-tiny.pt')"
# The comparison the README quotes: the paper's MLP baseline on the same data, then both scored
# on the same held-out test examples.
soundmatch train --data data/builtin-20k --backbone mlp --epochs 10 --patience 3 --out runs/mlp-20k
soundmatch evaluate soundmatch/pretrained/builtin-ast-tiny.pt runs/mlp-20k/best.pt \
    --data data/builtin-20k --report reports/builtin-20k
