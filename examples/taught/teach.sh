#!/usr/bin/env bash
# How the default model (soundmatch/pretrained/builtin-rich-taught-ast-tiny.pt, `--checkpoint
# builtin-rich-taught`) was made and measured, from the repository root on a 2-core CPU. Wall
# times are this machine's; docs/results.md#the-network-taught-by-the-search has the numbers.
#
# 1. A corpus of 569 real one-shots from Debian packages neither benchmark uses (40 s), and
#    20,000 fresh renders of builtin-rich (2 min).
# 2. The search labels the corpus from the shipped model's guesses: 300 renders per sound
#    (23 min).
# 3. The shipped model is fine-tuned on the labels (each seen 10 times per epoch) beside the
#    renders, without and with augmentations, 10 minutes each. Without, the labelled sounds'
#    validation loss rose from the first epoch on (the best checkpoint is the first epoch's).
# 4. The better one is exported with the labelled corpus as its memory: `match` plays the
#    patches of the 16 remembered sounds most like its input beside the network's guesses.
set -euo pipefail
python examples/taught/make_corpus.py --out data/corpus
soundmatch render --spec builtin-rich --count 20000 --seed 7 --out data/rich-20k
soundmatch label data/corpus --checkpoint builtin-rich --refine 300 --out data/taught-r1
for augment in none all; do
    soundmatch train --data data/rich-20k --data data/taught-r1 --repeat 10 \
        --init builtin-rich --augment "$augment" --lr 1e-4 --epochs 100 --time-budget 10 \
        --out "runs/taught-r1-$augment"
done
soundmatch export runs/taught-r1-all/best.pt --memory data/taught-r1 \
    --out soundmatch/pretrained/builtin-rich-taught-ast-tiny.pt

# The real-sound benchmark: the match with no search, and with --refine 3s and the default 6 s.
python benchmarks/real_sounds.py --skip-refine --json docs/results/taught/match.json
python benchmarks/real_sounds.py --refine 3s --skip-network \
    --json docs/results/taught/refine-3s-taught.json
python benchmarks/real_sounds.py --checkpoint builtin-rich --refine 3s --skip-network \
    --json docs/results/taught/refine-3s-before.json
python benchmarks/real_sounds.py --skip-network --json docs/results/taught/refine-6s-taught.json
