"""The dexed adapter (adapters/dexed, its own GPL distribution) on the real DX7 engine from PyPI,
with the factory voices Debian's hexter package installs: plugins, spec check, presets both ways,
spec fit, and render -> train -> evaluate -> match with a matched patch saved as .syx."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

if sys.version_info < (3, 11):
    pytest.skip("dexed-py has wheels for CPython 3.11 and newer only", allow_module_level=True)

try:
    import soundmatch_dexed
except ImportError as exc:  # CI installs it: a missing adapter is a failure, not a skip
    raise ImportError("the dexed tests need the adapter: pip install ./adapters/dexed") from exc

from soundmatch import plugins
from soundmatch.spec import load_spec

from .conftest import REPO, missing, run_soundmatch

HEXTER = Path("/usr/share/hexter")


@pytest.fixture(scope="module")
def factory_banks():
    """The DX7/TX7 factory voices Debian's hexter installs (not redistributed here)."""
    banks = sorted(HEXTER.glob("*.dx7"))
    if not banks:
        missing(f"no factory voices in {HEXTER}: apt-get install hexter")
    return banks


@pytest.fixture(scope="module")
def small():
    return load_spec(plugins.spec_path("dexed-small"))


def test_plugins_lists_the_adapter_and_its_specs_from_its_own_package():
    result = run_soundmatch("plugins", "--json")
    import json

    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert rows[("adapter", "dexed")]["package"].startswith("soundmatch-dexed")
    assert ("spec", "dexed-small") in rows and ("spec", "dexed-voice") in rows


def test_spec_check_passes_for_the_default_spec():
    result = run_soundmatch("spec", "check", "--synth", "dexed")
    assert result.returncode == 0, result.stderr
    assert "All 38 parameters hold their values and change the sound." in result.stdout


def test_the_voice_spec_has_steps_and_choices(small):
    voice = load_spec(plugins.spec_path("dexed-voice"))
    kinds = [p.type for p in voice.parameters]
    assert len(voice) == 138 and kinds.count("choice") == 21 and kinds.count("steps") == 117
    algorithm = next(p for p in voice.parameters if p.name == "algorithm")
    assert algorithm.num_choices == 32 and algorithm.label(31) == "32"


def test_every_factory_voice_loads_and_plays_within_full_scale(factory_banks, small):
    synth = plugins.create_adapter(small)
    voices = [v for bank in factory_banks for v in synth.load_presets(bank)]
    assert len(voices) >= 416
    peaks = []
    for values in voices[::8]:
        synth.set_patch(values)
        peaks.append(float(np.abs(synth.render_note(60, 127)).max()))
    assert min(peaks) > 1e-3 and max(peaks) < 1.0


def test_a_saved_syx_is_a_dx7_single_voice_dump_that_reads_back(small, tmp_path):
    from dexed import Patch

    synth = plugins.create_adapter(small)
    u = small.sample(np.random.default_rng(4), 1)[0]
    synth.set_patch(small.to_synth(u))
    audio = synth.render_note()
    path = synth.save_preset(tmp_path / "voice.syx")
    data = path.read_bytes()
    assert len(data) == 163 and data[:6] == bytes([0xF0, 0x43, 0x00, 0x00, 0x01, 0x1B])
    assert data[-1] == 0xF7 and (sum(data[6:161]) + data[161]) % 128 == 0
    # dexed-py (Dexed's own reader) opens it, and soundmatch reads the same values back
    assert Patch.from_sysex(data[6:161]).algorithm == round(small.to_synth(u)["algorithm"])
    other = plugins.create_adapter(small)
    values = other.load_preset(path)
    np.testing.assert_array_equal(small.from_synth(values), u)
    other.set_patch(values)
    np.testing.assert_array_equal(other.render_note(), audio)


def test_a_32_voice_bulk_dump_reads_back_voice_for_voice(factory_banks, small, tmp_path):
    from dexed import Patch

    synth = plugins.create_adapter(small)
    voices = synth.load_presets(factory_banks[0])[:32]
    bank = tmp_path / "bank.syx"
    # a bulk dump behind another sysex message, as librarians write them
    Patch.save_to_bank(str(bank), [Patch.from_sysex(bytes(map(int, v.values())) + bytes(11))
                                   for v in voices])
    bank.write_bytes(bytes([0xF0, 0x7E, 0x00, 0x06, 0x01, 0xF7]) + bank.read_bytes())
    assert synth.load_presets(bank) == voices


