"""Matching on any synth with no model: from the spec's defaults and the user's presets, searched
on tiny budgets, through the CLI; several answers; a junk preset file never aborts a match."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from soundmatch import plugins
from soundmatch.audio import write_wav

from .conftest import REPO, run_soundmatch

PRESETS = REPO / "specs" / "presets" / "builtin"
# A spec no shipped model was trained on: matching with it is model-free.
NO_MODEL_SPEC = REPO / "specs" / "builtin-16-presets.yaml"
HEXTER = Path("/usr/share/hexter")


def record(out: Path, stem: str) -> dict:
    return yaml.safe_load((out / f"{stem}.params.yaml").read_text())


@pytest.fixture(scope="module")
def acid(tmp_path_factory) -> Path:
    """A shipped builtin preset, played by the synth at a note that is not the spec's."""
    from soundmatch.spec import load_spec

    spec = load_spec(NO_MODEL_SPEC)
    synth = plugins.create_adapter(spec)
    synth.set_patch(synth.load_preset(PRESETS / "bass-acid.yaml"))
    path = tmp_path_factory.mktemp("acid") / "acid.wav"
    write_wav(path, synth.render_note(45.0), spec.render.sample_rate)
    return path


def test_a_builtin_match_with_no_model_grows_from_the_closest_preset(acid, tmp_path):
    out = tmp_path / "out"
    result = run_soundmatch("match", acid, "--spec", NO_MODEL_SPEC, "--presets", PRESETS,
                            "--refine", 30, "--note", 45, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "no model" in result.stdout and "17 presets" in result.stdout
    found = record(out, "acid")
    assert found["checkpoint"] is None and found["spec"] == "builtin-16-presets"
    # the preset the sound was made with is among the starts, and wins them
    assert found["start"] == f"preset {PRESETS / 'bass-acid.yaml'}"
    assert found["scores"]["distance_best_start"] < 0.05
    assert found["scores"]["renders"] == 30
    assert (out / "acid.preset.yaml").exists() and (out / "acid.match.wav").exists()


def test_candidates_are_ranked_distinct_answers_each_with_its_files(acid, tmp_path):
    out = tmp_path / "out"
    result = run_soundmatch("match", acid, "--spec", NO_MODEL_SPEC, "--presets", PRESETS,
                            "--refine", 60, "--candidates", 3, "--out", out)
    assert result.returncode == 0, result.stderr
    records = [record(out, stem) for stem in ("acid", "acid.2", "acid.3")]
    assert [r["rank"] for r in records] == [1, 2, 3]
    distances = [r["scores"]["distance"] for r in records]
    assert distances == sorted(distances)
    assert len({r["start"] for r in records}) == 3  # each grew from a start of its own
    for stem in ("acid.2", "acid.3"):
        for suffix in ("match.wav", "preset.yaml", "compare.png"):
            assert (out / f"{stem}.{suffix}").exists()
    assert "candidate 3:" in result.stdout


def test_a_junk_preset_file_is_skipped_in_one_line_and_the_match_goes_on(acid, tmp_path):
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "lead.yaml").write_text((PRESETS / "lead-saw.yaml").read_text())
    (presets / "junk.yaml").write_text("{{{ not yaml")
    (presets / "words.yaml").write_text(yaml.safe_dump({"parameters": {"osc1_amp": "loud"}}))
    out = tmp_path / "out"
    result = run_soundmatch("match", acid, "--spec", NO_MODEL_SPEC, "--presets", presets,
                            "--presets", tmp_path / "missing-folder-is-an-error", "--refine", 10,
                            "--out", out)
    assert result.returncode == 1 and "missing-folder-is-an-error" in result.stderr
    result = run_soundmatch("match", acid, "--spec", NO_MODEL_SPEC, "--presets", presets,
                            "--refine", 10, "--out", out)
    assert result.returncode == 0, result.stderr
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped")]
    assert [line.split(":")[0] for line in skipped] == [f"skipped {presets / 'junk.yaml'}",
                                                         f"skipped {presets / 'words.yaml'}"]
    assert "1 presets" in result.stdout and (out / "acid.match.wav").exists()


def test_a_match_with_no_model_on_the_vst3_instrument(vst3_spec, tmp_path):
    from .test_match import tone

    sound = tmp_path / "tone.wav"
    write_wav(sound, (0.3 * tone(57, "square", rate=22050)).astype(np.float32), 22050)
    out = tmp_path / "out"
    result = run_soundmatch("match", sound, "--spec", vst3_spec(), "--refine", 16, "--out", out)
    assert result.returncode == 0, result.stderr
    found = record(out, "tone")
    assert found["synth"] == "vst3" and found["checkpoint"] is None
    assert found["start"] == "defaults" and found["scores"]["renders"] == 16
    assert (out / "tone.preset.vstpreset").stat().st_size > 0


