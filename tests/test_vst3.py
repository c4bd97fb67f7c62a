"""The vst3 adapter against a real VST3 instrument (tests/vst3synth, built by .ci/run): parameters
by name, state, reproducibility, tails, spec tools, crash tolerance, and a render -> train ->
match loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from soundmatch import plugins
from soundmatch.check import DROPPED
from soundmatch.dataset import DatasetReader
from soundmatch.errors import SoundmatchError
from soundmatch.spec import load_spec

from .conftest import REPO, run_soundmatch

SR = 22050


@pytest.fixture()
def synth(vst3_spec):
    spec = load_spec(vst3_spec())
    return spec, plugins.create_adapter(spec)


def play(spec, adapter, **values):
    u = spec.defaults()
    for name, value in values.items():
        u[spec.names.index(name)] = spec.parameters[spec.names.index(name)].normalise(value)
    return adapter.render_patch(spec.to_synth(u))


def centroid(audio):
    mag = np.abs(np.fft.rfft(audio[: SR // 2]))
    return float((np.fft.rfftfreq(SR // 2, 1 / SR) * mag).sum() / mag.sum())


def test_parameters_set_by_name_change_the_sound_as_expected(synth):
    spec, adapter = synth
    y = play(spec, adapter)
    assert y.dtype == np.float32 and y.shape == (2 * SR,) and np.abs(y).max() > 0.01
    assert centroid(play(spec, adapter, cutoff=8000)) > 2 * centroid(play(spec, adapter,
                                                                            cutoff=300))
    assert centroid(play(spec, adapter, shape=1.0)) > centroid(play(spec, adapter, shape=0.0))
    slow = play(spec, adapter, attack=1.0)
    fast = play(spec, adapter, attack=0.001)
    assert np.abs(fast[: SR // 20]).max() > 5 * np.abs(slow[: SR // 20]).max()
    assert adapter.get_patch()["attack_s"] == pytest.approx(0.001, rel=0.01)


def test_state_round_trips_through_a_preset(synth, vst3_spec, tmp_path):
    spec, adapter = synth
    u = spec.sample(np.random.default_rng(3), 1)[0]
    adapter.set_patch(spec.to_synth(u))
    audio = adapter.render_note()
    preset = adapter.save_preset(tmp_path / "patch.vstpreset")
    other = plugins.create_adapter(load_spec(vst3_spec()))
    values = other.load_preset(preset)
    np.testing.assert_allclose(spec.from_synth(values), u, atol=2e-3)
    np.testing.assert_allclose(other.render_note(), audio, atol=1e-4)
    # the saved state as a base preset: a spec's synth.options.base_state
    raw = tmp_path / "base.bin"
    raw.write_bytes(bytes(adapter.plugin.raw_state))
    based = plugins.create_adapter(load_spec(vst3_spec()))
    based.spec.options["base_state"] = str(raw)
    assert based.load_preset(raw)["resonance"] == pytest.approx(adapter.get_patch()["resonance"])


def test_an_unknown_parameter_name_lists_the_closest(vst3_spec):
    path = vst3_spec()
    spec = yaml.safe_load(path.read_text())
    spec["parameters"][1]["synth_name"] = "cutof"
    path.write_text(yaml.safe_dump(spec))
    with pytest.raises(SoundmatchError, match=r"'cutof' is not a parameter of "
                                              r"SoundmatchTestSynth.vst3 \(closest: cutoff_hz"):
        plugins.create_adapter(load_spec(path))


def test_spec_tools_inspect_init_fit_and_check(vst3_plugin, vst3_spec, tmp_path):
    inspect = run_soundmatch("spec", "inspect", "--plugin", vst3_plugin)
    assert inspect.returncode == 0, inspect.stderr
    assert "cutoff_hz" in inspect.stdout and "8 parameters" in inspect.stdout
    drafted = tmp_path / "drafted.yaml"
    init = run_soundmatch("spec", "init", "--plugin", vst3_plugin, "--out", drafted,
                          "--include", "cutoff|reso|shape")
    assert init.returncode == 0, init.stderr
    spec = yaml.safe_load(drafted.read_text())
    assert [p["name"] for p in spec["parameters"]] == ["shape", "cutoff_hz", "resonance"]
    assert spec["parameters"][1]["scale"] == "log"
    check = run_soundmatch("spec", "check", "--spec", vst3_spec())
    assert check.returncode == 0, check.stdout + check.stderr
    assert "All 5 parameters hold their values" in check.stdout
    # presets: two saved states with different cutoffs
    adapter = plugins.create_adapter(load_spec(vst3_spec()))
    presets = tmp_path / "presets"
    presets.mkdir()
    for i, hz in enumerate((200.0, 5000.0)):
        adapter.set_patch({"cutoff_hz": hz})
        adapter.save_preset(presets / f"p{i}.vstpreset")
    fitted = tmp_path / "fitted.yaml"
    fit = run_soundmatch("spec", "fit", vst3_spec(), "--presets", presets, "--out", fitted)
    assert fit.returncode == 0, fit.stderr
    cutoff = yaml.safe_load(fitted.read_text())["parameters"][1]["distribution"]
    p = load_spec(vst3_spec()).parameters[1]
    assert cutoff["type"] == "empirical"
    np.testing.assert_allclose(cutoff["values"], [p.normalise(200.0), p.normalise(5000.0)],
                               atol=2e-3)


def test_render_train_evaluate_match_on_the_plugin(vst3_plugin, tmp_path):
    """The shipped test spec names its plugin by a path relative to the spec file: it renders
    from anywhere, and the checkpoint trained on it needs the user to point at the plugin."""
    spec = REPO / "tests" / "vst3synth" / "testsynth.yaml"
    data, run = tmp_path / "data", tmp_path / "run"
    no_override = {"SOUNDMATCH_SYNTH_PATH": ""}
    render = run_soundmatch("render", "--spec", spec, "--count", 96, "--workers", 2,
                            "--out", data, env=no_override, cwd=tmp_path)
    assert render.returncode == 0, render.stderr
    assert len(DatasetReader(data)) == 96
    train = run_soundmatch("train", "--data", data, "--backbone", "mlp", "--epochs", 1,
                           "--batch-size", 16, "--out", run)
    assert train.returncode == 0, train.stderr
    target = tmp_path / "target.wav"
    from soundmatch.audio import write_wav

    s = load_spec(spec)
    write_wav(target, plugins.create_adapter(s).render_patch(s.to_synth(s.defaults()), note=64),
              SR)
    # The checkpoint's spec names the plugin, but a checkpoint never chooses a binary to load:
    # the user points at it, and the CLI says what it loaded.
    for command in (("match", target, "--checkpoint", run / "best.pt", "--out", tmp_path / "o"),
                    ("evaluate", run / "best.pt", "--data", data, "--count", 8)):
        refused = run_soundmatch(*command, env=no_override, cwd=tmp_path)
        assert refused.returncode == 1, refused.stderr
        assert "may not choose a file to open; pass --synth-path PATH" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    evaluate = run_soundmatch("evaluate", run / "best.pt", "--data", data, "--count", 8,
                              "--synth-path", vst3_plugin, env=no_override, cwd=tmp_path)
    assert evaluate.returncode == 0, evaluate.stderr
    # --plugin-path is the option's old name, kept for scripts
    match = run_soundmatch("match", target, "--checkpoint", run / "best.pt", "--out",
                           tmp_path / "out", "--refine", 8, "--plugin-path", vst3_plugin,
                           env=no_override, cwd=tmp_path)
    assert match.returncode == 0, match.stderr
    assert f"loaded {Path(vst3_plugin).resolve()}" in " ".join(match.stderr.split())
    assert "target.wav (detected 64" in match.stdout
    assert (tmp_path / "out" / "target.preset.vstpreset").stat().st_size > 0


def test_a_render_survives_workers_killed_by_the_plugin(vst3_spec, sine_env, tmp_path):
    out = tmp_path / "crashy"
    result = run_soundmatch("render", "--spec", vst3_spec("vst3-crashy"), "--count", 200,
                            "--workers", 2, "--shard-size", 25, "--out", out, "--no-check",
                            env=sine_env)
    assert result.returncode == 0, result.stderr
    reader = DatasetReader(out)
    assert len(reader) == 200
    cutoff = reader.spec.parameters[1]
    assert reader.params()[:, 1].max() <= cutoff.normalise(18000.0)  # no crashing patch kept
    metas = [json.loads(p.read_text()) for p in (out / "shards").glob("*/meta.json")]
    lost = sum(m["lost"] for m in metas)
    assert lost >= 1
    assert f"{lost:,} renders lost" in result.stdout


def test_massive_without_massive_is_one_line_naming_where_it_looked(tmp_path):
    result = run_soundmatch("render", "--synth", "massive", "--count", 10, "--out",
                            tmp_path / "m", env={"SOUNDMATCH_MASSIVE_PATH": "",
                                                 "SOUNDMATCH_SYNTH_PATH": ""})
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("Error: Massive not found; looked in ")
    assert "Massive.vst3" in line and "--synth-path" in line
    assert not (tmp_path / "m").exists()
    spec = load_spec(plugins.spec_path("massive"))  # the paper's spec loads and validates
    assert len(spec) == 16 and spec.adapter == "massive"


# A plugin that loses host-set values on reset (pedalboard #339): the workaround and the check.

def test_the_forgetful_plugin_really_drops_values_set_directly(forgetful_plugin):
    """The fixture reproduces the bug through a bare pedalboard loop: different cutoffs, the same
    sound, while the plugin still reports the value it was given."""
    import pedalboard

    plugin = pedalboard.load_plugin(str(forgetful_plugin))
    note = [(bytes([0x90, 60, 127]), 0.0), (bytes([0x80, 60, 0]), 0.5)]
    renders = []
    for cutoff in (100.0, 15000.0):
        plugin.cutoff_hz = cutoff
        renders.append(np.asarray(plugin(note, duration=1.0, sample_rate=SR, reset=True)))
        assert plugin.cutoff_hz == pytest.approx(cutoff, rel=0.01)
    np.testing.assert_array_equal(renders[0], renders[1])


@pytest.mark.parametrize("apply", ["auto", "flush", "state"])
def test_the_adapter_works_around_a_plugin_that_drops_values(apply, vst3_spec,
                                                             forgetful_plugin):
    spec = load_spec(vst3_spec())
    healthy = plugins.create_adapter(spec)
    forgetful = plugins.create_adapter(
        load_spec(vst3_spec(plugin=forgetful_plugin, options={"apply": apply})))
    assert healthy.apply == "direct" and healthy.notes() == []
    assert forgetful.apply == ("flush" if apply == "auto" else apply)
    for u in spec.sample(np.random.default_rng(3), 3):
        patch = spec.to_synth(u)
        np.testing.assert_allclose(forgetful.render_patch(patch), healthy.render_patch(patch),
                                   atol=1e-6)


def test_spec_check_passes_on_the_forgetful_plugin_and_says_how(vst3_spec, forgetful_plugin):
    result = run_soundmatch("spec", "check", "--spec", vst3_spec(plugin=forgetful_plugin))
    assert result.returncode == 0, result.stderr
    assert "All 5 parameters hold their values" in result.stdout
    assert "apply: flush" in result.stderr and "SoundmatchForgetfulSynth.vst3" in result.stderr


def test_without_the_workaround_check_and_render_refuse(vst3_spec, forgetful_plugin, tmp_path):
    spec = vst3_spec(plugin=forgetful_plugin, options={"apply": "direct"})
    check = run_soundmatch("spec", "check", "--spec", spec)
    assert check.returncode == 1
    last = check.stderr.strip().splitlines()[-1]
    assert "spec check failed for 5 of 5 parameters" in last and DROPPED in last
    out = tmp_path / "data"
    render = run_soundmatch("render", "--spec", spec, "--count", 8, "--workers", 1, "--out", out)
    assert render.returncode == 1 and DROPPED in render.stderr and not out.exists()


def test_an_unknown_apply_mode_is_one_line(vst3_spec):
    spec = vst3_spec(options={"apply": "sometimes"})
    result = run_soundmatch("spec", "check", "--spec", spec)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {spec}: synth.options.apply: found 'sometimes', expected one of auto, direct, "
        "flush, state")


def test_the_idle_instance_changes_no_sample(vst3_spec):
    """keep_alive only holds a second instance so the plugin's message thread stays up between
    renders (faster); every render must be the same bytes with it and without it."""
    alive = load_spec(vst3_spec(options={"keep_alive": True}))
    single = load_spec(vst3_spec(options={"keep_alive": False}))
    with_idle, without = plugins.create_adapter(alive), plugins.create_adapter(single)
    assert with_idle._idle is not None and without._idle is None
    rng = np.random.default_rng(0)
    for u in alive.sample(rng, 4):
        patch = alive.to_synth(u)
        assert with_idle.render_patch(patch).tobytes() == without.render_patch(patch).tobytes()


def test_a_keep_alive_that_is_not_a_boolean_is_one_line(vst3_spec):
    spec = vst3_spec(options={"keep_alive": "sometimes"})
    result = run_soundmatch("spec", "check", "--spec", spec)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {spec}: synth.options.keep_alive: found 'sometimes', expected true or false")