def test_spec_fit_learns_the_factory_voices_distributions(factory_banks, tmp_path):
    out = tmp_path / "fitted.yaml"
    result = run_soundmatch("spec", "fit", "dexed-small", "--presets", HEXTER, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "to 432 presets" in result.stdout
    fitted = load_spec(out)
    algorithm = fitted.parameters[0]
    assert algorithm.distribution.type == "categorical"
    assert len(algorithm.distribution.args["weights"]) == 32
    level = next(p for p in fitted.parameters if p.name == "op1_output_level")
    assert level.distribution.type == "empirical"
    u = fitted.sample(np.random.default_rng(0), 500)
    values = level.denormalise(u[:, fitted.names.index("op1_output_level")])
    assert np.all(values == np.round(values))
    # like the voices: 241 of 432 (the FB-01 conversions, four operators) leave op 1 silent,
    # the others mostly play it loud
    assert 0.45 < np.mean(values < 10) < 0.67 and np.mean(values > 80) > 0.2


@pytest.fixture(scope="module")
def dexed_run(tmp_path_factory):
    """A real Dexed dataset (200 renders) and an MLP trained on it for two epochs."""
    root = tmp_path_factory.mktemp("dexed")
    data, run = root / "data", root / "run"
    render = run_soundmatch("render", "--synth", "dexed", "--count", 200, "--workers", 2,
                            "--out", data)
    assert render.returncode == 0, render.stderr
    train = run_soundmatch("train", "--data", data, "--backbone", "mlp", "--epochs", 2,
                           "--batch-size", 32, "--out", run)
    assert train.returncode == 0, train.stderr
    return data, run


def test_render_train_evaluate_and_match_on_dexed(small, factory_banks, dexed_run, tmp_path):
    data, run = dexed_run
    evaluate = run_soundmatch("evaluate", run / "best.pt", "--data", data, "--count", 12,
                              "--json")
    assert evaluate.returncode == 0, evaluate.stderr
    scores = yaml.safe_load(evaluate.stdout)[0]
    assert set(scores["accuracy"]) == {"algorithm"}
    assert 0.0 <= scores["accuracy"]["algorithm"] <= 1.0
    assert len(scores["step_error"]) == 37 and scores["mse"] > 0
    # a voice no model saw: the first factory voice, played by the synth itself
    target = tmp_path / "brass.wav"
    synth = plugins.create_adapter(small)
    synth.set_patch(synth.load_presets(factory_banks[0])[0])
    from soundmatch.audio import write_wav

    write_wav(target, synth.render_note(), small.render.sample_rate)
    out = tmp_path / "out"
    match = run_soundmatch("match", target, "--checkpoint", run / "best.pt", "--refine", 24,
                           "--out", out)
    assert match.returncode == 0, match.stderr
    record = yaml.safe_load((out / "brass.params.yaml").read_text())
    algorithm = record["parameters"]["algorithm"]
    assert algorithm["choice"] == str(algorithm["value"] + 1)
    assert isinstance(record["parameters"]["op1_output_level"], int)
    # the matched patch saved as .syx loads back to the same values
    reread = synth.load_preset(out / "brass.preset.syx")
    for name, value in record["parameters"].items():
        expected = value["value"] if isinstance(value, dict) else value
        assert reread[name] == expected, name


def test_the_adapter_refuses_an_unknown_parameter_in_one_line(small):
    synth = plugins.create_adapter(small)
    with pytest.raises(Exception, match="dexed has no parameter 'op7_output_level'"):
        synth.set_patch({"op7_output_level": 50})
    assert soundmatch_dexed.Dexed.thread_safe


# ------------------------------------------------------------------------ files from elsewhere

SECRET = b"PRIVATE KEY " * 40


def one_line(result) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("named", ["private", "/dev/zero"])
def test_a_checkpoint_naming_a_voice_file_gets_nothing_read(named, dexed_run, factory_banks,
                                                            tmp_path):
    import torch

    _, run = dexed_run
    private = tmp_path / "id_ed25519"
    private.write_bytes(SECRET)
    payload = torch.load(run / "best.pt", weights_only=True)
    payload["spec"]["synth"]["options"] = {
        "base_voice": str(private) if named == "private" else named}
    hostile = tmp_path / "downloaded.pt"
    torch.save(payload, hostile)
    sound = REPO / "examples" / "sounds" / "pluck-a3.wav"
    out = tmp_path / "out"
    line = one_line(run_soundmatch("match", sound, "--checkpoint", hostile, "--out", out))
    assert "downloaded.pt" in line and "synth.options.base_voice" in line
    assert "--synth-file base_voice=PATH" in line
    assert not out.exists() or not any(out.iterdir())
    # Named by the user, a real voice bank is used; the private file, named, is read and refused
    # as what it is, not copied into a preset.
    ok = run_soundmatch("match", sound, "--checkpoint", hostile, "--out", out,
                        "--synth-file", f"base_voice={factory_banks[0]}")
    assert ok.returncode == 0, ok.stderr
    assert all(SECRET[:12] not in p.read_bytes() for p in out.iterdir() if p.is_file())
    line = one_line(run_soundmatch("match", sound, "--checkpoint", hostile, "--out", out,
                                   "--synth-file", f"base_voice={private}"))
    assert "id_ed25519" in line and "DX7 voice" in line


def sparse(path, size):
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@pytest.mark.parametrize("voice", ["missing", "folder", "/dev/zero", "2 GB", "random bytes"])
def test_a_spec_naming_a_file_that_is_no_voice_is_one_line(voice, small, tmp_path):
    path = {"missing": tmp_path / "nope.syx", "folder": tmp_path, "/dev/zero": Path("/dev/zero"),
            "2 GB": tmp_path / "huge.syx", "random bytes": tmp_path / "junk.syx"}[voice]
    if voice == "2 GB":
        sparse(path, 2 << 30)
    if voice == "random bytes":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 128 * 40, np.uint8).tobytes())
    spec = yaml.safe_load(Path(small.source).read_text())
    spec["synth"]["options"] = {"base_voice": str(path)}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    line = one_line(run_soundmatch("render", "--spec", spec_path, "--count", 2, "--workers", 1,
                                   "--out", tmp_path / "data", timeout=120))
    assert str(path) in line


