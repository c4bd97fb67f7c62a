"""Parameter specs: loading, validation errors, normalisation and sampling."""

from __future__ import annotations

import numpy as np
import pytest

from soundmatch import plugins
from soundmatch.errors import SoundmatchError
from soundmatch.spec import load_spec, spec_from_dict

from .conftest import run_soundmatch


def test_shipped_specs_load_with_the_papers_sixteen_parameters():
    paper = ["osc1_position", "osc1_amp", "osc2_pitch", "osc2_position", "osc2_amp", "noise_amp",
             "filter1_cut_prm_1", "filter1_res_prm_3", "filter2_cut_prm_1", "filter2_res_prm_3",
             "envelope4_att_tme", "envelope4_dec_tme", "envelope1_att_tme", "envelope1_att_lev",
             "envelope1_dec_tme", "master_fx2_dry_wet"]
    for name, adapter in (("builtin-16", "builtin"), ("massive-16", "massive")):
        spec = load_spec(plugins.spec_path(name))
        assert spec.names == paper
        assert spec.adapter == adapter
        r = spec.render
        assert (r.note, r.velocity, r.duration, r.note_length, r.silence_threshold_db) == (
            60, 127, 4.0, 1.0, -60.0)


def test_normalise_and_denormalise_are_inverse_on_linear_and_log_scales(builtin_spec):
    rng = np.random.default_rng(0)
    for p in builtin_spec.parameters:
        u = rng.random(50)
        values = p.denormalise(u)
        assert np.all((values >= p.min) & (values <= p.max))
        np.testing.assert_allclose(p.normalise(values), u, atol=1e-9)
    cutoff = next(p for p in builtin_spec.parameters if p.name == "filter1_cut_prm_1")
    # log scale: the middle of the knob is the geometric mean of the range
    assert cutoff.denormalise(0.5) == pytest.approx(np.sqrt(40.0 * 18000.0))


def test_to_synth_and_from_synth_round_trip(builtin_spec):
    u = builtin_spec.sample(np.random.default_rng(1), 1)[0]
    patch = builtin_spec.to_synth(u)
    assert set(patch) == {p.synth_name for p in builtin_spec.parameters}
    np.testing.assert_allclose(builtin_spec.from_synth(patch), u, atol=1e-6)


def _one(spec_dict, distribution, n=20000):
    spec_dict["parameters"] = [dict(spec_dict["parameters"][0], distribution=distribution)]
    spec = spec_from_dict(spec_dict)
    return spec.sample(np.random.default_rng(0), n)[:, 0]


def test_distributions_sample_what_they_say(spec_dict):
    uniform = _one(spec_dict, "uniform")
    assert uniform.min() >= 0 and uniform.max() <= 1 and abs(uniform.mean() - 0.5) < 0.01
    beta = _one(spec_dict, {"type": "beta", "a": 2.0, "b": 6.0})
    assert abs(beta.mean() - 0.25) < 0.01
    trunc = _one(spec_dict, {"type": "truncnorm", "mean": 0.3, "std": 0.05})
    assert abs(trunc.mean() - 0.3) < 0.01 and abs(trunc.std() - 0.05) < 0.005
    values = _one(spec_dict, {"type": "empirical", "values": [0.1, 0.9]})
    assert set(np.round(values, 6)) == {np.float32(0.1).round(6), np.float32(0.9).round(6)}
    hist = _one(spec_dict, {"type": "empirical", "edges": [0.0, 0.5, 1.0], "weights": [3, 1]})
    assert abs((hist < 0.5).mean() - 0.75) < 0.01


def test_sampling_is_reproducible_from_the_seed(builtin_spec):
    a = builtin_spec.sample(np.random.default_rng(7), 10)
    b = builtin_spec.sample(np.random.default_rng(7), 10)
    assert a.dtype == np.float32 and a.shape == (10, 16)
    np.testing.assert_array_equal(a, b)


def _break(spec_dict, how):
    p = spec_dict["parameters"]
    if how == "missing field":
        del p[1]["min"]
    elif how == "min >= max":
        p[1]["min"] = 2.0
    elif how == "unknown distribution":
        p[1]["distribution"] = {"type": "gaussian", "mean": 0.5}
    elif how == "duplicate name":
        p[2]["name"] = p[1]["name"]
    elif how == "log scale with min 0":
        p[1]["scale"] = "log"
    elif how == "unknown field":
        p[1]["maxx"] = 3
    elif how == "bad render setting":
        spec_dict["render"]["note_length"] = 9.0
    return spec_dict


BAD = {
    "missing field": "parameters[1] (osc1_amp).min: missing; expected a number",
    "min >= max": "parameters[1] (osc1_amp).min: found min=2 and max=1, expected min < max",
    "unknown distribution": "parameters[1] (osc1_amp).distribution.type: found 'gaussian', "
                            "expected one of uniform, truncnorm, beta, empirical",
    "duplicate name": "parameters[2].name: found duplicate name 'osc1_amp'",
    "log scale with min 0": "parameters[1] (osc1_amp).min: found 0, expected a number > 0",
    "unknown field": "parameters[1] (osc1_amp).maxx: unknown field",
    "bad render setting": "render.note_length: found 9, expected seconds in (0, duration]",
}


