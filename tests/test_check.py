"""`soundmatch spec check` and the check before `render`: values that the host drops on render,
and parameters with no audible effect, are caught and named."""

from __future__ import annotations

import json

from soundmatch.check import RESET, SILENT, check_spec

from .conftest import run_soundmatch


def test_every_builtin_parameter_passes(invoke):
    result = invoke("spec", "check", "--synth", "builtin")
    assert result.exit_code == 0, result.output
    assert "All 16 parameters hold their values and change the sound." in result.stdout


def test_the_check_measures_each_parameter(builtin_spec, synth):
    results = {r.name: r for r in check_spec(builtin_spec, synth)}
    assert all(r.passed and r.holds for r in results.values())
    assert results["filter1_cut_prm_1"].distance > 1.0  # opening the lowpass changes everything


def test_a_value_reset_by_the_host_fails_the_check(sine_env):
    result = run_soundmatch("spec", "check", "--synth", "sine-reset", env=sine_env)
    assert result.returncode == 1
    assert "gain" in result.stdout and RESET in result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "spec check failed for 1 of 2 parameters" in last
    assert f"gain ({RESET})" in last and "Traceback" not in result.stderr


def test_a_parameter_without_effect_fails_the_check(sine_env):
    result = run_soundmatch("spec", "check", "--synth", "sine-deaf", env=sine_env)
    assert result.returncode == 1
    assert f"tone ({SILENT})" in result.stderr.strip().splitlines()[-1]


def test_render_refuses_to_start_on_a_failing_spec(sine_env, tmp_path):
    for synth, verdict in (("sine-reset", RESET), ("sine-deaf", SILENT)):
        out = tmp_path / synth
        result = run_soundmatch("render", "--synth", synth, "--count", 10, "--workers", 1,
                                "--out", out, env=sine_env)
        assert result.returncode == 1
        assert verdict in result.stderr and "render --no-check skips this check" in result.stderr
        assert not out.exists()


def test_no_check_renders_anyway_and_says_so_in_the_manifest(sine_env, tmp_path):
    out = tmp_path / "unchecked"
    result = run_soundmatch("render", "--synth", "sine-deaf", "--count", 10, "--workers", 1,
                            "--out", out, "--no-check", env=sine_env)
    assert result.returncode == 0, result.stderr
    assert "Skipping the parameter check" in result.stderr
    assert json.loads((out / "manifest.json").read_text())["check"] == "skipped"
    checked = tmp_path / "checked"
    assert run_soundmatch("render", "--synth", "sine", "--count", 10, "--workers", 1,
                          "--out", checked, env=sine_env).returncode == 0
    assert json.loads((checked / "manifest.json").read_text())["check"] == "passed"
