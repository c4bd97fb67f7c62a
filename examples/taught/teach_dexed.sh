#!/usr/bin/env bash
# How Dexed's memory of real sounds (adapters/dexed/soundmatch_dexed/real-sounds.memory.pt) was
# made, from the repository root on a 2-core CPU, with hexter installed (its 432 factory voices
# are the search's starts): the corpus of examples/taught/make_corpus.py matched on the whole
# DX7 voice (dexed-voice) with 800 renders per sound (the 433 starts, then the climb; about
# 20 minutes), then exported as a memory with no model. `soundmatch match FILE --synth dexed`
# plays the voices of the 16 remembered sounds most like its input beside the factory voices.
set -euo pipefail
python examples/taught/make_corpus.py --out data/corpus
soundmatch label data/corpus --synth dexed --refine 800 --out data/taught-dexed
soundmatch export --memory data/taught-dexed \
    --out adapters/dexed/soundmatch_dexed/real-sounds.memory.pt
python benchmarks/real_sounds.py --synth dexed --json docs/results/taught/dexed.json