@pytest.mark.parametrize("how", list(BAD))
def test_a_bad_spec_fails_with_one_line_naming_file_and_field(how, spec_dict, write_spec, invoke):
    path = write_spec(_break(spec_dict, how))
    result = invoke("spec", "show", path)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"Error: {path}: {BAD[how]}")
    assert "Traceback" not in result.output


def test_an_unknown_adapter_is_a_spec_error_when_rendering(spec_dict, write_spec, invoke, tmp_path):
    spec_dict["synth"]["adapter"] = "nosuchsynth"
    path = write_spec(spec_dict)
    result = invoke("render", "--spec", path, "--count", 5, "--out", tmp_path / "d")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {path}: synth.adapter: found 'nosuchsynth', expected an installed adapter "
        f"({', '.join(plugins.adapters().names())}); `soundmatch plugins` lists them")
    assert not (tmp_path / "d").exists()


def test_invalid_yaml_and_missing_files_are_one_line_errors(tmp_path, invoke):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: x\nparameters: [\n")
    result = invoke("spec", "show", bad)
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {bad}: not valid YAML")
    result = invoke("spec", "show", tmp_path / "nope.yaml")
    assert result.exit_code == 1 and "no such spec file" in result.stderr
    result = invoke("spec", "show", "nosuchname")
    assert result.exit_code == 1
    assert "'nosuchname' is neither a spec file nor a known spec or synth" in result.stderr


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(SoundmatchError, match="not valid YAML"):
        load_spec(evil)


def test_spec_show_prints_every_parameter(invoke):
    result = invoke("spec", "show", "builtin")
    assert result.exit_code == 0
    assert "builtin-16" in result.stdout
    for name in ("osc1_position", "filter1_cut_prm_1", "master_fx2_dry_wet"):
        assert name in result.stdout
    assert "40 .. 18000 Hz log" in result.stdout


def test_spec_fit_samples_like_the_presets(tmp_path, invoke):
    from .conftest import REPO

    out = tmp_path / "fitted.yaml"
    result = invoke("spec", "fit", "builtin-16", "--presets", REPO / "specs" / "presets" /
                    "builtin", "--out", out)
    assert result.exit_code == 0, result.output
    assert "Fitted 16 parameters to 17 presets" in result.stdout
    fitted = load_spec(out)
    pitch = fitted.parameters[fitted.names.index("osc2_pitch")]
    # the presets tune oscillator 2 to unison, fifths and octaves (+7 st normalises to 19/24)
    assert pitch.distribution.type == "empirical"
    assert any(abs(v - 19 / 24) < 1e-3 for v in pitch.distribution.args["values"])
    samples = fitted.sample(np.random.default_rng(0), 2000)[:, fitted.names.index("osc2_pitch")]
    values = np.array(pitch.distribution.args["values"])
    nearest = np.abs(samples[:, None] - values[None, :]).min(axis=1)
    assert np.mean(nearest < 0.05) > 0.6  # samples stay near what the presets do (KDE)
    shipped = load_spec(REPO / "specs" / "builtin-16-presets.yaml")
    assert [p.distribution for p in shipped.parameters] == [p.distribution
                                                            for p in fitted.parameters]


def test_a_folder_named_like_a_synth_does_not_shadow_it(tmp_path):
    (tmp_path / "builtin").mkdir()  # e.g. a download or checkout folder
    result = run_soundmatch("spec", "show", "builtin", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "builtin-16" in result.stdout


@pytest.mark.parametrize("name", ["builtin-16", "builtin-rich", "massive-16"])
def test_to_synth_is_each_parameters_denormalise_to_the_last_bit(name):
    """A whole patch is converted at once; a dataset's renders must not change because of it."""
    from soundmatch import plugins

    spec = load_spec(plugins.spec_path(name))
    rng = np.random.default_rng(0)
    patches = np.concatenate([rng.random((500, len(spec))), rng.normal(0.5, 1.0, (200, len(spec))),
                              rng.integers(0, 2, (50, len(spec))).astype(float)])
    for u in patches:
        assert spec.to_synth(u) == {p.synth_name: float(p.denormalise(x))
                                    for p, x in zip(spec.parameters, u, strict=True)}


@pytest.mark.parametrize("name", ["builtin-rich", "massive-16", "dexed-voice"])
def test_from_synth_is_each_parameters_normalise_to_the_last_bit(name):
    """Presets are converted a whole patch at once; a start must be what each parameter says."""
    from soundmatch import plugins

    spec = load_spec(plugins.spec_path(name))
    rng = np.random.default_rng(1)
    lo = np.array([p.min for p in spec.parameters])
    hi = np.array([p.max for p in spec.parameters])
    values = np.concatenate([lo + rng.random((300, len(spec))) * (hi - lo),
                             lo + rng.normal(0.5, 1.0, (100, len(spec))) * (hi - lo)])
    for row in values:
        patch = {p.synth_name: float(v) for p, v in zip(spec.parameters, row, strict=True)}
        expected = np.array([p.normalise(patch[p.synth_name]) for p in spec.parameters],
                            dtype=np.float32)
        assert spec.from_synth(patch).tobytes() == expected.tobytes()
    partial = spec.from_synth({})
    assert partial.tobytes() == spec.defaults().tobytes()
