#!/usr/bin/env bash
# Which augmentation helps (#25): the fine-tuning of teach.sh step 3 with each augmentation left
# out in turn, 2 epochs each (the best epoch of `--augment all` was its second), and the network
# alone scored on the real-sound benchmark: its 7 guesses, no memory, no search. From the
# repository root after teach.sh (it reuses data/rich-20k, data/taught-r1 and both runs of
# step 3); about 3 minutes a run on 2 cores. docs/results.md#which-augmentation-helps has the
# table, docs/results/taught/ablation/ every score.
set -euo pipefail
out=docs/results/taught/ablation
mkdir -p "$out"
bench() {  # checkpoint, name
    python benchmarks/real_sounds.py --checkpoint "$1" --skip-refine --json "$out/$2.json"
}
bench builtin-rich untaught
bench runs/taught-r1-none/best.pt none
bench runs/taught-r1-all/best.pt all
all=(level tilt noise room onset detune)
for drop in "${all[@]}"; do
    keep=$(printf "%s\n" "${all[@]}" | grep -vx "$drop" | paste -sd,)
    soundmatch train --data data/rich-20k --data data/taught-r1 --repeat 10 \
        --init builtin-rich --augment "$keep" --lr 1e-4 --epochs 2 --out "runs/ablate/no-$drop"
    bench "runs/ablate/no-$drop/best.pt" "no-$drop"
done
# The spread between two runs that differ only in their seed (and so in their split).
soundmatch train --data data/rich-20k --data data/taught-r1 --repeat 10 \
    --init builtin-rich --augment all --lr 1e-4 --epochs 2 --seed 1 --out runs/ablate/all-seed1
bench runs/ablate/all-seed1/best.pt all-seed1
