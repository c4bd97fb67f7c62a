"""The plugin contract, checked with the helpers plugin authors use (soundmatch.testing): over every
registered adapter and backbone, the example package, and the test fixtures, including the ones
built to break it (each must be caught)."""

from __future__ import annotations

import importlib.util
import sys

import pytest
import torch

from soundmatch import plugins
from soundmatch.adapter import SynthAdapter
from soundmatch.spec import load_spec
from soundmatch.testing import check_adapter, check_backbone

from .conftest import FIXTURES, REPO, run_soundmatch

# Adapters whose synth cannot run on this machine, and why.
UNAVAILABLE = {"massive": "NI Massive runs on Windows and macOS only"}


def import_path(name: str, folder):
    """A plugin module imported from its folder, without installing it (the example's 'sine'
    would clash with the fixture's 'sine' in one environment)."""
    spec = importlib.util.spec_from_file_location(name, folder / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def registered_specs_by_adapter() -> dict[str, list[str]]:
    by_adapter: dict[str, list[str]] = {name: [] for name in plugins.adapters().names()}
    for entry in plugins.specs():
        by_adapter.setdefault(load_spec(entry.obj).adapter, []).append(entry.name)
    return by_adapter


@pytest.mark.parametrize("adapter", plugins.adapters().names())
def test_every_registered_adapter_keeps_the_contract(adapter, request, tmp_path):
    if adapter in UNAVAILABLE:
        pytest.skip(UNAVAILABLE[adapter])
    specs = registered_specs_by_adapter()[adapter]
    if adapter == "vst3":  # no spec ships with it: it drives the instrument the tests build
        specs = [request.getfixturevalue("vst3_spec")()]
    assert specs, f"adapter {adapter}: no registered spec to test it with"
    for spec in specs:
        check_adapter(adapter, spec, tmp_path)


@pytest.mark.parametrize("backbone", plugins.backbones().names())
def test_every_registered_backbone_keeps_the_contract(backbone):
    check_backbone(backbone)


def test_the_example_adapter_package_keeps_the_contract(tmp_path):
    folder = REPO / "examples" / "soundmatch-sine" / "soundmatch_sine"
    module = import_path("soundmatch_sine", folder)
    check_adapter(module.SineSynth, folder / "sine-3.yaml", tmp_path)


@pytest.fixture(scope="module")
def fixtures_module():
    return import_path("sine_soundmatch", FIXTURES / "sine_soundmatch")


@pytest.mark.parametrize("name", ["SineSynth", "DeafSineSynth"])
def test_the_well_behaved_fixtures_keep_the_contract(fixtures_module, name, tmp_path):
    cls = getattr(fixtures_module, name)
    check_adapter(cls, FIXTURES / "sine_soundmatch" / f"{cls.default_spec}.yaml", tmp_path)


@pytest.mark.parametrize(("name", "verdict"), [
    ("StereoSineSynth", "StereoSineSynth.render returned shape (2, 16000), expected mono"),
    ("ShortSineSynth", "ShortSineSynth.render returned shape (15999,), expected mono (16000,)"),
    ("NanSineSynth", "NanSineSynth.render returned NaN or infinite samples"),
    ("ResettingSineSynth", "gain was set to"),
    ("LeakySineSynth", "a tail leaks into the next render"),
    ("TrustingSineSynth", "opened private-file-named-by-a-checkpoint, which synth.options"),
    ("FadingSineSynth", "from the whole render's start (renders_prefix)"),
])
def test_the_checks_catch_each_broken_fixture(fixtures_module, name, verdict, tmp_path):
    cls = getattr(fixtures_module, name)
    with pytest.raises(AssertionError, match=verdict.replace("(", r"\(").replace(")", r"\)")):
        check_adapter(cls, FIXTURES / "sine_soundmatch" / f"{cls.default_spec}.yaml", tmp_path)


class Constant(torch.nn.Module):
    """Outputs 0.5 whatever it is given."""

    def __init__(self, input_shape, num_params):
        super().__init__()
        self.num_params = num_params

    def forward(self, x):
        return torch.full((x.shape[0], self.num_params), 0.5)


class HalfWired(torch.nn.Module):
    """A linear head, and a layer whose output is never used."""

    def __init__(self, input_shape, num_params):
        super().__init__()
        self.head = torch.nn.Linear(input_shape[0] * input_shape[1], num_params)
        self.unused = torch.nn.Linear(4, 4)

    def forward(self, x):
        return torch.sigmoid(self.head(x.flatten(1)))


@pytest.mark.parametrize(("builder", "verdict"), [
    (Constant, "its output depends on no trainable weight"),
    (HalfWired, "backbone.unused.weight gets no finite gradient"),
])
def test_a_backbone_that_does_not_train_is_caught(builder, verdict):
    from soundmatch import hookimpl

    class Plugin:
        @staticmethod
        @hookimpl
        def register_backbones(register):
            register("broken", builder)

    plugins.register_plugin(Plugin, "broken-backbone")
    try:
        with pytest.raises(AssertionError, match=verdict):
            check_backbone("broken")
    finally:
        plugins.unregister_plugin("broken-backbone")


@pytest.mark.parametrize(("synth", "verdict"), [
    ("sine-stereo", "StereoSineSynth.render returned shape (2, 16000), expected mono (16000,)"),
    ("sine-short", "ShortSineSynth.render returned shape (15999,), expected mono (16000,)"),
    ("sine-nan", "NanSineSynth.render returned NaN or infinite samples"),
])
def test_a_render_that_breaks_the_contract_is_one_line_naming_the_adapter(synth, verdict,
                                                                         sine_env, tmp_path):
    result = run_soundmatch("render", "--synth", synth, "--count", 8, "--workers", 1,
                            "--out", tmp_path / "d", "--no-check", env=sine_env)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert verdict in errors[0]
    assert result.stderr.strip().endswith(errors[0])


def test_adapters_get_the_specs_note_and_velocity_from_the_base_class(builtin_spec):
    seen = []

    class Recorder(SynthAdapter):
        def set_patch(self, patch):
            pass

        def get_patch(self):
            return {}

        def render(self, note, velocity):
            import numpy as np

            seen.append((note, velocity))
            return np.zeros(self.spec.render.num_samples, np.float32)

        def save_preset(self, path):
            return path

    synth = Recorder(builtin_spec)
    synth.render_patch({})
    synth.render_patch({}, note=61.4, velocity=90)
    assert seen == [(builtin_spec.render.note, builtin_spec.render.velocity), (61, 90)]
