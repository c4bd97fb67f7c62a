"""`soundmatch train`: every backbone trains and writes a run; kill-and-resume; DDP; checkpoints
that are data; the split."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from soundmatch.checkpoint import load_checkpoint
from soundmatch.dataset import split_indices
from soundmatch.errors import SoundmatchError
from soundmatch.runtime import weights_hash

from .conftest import run_soundmatch, soundmatch_command

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def train_args(data, out, backbone="mlp", epochs=2, *extra):
    return ["train", "--data", data, "--backbone", backbone, "--epochs", epochs,
            "--batch-size", 16, "--out", out, *extra]


@pytest.mark.parametrize("backbone", ["mlp", "cnn", "ast-tiny"])
def test_each_backbone_trains_and_writes_a_run(backbone, tiny_data, tmp_path):
    out = tmp_path / backbone
    result = run_soundmatch(*train_args(tiny_data, out, backbone))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} >= {"best.pt", "last.pt", "metrics.jsonl", "loss.png",
                                              "summary.json"}
    assert (out / "loss.png").read_bytes()[:8] == PNG_MAGIC
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [0, 1]
    assert all(np.isfinite(h["train_loss"]) and np.isfinite(h["val_loss"]) for h in history)

    ckpt = load_checkpoint(out / "best.pt")
    assert ckpt.backbone == backbone and ckpt.spec.name == "builtin-16"
    assert ckpt.features.sample_rate == 16000 and ckpt.split.count == 160
    features = torch.randn(3, *ckpt.payload["input_shape"])
    with torch.no_grad():
        predicted = ckpt.model(features)
    assert predicted.shape == (3, 16) and predicted.min() >= 0 and predicted.max() <= 1
    assert "best validation MSE" in result.stdout and "constant predictor" in result.stdout


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_training_precision_is_chosen_and_shown(precision, tiny_data, tmp_path):
    """bf16 autocast trains the same float32 weights to a finite loss; the run says which."""
    out = tmp_path / precision
    result = run_soundmatch(*train_args(tiny_data, out, "ast-tiny"), "--precision", precision)
    assert result.returncode == 0, result.stderr
    assert f"on cpu ({precision})" in result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert np.isfinite(summary["best_val_loss"])
    ckpt = load_checkpoint(out / "best.pt")
    assert all(p.dtype == torch.float32 for p in ckpt.model.parameters())


def test_a_killed_training_resumes_where_it_stopped(tiny_data, tmp_path):
    """SIGKILL mid-run, then the same command: it resumes from the last finished epoch and ends
    with the same weights as a run that was never interrupted."""
    args = train_args(tiny_data, tmp_path / "killed", "mlp", 5)
    # One thread and MKL's reproducible code path in all three runs: a multi-threaded or
    # alignment-dependent sum differs in its last bits, and Adam turns a last-bit difference in a
    # near-zero gradient into a whole step (lr) of difference in that weight.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "MKL_CBWR": "COMPATIBLE"}
    proc = subprocess.Popen(soundmatch_command(*args), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 2):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = len(metrics.read_text().splitlines())
    assert done < 5

    resumed = run_soundmatch(*args, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming at epoch {done}." in resumed.stderr
    epochs = [json.loads(line)["epoch"] for line in metrics.read_text().splitlines()]
    assert epochs == [0, 1, 2, 3, 4]

    straight = run_soundmatch(*train_args(tiny_data, tmp_path / "straight", "mlp", 5), env=env)
    assert straight.returncode == 0, straight.stderr
    a = load_checkpoint(tmp_path / "killed" / "last.pt").model.state_dict()
    b = load_checkpoint(tmp_path / "straight" / "last.pt").model.state_dict()
    # A lost optimiser state, dropout RNG or shuffle order would leave the weights far apart.
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-3, atol=1e-5, msg=name)


def test_a_run_stopped_by_its_time_budget_stays_stopped(tiny_data, tmp_path):
    """Running a finished budgeted run again (as examples/reproduce_paper.py does after an
    interruption) trains nothing more; a larger budget continues it."""
    out = tmp_path / "budget"
    args = train_args(tiny_data, out, "mlp", 5, "--time-budget", "0.0001")
    assert run_soundmatch(*args).returncode == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 1 and summary["stopped_by"] == "time budget"
    first = json.loads((out / "metrics.jsonl").read_text())
    assert first["samples"] == 16  # out of time after one batch: the epoch ends there
    last = (out / "last.pt").read_bytes()

    again = run_soundmatch(*args)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "summary.json").read_text())["epochs"] == 1
    assert (out / "last.pt").read_bytes() == last

    longer = run_soundmatch(*train_args(tiny_data, out, "mlp", 2, "--time-budget", "60"))
    assert longer.returncode == 0, longer.stderr
    assert json.loads((out / "summary.json").read_text())["stopped_by"] == "epochs"
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [h["samples"] for h in history] == [16, 128]  # the next epoch is a whole one


def test_resuming_with_other_options_is_refused(tiny_data, tmp_path):
    out = tmp_path / "run"
    assert run_soundmatch(*train_args(tiny_data, out, "mlp", 1)).returncode == 0
    result = run_soundmatch(*train_args(tiny_data, out, "mlp", 2, "--lr", "0.01"))
    assert result.returncode == 1
    assert f"{out}: holds a different run (backbone mlp" in result.stderr
    assert "Traceback" not in result.stderr


def test_ddp_with_two_gloo_processes_agrees_on_one_checkpoint(tiny_data, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "soundmatch", *[str(a) for a in train_args(tiny_data, out, "mlp", 2)],
           "--device", "cpu", "--time-budget", "60"]  # the budget: rank 0's clock, broadcast
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    hashes = summary["replica_weight_hashes"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    assert weights_hash(load_checkpoint(out / "last.pt").model) == hashes[0]
    assert sorted(p.name for p in out.glob("*.pt")) == ["best.pt", "last.pt"]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    assert result.stdout.count("best validation MSE") == 1  # rank 0 alone reports


def test_bad_checkpoints_are_one_line_errors_and_never_run_code(tiny_data, tmp_path):
    out = tmp_path / "run"
    assert run_soundmatch(*train_args(tiny_data, out, "mlp", 1)).returncode == 0
    good = (out / "best.pt").read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(4096))
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(Evil()))
    for path, message in ((truncated, "not a readable soundmatch checkpoint"),
                          (garbage, "not a readable soundmatch checkpoint"),
                          (evil, "not a readable soundmatch checkpoint"),
                          (foreign, "format: found None, expected 'soundmatch-checkpoint/1'"),
                          (tmp_path / "missing.pt", "no such checkpoint file")):
        with pytest.raises(SoundmatchError, match=message) as info:
            load_checkpoint(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()
    # Through the CLI: a run folder whose last checkpoint is corrupt.
    (out / "last.pt").write_bytes(good[:100])
    result = run_soundmatch(*train_args(tiny_data, out, "mlp", 2))
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"Error: {out / 'last.pt'}: not a readable")
    assert "Traceback" not in result.stderr


def test_the_split_is_deterministic_disjoint_and_80_10_10():
    a, b = split_indices(1000, seed=0), split_indices(1000, seed=0)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(a[part], b[part])
    assert [len(a[p]) for p in ("train", "val", "test")] == [800, 100, 100]
    assert len(np.unique(np.concatenate(list(a.values())))) == 1000
    assert not np.array_equal(split_indices(1000, seed=1)["test"], a["test"])
    with pytest.raises(SoundmatchError, match="too small to split"):
        split_indices(5)


@pytest.mark.parametrize("item, message", [
    ("depth", "--config: found 'depth', expected KEY=VALUE"),
    ("nosuch=3", "backbone ast-tiny with config"),
])
def test_bad_backbone_config_is_one_line(item, message, tiny_data, tmp_path):
    result = run_soundmatch(*train_args(tiny_data, tmp_path / "r", "ast-tiny", 1,
                                        "--config", item))
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_plugins_shows_backbone_configs_and_with_sizes_their_weights():
    result = run_soundmatch("plugins", "--json")
    rows = {r["name"]: r for r in json.loads(result.stdout) if r["kind"] == "backbone"}
    assert set(rows) >= {"ast", "ast-small", "ast-tiny", "mlp", "cnn"}
    assert rows["ast-tiny"]["detail"] == "dim=192 depth=6 heads=3 patch_size=16 stride=16"
    result = run_soundmatch("plugins", "--json", "--sizes")
    rows = {r["name"]: r for r in json.loads(result.stdout) if r["kind"] == "backbone"}
    assert rows["ast"]["detail"].startswith("87.2M parameters; dim=768 depth=12")
