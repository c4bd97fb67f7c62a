#!/usr/bin/env bash
# How the default model that ships with soundmatch (soundmatch/pretrained/builtin-rich-ast-tiny.pt,
# `--checkpoint builtin-rich`) was made, from the repository root on a 2-core CPU: 100,000 renders
# of builtin-rich (26 parameters) across notes 36-84 (about 10 minutes), then an ast-tiny trained
# for an hour (bf16 autocast on this CPU, which has AMX: --precision auto), exported as float16.
# Then the real-sound benchmark of docs/results.md, and its oracle on every third sound.
set -euo pipefail
soundmatch render --spec builtin-rich --count 100000 --seed 1 --workers 2 --out data/rich-100k
soundmatch train --data data/rich-100k --backbone ast-tiny --lr 3e-4 --epochs 50 \
    --time-budget 60 --out runs/rich-ast-tiny
python -c "from soundmatch.checkpoint import export; \
export('runs/rich-ast-tiny/best.pt', 'soundmatch/pretrained/builtin-rich-ast-tiny.pt')"
python benchmarks/real_sounds.py --json docs/results/real/benchmark.json \
    --markdown docs/results/real/benchmark.md
python benchmarks/real_sounds.py --limit 22 --oracle 3000 --skip-network --skip-refine \
    --json docs/results/real/oracle.json