def test_a_vst3_search_in_two_processes_returns_what_a_serial_one_does(vst3_spec):
    from soundmatch import Matcher

    serial = Matcher.for_synth(spec=vst3_spec(), workers=1)
    parallel = Matcher.for_synth(spec=vst3_spec(), workers=2)
    target = serial.render(np.clip(serial.spec.defaults() + 0.2, 0.0, 1.0), 57.0)
    a = serial.match(target, sample_rate=serial.sample_rate, refine=30, seed=3)
    b = parallel.match(target, sample_rate=serial.sample_rate, refine=30, seed=3)
    assert type(parallel.scorer).__name__ == "ProcessScorer"
    np.testing.assert_array_equal(a.params, b.params)
    assert a.scores == b.scores
    np.testing.assert_array_equal(a.audio, b.audio)
    # A worker renders without torch (soundmatch.render_worker): it starts seconds sooner.
    pool = parallel.scorer.pool
    assert pool.submit(eval, "'torch' in __import__('sys').modules").result() is False
    parallel.close()  # its workers stop; the next search starts them again
    c = parallel.match(target, sample_rate=serial.sample_rate, refine=30, seed=3)
    assert parallel.scorer.pool is not pool and c.scores == a.scores
    parallel.close()


dexed = pytest.mark.skipif(sys.version_info < (3, 11), reason="dexed-py needs CPython 3.11+")


@dexed
def test_dexed_matches_with_no_model_from_the_installed_factory_voices(tmp_path):
    if not list(HEXTER.glob("*.dx7")):
        pytest.skip("no factory voices: apt-get install hexter")
    sound = REPO / "examples" / "sounds" / "bell-e4.wav"
    out = tmp_path / "out"
    result = run_soundmatch("match", sound, "--synth", "dexed", "--refine", 500, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "432 presets" in result.stdout
    found = record(out, "bell-e4")
    assert found["spec"] == "dexed-voice" and found["start"].startswith("preset /usr/share/hexter")
    assert (out / "bell-e4.preset.syx").read_bytes()[:2] == b"\xf0\x43"


@dexed
def test_the_syx_a_match_writes_plays_the_samples_of_the_match(tmp_path):
    if not list(HEXTER.glob("*.dx7")):
        pytest.skip("no factory voices: apt-get install hexter")
    from soundmatch import Matcher
    from soundmatch.presets import read_presets

    matcher = Matcher.for_synth("dexed")
    matcher.presets, _ = read_presets(matcher.adapter, [HEXTER / "dx7_roms.dx7"])
    target = matcher.render(np.clip(matcher.spec.defaults() + 0.1, 0, 1), 62.0)
    result = matcher.match(target, sample_rate=44100, refine=80)
    matcher.save(result, tmp_path, stem="m")
    synth = plugins.create_adapter(matcher.spec)
    synth.set_patch(synth.load_preset(tmp_path / "m.preset.syx"))
    replayed = result.gain * synth.render_note(result.note)
    np.testing.assert_array_equal(replayed.astype(np.float32), result.audio)
    # in key: the .syx is played at the input's nearest key, the octave is not in the patch
    assert result.detected is not None and result.note == round(result.detected)
    record = yaml.safe_load((tmp_path / "m.params.yaml").read_text())
    assert record["note"] == result.note
    assert record["detected_note"] == round(result.detected, 2)


def _pitch(audio: np.ndarray, rate: int) -> float:
    """The strongest partial's pitch (MIDI, to the cent) of a sound's first second."""
    head = audio[:rate] * np.hanning(min(len(audio), rate))
    spectrum = np.abs(np.fft.rfft(head, 16 * len(head)))
    return 69 + 12 * np.log2(np.argmax(spectrum) * rate / (16 * len(head)) / 440)


@dexed
def test_an_input_between_two_keys_is_matched_in_tune_on_dexed(tmp_path):
    """Dexed plays whole notes; a sound 40 cents sharp is matched from starts tuned to it (every
    ratio operator's fine frequency), and the .syx plays it in tune from the input's key."""
    if not list(HEXTER.glob("*.dx7")):
        pytest.skip("no factory voices: apt-get install hexter")
    from soundmatch import Matcher
    from soundmatch.presets import read_presets

    rate = 44100
    t = np.arange(2 * rate) / rate
    hz = 440 * 2 ** ((60.4 - 69) / 12)
    sound = (np.sin(2 * np.pi * hz * t) * np.exp(-2 * t)).astype(np.float32)
    matcher = Matcher.for_synth("dexed")
    matcher.presets, _ = read_presets(matcher.adapter, [HEXTER / "dx7_roms.dx7"])
    result = matcher.match(sound, sample_rate=rate, refine=120)
    assert result.note == 60 and result.origin.endswith("tuned +40 cents")
    assert abs(_pitch(result.audio, rate) - 60.4) < 0.1
    matcher.save(result, tmp_path, stem="m")
    synth = plugins.create_adapter(matcher.spec)
    synth.set_patch(synth.load_preset(tmp_path / "m.preset.syx"))
    replayed = result.gain * synth.render_note(60)
    np.testing.assert_array_equal(replayed.astype(np.float32), result.audio)
    untuned = Matcher.for_synth("dexed")
    untuned.presets = matcher.presets
    at_60 = untuned.match(sound, sample_rate=rate, refine=120, note=60)
    assert "tuned" not in at_60.origin
    assert result.scores["distance"] < at_60.scores["distance"]
