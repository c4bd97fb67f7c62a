"""The network taught by the search: `label` turns real sounds into a dataset, `train` learns from
it beside rendered data (--data twice, --repeat, --init, --augment)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from soundmatch import audio as audio_io
from soundmatch.augment import Augment, parse
from soundmatch.checkpoint import load_checkpoint
from soundmatch.dataset import DatasetReader
from soundmatch.errors import SoundmatchError
from soundmatch.features import FeatureConfig, log_mel
from soundmatch.matcher import Matcher
from soundmatch.memory import load_memory

from .conftest import REAL_NAMES, REPO, run_soundmatch

SOUNDS = REPO / "examples" / "sounds"


def test_label_stores_what_the_search_found_for_each_readable_sound(labelled, sounds):
    out, spec, result = labelled
    assert result.stderr.count("skipped:") == 1 and "notes.wav" in result.stderr
    reader = DatasetReader(out)
    assert len(reader) == 10 and reader.manifest.source["kind"] == "matched"
    assert [s["name"] for s in reader.manifest.source["sounds"]] == sorted(
        [p.name for p in SOUNDS.glob("*.wav")] + list(REAL_NAMES))
    # The first example is what `match` finds for that sound with the same budget and seed, and
    # its features are the log-mel of the sound as match prepares it.
    matcher = Matcher.for_synth(spec=spec)
    found = matcher.match(sounds / "bell-e4.wav", refine="12", seed=0)
    features, params = reader[0]
    np.testing.assert_array_equal(params, found.params.astype(np.float32))
    prepared = audio_io.load(sounds / "bell-e4.wav", matcher.sample_rate,
                             matcher.spec.render.num_samples)
    expected = log_mel(prepared, matcher.features).numpy().astype(np.float16)
    np.testing.assert_array_equal(features, expected)
    low, high = matcher.spec.render.notes or (matcher.spec.render.note,) * 2
    assert low <= reader.note(0) <= high


def test_label_resumes_and_refuses_other_sounds_or_a_time_budget(labelled, sounds, tmp_path):
    out, spec, _ = labelled
    again = run_soundmatch("label", sounds, "--spec", spec, "--refine", 12, "--shard-size", 3,
                           "--out", out)
    assert again.returncode == 0 and "labelled now  0" in again.stdout
    other = run_soundmatch("label", sounds / "hat.wav", "--spec", spec, "--refine", 12,
                           "--shard-size", 3, "--out", out)
    assert other.returncode == 1 and "holds a different dataset" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
    timed = run_soundmatch("label", sounds, "--spec", spec, "--refine", "2s",
                           "--out", tmp_path / "timed")
    assert timed.returncode == 1 and "expected a number of renders" in timed.stderr


def test_train_on_renders_and_labelled_sounds_from_a_checkpoint(labelled, tiny_data,
                                                                 tiny_checkpoint, tmp_path):
    out_data, _, _ = labelled
    run = tmp_path / "run"
    result = run_soundmatch("train", "--data", tiny_data, "--data", out_data, "--repeat", 3,
                            "--init", tiny_checkpoint, "--augment", "all", "--backbone",
                            "ast-tiny", "--epochs", 1, "--batch-size", 16, "--out", run)
    assert result.returncode == 0, result.stderr
    assert f"from {tiny_checkpoint}" in result.stderr
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[0])
    by_data = record["val_loss_by_data"]
    assert len(by_data) == 2 and math.isclose(record["val_loss"], sum(by_data) / 2)
    # 128 rendered training examples, and the labelled set's 8 (80 % of 10) three times
    assert "152 training" in result.stderr
    ckpt = load_checkpoint(run / "best.pt")
    start = load_checkpoint(tiny_checkpoint)
    assert ckpt.split.datasets == (str(tiny_data), str(out_data))
    assert ckpt.payload["feature_stats"] == start.payload["feature_stats"]
    assert ckpt.payload["run"]["init"] == str(tiny_checkpoint)


def test_init_from_another_spec_is_one_line(tiny_data, tmp_path):
    result = run_soundmatch("train", "--data", tiny_data, "--init", "builtin-rich", "--backbone",
                            "ast-tiny", "--epochs", 1, "--out", tmp_path / "run")
    assert result.returncode == 1
    assert "--init builtin-rich: trained on spec builtin-rich" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_train_refuses_datasets_of_two_specs(tiny_data, tmp_path):
    other = tmp_path / "spec.yaml"
    spec = (tiny_data.parent / "spec.yaml").read_text().replace("sample_rate: 16000",
                                                                "sample_rate: 22050")
    other.write_text(spec)
    rendered = run_soundmatch("render", "--spec", other, "--count", 40, "--workers", 1,
                              "--out", tmp_path / "data")
    assert rendered.returncode == 0, rendered.stderr
    result = run_soundmatch("train", "--data", tiny_data, "--data", tmp_path / "data",
                            "--epochs", 1, "--out", tmp_path / "run")
    assert result.returncode == 1 and "share a spec" in result.stderr


# ------------------------------------------------------------------------ augmentations

CONFIG = FeatureConfig(sample_rate=16000)


def _one(names, x, note=60.0, seed=0):
    """Augment a batch in which every example is augmented: P is per example, so draw until
    the example was chosen."""
    for s in range(seed, seed + 64):
        y, n = Augment(parse(names), CONFIG)(x, torch.tensor([note]), torch.Generator()
                                            .manual_seed(s))
        if not torch.equal(y, x) or n.item() != note:
            return y, n
    raise AssertionError(f"{names} never applied")


def test_each_augmentation_does_what_its_name_says():
    floor = math.log(CONFIG.log_floor)
    x = torch.full((1, 64, 40), floor)
    x[0, 20, 10] = 0.0  # one band, one frame at power 1
    y, _ = _one("level", x)
    shift = (y[0, 20, 10] - x[0, 20, 10]).item() / (math.log(10) / 10)
    assert -20.0 <= shift <= 6.0 and abs(shift) > 0.01
    y, _ = _one("onset", x)
    frames = int(torch.argmax(y[0, 20]).item()) - 10
    assert frames in (1, 2, 3) and y[0, 20, 10 + frames].item() == 0.0
    y, _ = _one("room", x)
    power = torch.exp(y[0, 20]) - math.exp(floor)
    assert power[10].item() == pytest.approx(1.0, abs=1e-4) and power[:10].abs().max() < 1e-6
    tail = power[11:].sum().item()
    assert 0.0 < tail <= 0.5 + 1e-4  # wet energy: 5-50 % of the dry sound's
    y, _ = _one("noise", x)
    assert (y[0, :, 0] > floor).all() and y[0, 20, 10].item() >= 0.0
    y, _ = _one("tilt", x)
    assert y[0, 20, 10].item() != 0.0
    y, n = _one("detune", x)
    assert torch.equal(y, x) and 0 < abs(n.item() - 60.0) <= 0.5


def test_augmentation_is_seeded_and_stays_above_the_floor():
    x = torch.randn(8, 64, 40) - 4.0
    notes = torch.full((8,), 60.0)
    aug = Augment(parse("all"), CONFIG)
    a = aug(x, notes, torch.Generator().manual_seed(3))
    b = aug(x, notes, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert a[0].min() >= math.log(CONFIG.log_floor) and torch.isfinite(a[0]).all()


def test_unknown_augmentation_is_one_line(tiny_data, tmp_path):
    with pytest.raises(SoundmatchError, match="--augment: found 'reverb'"):
        parse("level,reverb")
    result = run_soundmatch("train", "--data", tiny_data, "--augment", "reverb", "--out",
                            tmp_path / "run")
    assert result.returncode == 1 and "expected all, none or some of" in result.stderr


# ------------------------------------------------------------------------ memory


def test_export_remembers_labelled_sounds_and_match_recalls_them(labelled, sounds,
                                                                 tiny_checkpoint, tmp_path):
    out_data, _, _ = labelled
    exported = tmp_path / "taught.pt"
    result = run_soundmatch("export", tiny_checkpoint, "--memory", out_data, "--out", exported)
    assert result.returncode == 0, result.stderr
    assert "10 sounds" in result.stdout and "float16" in result.stdout
    ckpt = load_checkpoint(exported)
    assert len(ckpt.memory) == 10
    assert all(p.dtype == torch.float32 for p in ckpt.model.parameters())
    reader = DatasetReader(out_data)
    features, _ = reader[0]  # bell-e4.wav: its own key is the nearest
    assert ckpt.memory.recall(features.astype(np.float32))[0][0] == "bell-e4.wav"
    # With no search, its remembered patch is among the guesses rendered: the match is at
    # least as close as the search that labelled it.
    found = Matcher.load(exported).match(sounds / "bell-e4.wav", seed=0)
    assert found.scores["distance"] <= float(reader.column("distances")[0]) + 1e-6
    assert found.scores["renders"] >= 1 + 10


def test_no_refine_keeps_the_closest_of_the_networks_guesses(sounds, tiny_checkpoint):
    matcher = Matcher.load(tiny_checkpoint)
    found = matcher.match(sounds / "pluck-a3.wav")
    assert found.scores["renders"] == 7  # its guess, an octave either side, 4 varied
    assert found.scores["distance"] == found.scores["distance_best_start"]
    assert found.scores["distance"] <= found.scores["distance_network"]


def test_a_memory_needs_labelled_sounds_and_a_sound_checkpoint(labelled, tiny_data,
                                                               tiny_checkpoint, tmp_path):
    rendered = run_soundmatch("export", tiny_checkpoint, "--memory", tiny_data, "--out",
                              tmp_path / "x.pt")
    assert rendered.returncode == 1 and "not a dataset of labelled sounds" in rendered.stderr
    out_data, _, _ = labelled
    exported = tmp_path / "taught.pt"
    assert run_soundmatch("export", tiny_checkpoint, "--memory", out_data, "--out",
                          exported).returncode == 0
    payload = torch.load(exported, weights_only=True)
    payload["memory"]["params"] = payload["memory"]["params"] + 2.0
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(SoundmatchError, match=r"params within 0\.\.1"):
        load_checkpoint(tmp_path / "bad.pt")
    matched = run_soundmatch("match", REPO / "examples/sounds/hat.wav", "--checkpoint",
                             tmp_path / "bad.pt", "--out", tmp_path / "m")
    assert matched.returncode == 1 and len(matched.stderr.strip().splitlines()) == 1


def test_a_memory_alone_serves_a_match_with_no_model(labelled, sounds, tmp_path):
    out_data, spec_path, _ = labelled
    path = tmp_path / "sounds.memory.pt"
    result = run_soundmatch("export", "--memory", out_data, "--out", path)
    assert result.returncode == 0, result.stderr
    assert "10 sounds on builtin-16" in result.stdout
    matcher = Matcher.for_synth(spec=spec_path)
    memory = load_memory(path, matcher.spec, matcher.features)
    assert memory is not None and len(memory) == 10
    other = Matcher.for_synth(spec="builtin-rich")
    assert load_memory(path, other.spec, other.features) is None  # made for another spec
    # The labelled sound's own patch is among the starts: no farther than its label, and the
    # match says which remembered sound it grew from.
    matcher.memory = memory
    found = matcher.match(sounds / "hat.wav", refine="12", seed=0)
    reader = DatasetReader(out_data)
    row = [s["name"] for s in reader.manifest.source["sounds"]].index("hat.wav")
    assert found.scores["distance"] <= float(reader.column("distances")[row]) + 1e-6
    assert run_soundmatch("export", "--out", tmp_path / "x.pt").returncode == 2