def test_spec_fit_skips_random_bytes_and_never_reads_its_own_output(factory_banks, tmp_path):
    presets = tmp_path / "presets"
    presets.mkdir()
    for bank in factory_banks:
        (presets / bank.name).write_bytes(bank.read_bytes())
    rng = np.random.default_rng(1)
    (presets / "junk.syx").write_bytes(rng.integers(0, 256, 5000, np.uint8).tobytes())
    (presets / "whole.dx7").write_bytes(rng.integers(0, 256, 128 * 40, np.uint8).tobytes())
    sparse(presets / "huge.syx", 50 << 20)
    out = presets / "fitted.syx.yaml"
    runs = [run_soundmatch("spec", "fit", "dexed-small", "--presets", presets, "--out", out)
            for _ in range(2)]
    texts = []
    for result in runs:
        assert result.returncode == 0, result.stderr
        assert "to 432 presets" in result.stdout
        skipped = sorted(line.split(":")[0] for line in result.stderr.splitlines())
        assert skipped == [f"skipped {presets / name}"
                           for name in ("huge.syx", "junk.syx", "whole.dx7")]
        texts.append(out.read_text())
    assert texts[0] == texts[1]


def test_dexed_remembers_real_sounds_and_a_match_recalls_their_voices():
    """The memory that ships with the adapter (examples/taught/teach_dexed.sh): 569 real sounds
    and the whole voices the search found for them, recalled for the whole-voice spec only."""
    from soundmatch.matcher import Matcher

    matcher = Matcher.for_synth("dexed")
    assert matcher.spec.name == "dexed-voice" and len(matcher.memory) == 569
    assert Matcher.for_synth("dexed", spec="dexed-small").memory is None
    pluck = REPO / "examples" / "sounds" / "pluck-a3.wav"
    alone = matcher.match(pluck, refine=1)  # the spec's defaults: DX7's initial voice
    recalled = matcher.match(pluck, refine=17)  # and the 16 voices recalled for this sound
    assert alone.origin == "defaults" and recalled.origin.startswith("memory: ")
    assert recalled.scores["distance"] < alone.scores["distance"]
