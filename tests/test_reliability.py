"""Reliability: hostile or unlucky inputs give one line, and nothing is overwritten silently."""

from __future__ import annotations

import numpy as np

from soundmatch import plugins
from soundmatch.audio import write_wav

from .conftest import REPO, run_soundmatch


def test_a_yaml_alias_bomb_is_one_line_at_once(tmp_path, spec_dict, write_spec):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for k in range(1, 12):  # 10^12 elements once expanded
        levels.append(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]")
    path = write_spec(spec_dict)
    path.write_text("\n".join(levels) + "\ndescription: *a11\n" + path.read_text())
    result = run_soundmatch("spec", "show", path, timeout=60)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "aliases" in lines[0]


def test_inputs_with_the_same_name_keep_their_own_results(tiny_checkpoint, tmp_path):
    from .test_match import tone

    for folder, midi in (("a", 60), ("b", 67)):
        (tmp_path / folder).mkdir()
        write_wav(tmp_path / folder / "x.wav", (0.3 * tone(midi)).astype(np.float32), 44100)
    out = tmp_path / "out"
    result = run_soundmatch("match", tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav",
                            "--checkpoint", tiny_checkpoint, "--out", out)
    assert result.returncode == 0, result.stderr
    assert (out / "x.match.wav").exists() and (out / "x-2.match.wav").exists()
    first = (out / "x.params.yaml").read_text()
    second = (out / "x-2.params.yaml").read_text()
    assert "a/x.wav" in first and "b/x.wav" in second


def test_the_builtin_synth_writes_no_cache_into_its_package(builtin_spec):
    """numba's cache in the package folder once shadowed an editable install (issue 14)."""
    synth = plugins.create_adapter(builtin_spec)
    synth.render_patch(builtin_spec.to_synth(builtin_spec.defaults()))
    package = REPO / "adapters" / "builtin"
    assert not list(package.rglob("*.nbi")) and not list(package.rglob("*.nbc"))


def test_a_render_that_breaks_the_contract_is_one_line_naming_the_adapter(sine_env, tmp_path):
    result = run_soundmatch("render", "--synth", "sine-stereo", "--count", 8, "--workers", 1,
                            "--out", tmp_path / "d", "--no-check", env=sine_env)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "StereoSineSynth.render returned shape (2, 16000), expected mono (16000,)" in errors[0]
    assert result.stderr.strip().endswith(errors[0])
