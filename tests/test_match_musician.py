"""`match` as a musician and a script use it: repeatable with a seed, never clipped, JSON and a
scores table, `play` to hear a preset, and the README's Python example as written."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from soundmatch.audio import read_audio

from .conftest import REPO, run_soundmatch

SOUNDS = REPO / "examples" / "sounds"


def test_a_render_budget_and_a_seed_give_the_same_files_twice(tmp_path):
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        result = run_soundmatch("match", SOUNDS / "pluck-a3.wav", "--refine", 120, "--seed", 1,
                                "--out", out)
        assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in runs[0].iterdir())
    assert names == sorted(p.name for p in runs[1].iterdir()) and "scores.csv" in names
    for name in names:
        if name.endswith((".wav", ".yaml", ".csv")):
            assert (runs[0] / name).read_bytes() == (runs[1] / name).read_bytes(), name
    other = run_soundmatch("match", SOUNDS / "pluck-a3.wav", "--refine", 120, "--seed", 2,
                           "--out", tmp_path / "c")
    assert other.returncode == 0
    assert ((tmp_path / "c" / "pluck-a3.params.yaml").read_text()
            != (runs[0] / "pluck-a3.params.yaml").read_text())


def float_wav(path: Path, samples: np.ndarray, rate: int = 44100) -> Path:
    data = samples.astype("<f4").tobytes()
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt "
                     + struct.pack("<IHHIIHH", 16, 3, 1, rate, rate * 4, 4, 32)
                     + b"data" + struct.pack("<I", len(data)) + data)
    return path


@pytest.mark.parametrize("peak", [0.5, 50.0, 0.005])
def test_no_match_is_written_clipped(peak, tmp_path):
    t = np.arange(44100 * 2) / 44100
    sine = peak * np.sin(2 * np.pi * 220 * t) * np.exp(-t)
    sound = float_wav(tmp_path / "in.wav", sine)
    out = tmp_path / "out"
    result = run_soundmatch("match", sound, "--refine", 40, "--out", out, "--json")
    assert result.returncode == 0, result.stderr
    audio, _ = read_audio(out / "in.match.wav")
    assert np.max(np.abs(audio)) < 0.999
    record = json.loads(result.stdout)[0]
    if peak > 1:
        assert record["level_limited_db"] < -20  # limited by (about) the input's excess
    elif peak < 0.01:
        assert record["level_limited_db"] == 0.0
    if record["level_limited_db"] < 0:  # limited: to just under full scale, and said so
        assert np.max(np.abs(audio)) > 0.95


def test_match_json_and_the_scores_table(tmp_path):
    out = tmp_path / "out"
    inputs = [SOUNDS / "builtin-a.wav", SOUNDS / "hat.wav"]
    result = run_soundmatch("match", *inputs, "--refine", 20, "--json", "--out", out)
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert [r["input"] for r in records] == [str(p) for p in inputs]
    for r in records:
        assert set(r) >= {"files", "note", "detected_note", "gain_db", "scores", "start"}
        assert Path(r["files"]["preset"]).exists() and r["scores"]["renders"] == 20
    assert records[1]["detected_note"] is None  # a hat has no pitch
    table = (out / "scores.csv").read_text().splitlines()
    assert table[0].startswith("stem,input,note,detected_note") and len(table) == 3
    # a second batch into the folder adds its rows and keeps the others
    again = run_soundmatch("match", SOUNDS / "bell-e4.wav", "--refine", 10, "--out", out)
    assert again.returncode == 0
    stems = [line.split(",")[0] for line in (out / "scores.csv").read_text().splitlines()[1:]]
    assert stems == ["bell-e4", "builtin-a", "hat"]


def test_play_renders_a_builtin_preset_at_another_note(tmp_path):
    preset = REPO / "specs" / "presets" / "builtin" / "keys-organ.yaml"
    out = tmp_path / "organ.wav"
    result = run_soundmatch("play", preset, "--note", 45, "--velocity", 90, "--out", out)
    assert result.returncode == 0, result.stderr
    audio, rate = read_audio(out)
    from soundmatch.pitch import detect_pitch

    assert abs(detect_pitch(audio[0], rate) - 45) < 0.3


@pytest.mark.skipif(sys.version_info < (3, 11), reason="dexed-py needs CPython 3.11+")
def test_play_renders_a_voice_of_a_dx7_bank(tmp_path):
    bank = Path("/usr/share/hexter/dx7_roms.dx7")
    if not bank.exists():
        pytest.skip("no factory voices: apt-get install hexter")
    out = tmp_path / "brass.wav"
    result = run_soundmatch("play", bank, "--voice", 1, "--out", out)
    assert result.returncode == 0, result.stderr
    assert np.max(np.abs(read_audio(out)[0])) > 0.01
    bad = run_soundmatch("play", bank, "--voice", 200, "--out", out)
    assert bad.returncode == 1 and "--voice: found 200, expected 1..128" in bad.stderr


def test_play_renders_the_vst3_instruments_preset(vst3_spec, tmp_path):
    spec = vst3_spec()
    sound = SOUNDS / "pluck-a3.wav"
    out = tmp_path / "m"
    assert run_soundmatch("match", sound, "--spec", spec, "--refine", 8, "--out",
                          out).returncode == 0
    result = run_soundmatch("play", out / "pluck-a3.preset.vstpreset", "--spec", spec,
                            "--note", 72, "--out", tmp_path / "p.wav")
    assert result.returncode == 0, result.stderr
    assert np.max(np.abs(read_audio(tmp_path / "p.wav")[0])) > 0.01
    unknown = run_soundmatch("play", sound, "--out", tmp_path / "x.wav")
    assert unknown.returncode == 1 and "pass --synth NAME" in unknown.stderr


def test_the_readme_python_example_runs_as_written(tmp_path):
    readme = (REPO / "README.md").read_text()
    code = re.search(r"<!-- ci: python-example -->\s*```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "examples").symlink_to(REPO / "examples")
    if sys.version_info < (3, 11):
        code = code.replace('dx7 = Matcher.for_synth("dexed")', "")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    note, detected, _gain = map(float, lines[0].split())
    assert abs(note - detected) < 0.01 or abs(abs(note - detected) - 12) < 0.01
    assert (tmp_path / "out" / "voice-ah.params.yaml").exists()
    assert yaml.safe_load((tmp_path / "out" / "voice-ah.params.yaml").read_text())["rank"] == 1


def test_every_example_is_played_within_a_semitone_of_its_note(tmp_path):
    truth = yaml.safe_load((SOUNDS / "truth.yaml").read_text())
    inputs = [SOUNDS / name for name in truth]
    result = run_soundmatch("match", *inputs, "--refine", 40, "--json", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    for record in json.loads(result.stdout):
        note = truth[Path(record["input"]).name]["note"]
        assert abs(record["note"] - note) <= 1, record
        assert record["octave"] == 0 and record["preset_key"] == round(record["note"])
    # the terminal shows the pitch detected beside the note played
    shown = run_soundmatch("match", SOUNDS / "builtin-b.wav", "--refine", 10, "--out", tmp_path)
    assert re.search(r"detected 54\.\d\d, played 54\.\d\d", shown.stdout), shown.stdout


def tone_file(path: Path, note: float, rate: int = 44100) -> Path:
    from soundmatch.audio import write_wav

    from .test_match import tone

    write_wav(path, (0.3 * tone(note, "saw", rate=rate)).astype(np.float32), rate)
    return path


dexed = pytest.mark.skipif(sys.version_info < (3, 11), reason="dexed-py needs CPython 3.11+")
HEXTER_BANK = Path("/usr/share/hexter/dx7_roms.dx7")


@dexed
def test_a_dexed_match_played_at_the_inputs_key_sounds_at_its_pitch(tmp_path):
    if not HEXTER_BANK.exists():
        pytest.skip("no factory voices: apt-get install hexter")
    from soundmatch import plugins
    from soundmatch.pitch import detect_pitch

    out = tmp_path / "out"
    result = run_soundmatch("match", SOUNDS / "pluck-a3.wav", "--synth", "dexed", "--presets",
                            HEXTER_BANK, "--refine", 60, "--json", "--out", out)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)[0]
    assert record["preset_key"] == round(record["detected_note"]) == 57
    synth = plugins.create_adapter(plugins.resolve_spec("dexed-voice"))
    synth.set_patch(synth.load_preset(record["files"]["preset"]))
    heard = detect_pitch(synth.render_note(record["preset_key"]), 44100)
    assert abs(heard - record["detected_note"]) < 0.5


def octave_off(matcher, sound: Path, tmp_path: Path):
    """Match ``sound``, then save the match as though the input's key were an octave below the
    note it plays (as where an octave start wins): the match and the record written."""
    from dataclasses import replace

    found = matcher.match(sound, refine=10)
    matcher.save(replace(found, key=found.key - 12), tmp_path, stem="m")
    return found, yaml.safe_load((tmp_path / "m.params.yaml").read_text())


@pytest.mark.parametrize("synth", ["vst3", pytest.param("dexed", marks=dexed)])
def test_a_match_an_octave_from_the_inputs_key_is_written_transposed(synth, vst3_spec,
                                                                     tmp_path):
    from soundmatch import Matcher, plugins

    sound = tone_file(tmp_path / "tone.wav", 57)
    matcher = (Matcher.for_synth(spec=vst3_spec(options={"transpose_parameter": "transpose"}))
               if synth == "vst3" else Matcher.for_synth("dexed"))
    found, record = octave_off(matcher, sound, tmp_path)
    assert record["octave"] == 1 and record["preset_transposed"] == 12
    assert record["preset_key"] == 45
    # the preset, played at the input's key, plays the match's samples
    synth = plugins.create_adapter(matcher.spec)
    synth.set_patch(synth.load_preset(tmp_path / f"m.preset{synth.preset_suffix}"))
    np.testing.assert_allclose(found.gain * synth.render_note(45), found.audio, atol=1e-4)


def test_a_synth_that_cannot_transpose_names_the_key_to_play(tmp_path):
    from soundmatch import Matcher

    _, record = octave_off(Matcher.load(), tone_file(tmp_path / "tone.wav", 57), tmp_path)
    assert record["octave"] == 1 and record["preset_transposed"] == 0
    assert record["preset_key"] == round(record["note"]) == 57
