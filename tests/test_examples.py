"""The example scripts: the paper-scale plan is right without running it."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REPO


def dry_run(*args):
    result = subprocess.run([sys.executable, REPO / "examples" / "reproduce_paper.py",
                             "--dry-run", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_paper_scale_plan_matches_the_paper():
    plan = dry_run("--scale", "paper", "--gpus", "4", "--out", "/tmp/repro")
    assert "1,000,000 examples" in plan and "800,000 train" in plan
    assert "disk: 22.2 GB" in plan  # the paper: 1M examples = 22 GB
    assert ("soundmatch render --synth builtin --count 1000000 --seed 1 "
            "--out /tmp/repro/data-1000000") in plan
    for backbone in ("mlp", "cnn", "ast"):
        assert (f"torchrun --nproc_per_node=4 -m soundmatch train --data /tmp/repro/data-1000000 "
                f"--backbone {backbone} --epochs 50") in plan
    assert "--count 10000" in plan and "evaluate /tmp/repro/run-mlp/best.pt" in plan


def test_cpu_scale_gives_every_model_the_same_budget():
    plan = dry_run("--scale", "cpu")
    assert "100,000 examples" in plan and "torchrun" not in plan
    assert plan.count("--time-budget 30") == 3
