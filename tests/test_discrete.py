"""Discrete parameters in specs: whole-number steps and named choices, for any synth. Parsed with
clear errors, sampled and rounded to values the synth plays, shown by `spec show`, and learned
with the right head (regression for steps, classification for choices)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import yaml

from soundmatch.distributions import Categorical
from soundmatch.errors import SoundmatchError
from soundmatch.models import OutputLayout
from soundmatch.spec import spec_from_dict

SPEC = {
    "name": "discrete",
    "synth": {"adapter": "builtin"},
    "parameters": [
        {"name": "cutoff", "min": 100.0, "max": 10000.0, "scale": "log", "default": 1000.0},
        {"name": "coarse", "type": "steps", "min": 0, "max": 31, "default": 1},
        {"name": "detune", "type": "steps", "min": -7, "max": 7, "step": 0.5, "default": 0},
        {"name": "wave", "type": "choice", "choices": ["sine", "saw", "square"], "default": 1,
         "distribution": {"type": "categorical", "weights": [0.2, 0.0, 0.8]}},
    ],
}


@pytest.fixture()
def spec():
    return spec_from_dict(SPEC, source="discrete.yaml")


def test_steps_and_choices_denormalise_to_values_the_synth_plays(spec):
    coarse, detune, wave = spec.parameters[1:]
    assert coarse.denormalise(np.array([0.0, 0.49, 1.0])).tolist() == [0, 15, 31]
    assert detune.denormalise(np.array([0.0, 0.51, 1.0])).tolist() == [-7, 0.0, 7]
    # choice k of K covers [k/K, (k+1)/K) and is stored at the bin's centre
    assert wave.denormalise(np.array([0.0, 0.33, 0.34, 0.99, 1.0])).tolist() == [0, 0, 1, 2, 2]
    assert wave.normalise(np.array([0, 1, 2])).tolist() == pytest.approx([1 / 6, 1 / 2, 5 / 6])
    assert wave.label(2) == "square" and coarse.label(15.0) == "15"


def test_sampled_patches_hold_exactly_the_values_rendered(spec):
    u = spec.sample(np.random.default_rng(0), 2000)
    for j, p in enumerate(spec.parameters[1:], start=1):
        np.testing.assert_allclose(p.normalise(p.denormalise(u[:, j])), u[:, j], atol=1e-6)
    waves = spec.parameters[3].denormalise(u[:, 3])
    assert not np.any(waves == 1)  # weight 0
    assert 0.75 < np.mean(waves == 2) < 0.85
    assert len(set(spec.to_synth(u[0]).values())) >= 1
    assert all(float(v).is_integer() for v in spec.parameters[1].denormalise(u[:, 1]))


def test_a_spec_with_discrete_parameters_round_trips_through_yaml(spec):
    again = spec_from_dict(yaml.safe_load(yaml.safe_dump(spec.to_dict())), source=spec.source)
    assert again == spec
    assert again.fingerprint() == spec.fingerprint()


@pytest.mark.parametrize(("edit", "message"), [
    ({"type": "knob"}, "parameters[1] (coarse).type: found 'knob', expected one of continuous, "
                       "steps, choice"),
    ({"type": "steps", "step": 0}, "parameters[1] (coarse).step: found 0, expected a number in "
                                   "(0, max - min]"),
    ({"type": "choice", "choices": ["a", "b"]}, "parameters[1] (coarse).min: not used by a "
                                                "choice parameter"),
    ({"choices": ["a", "b"]}, "parameters[1] (coarse).choices: only for type: choice"),
    ({"type": "continuous", "step": 2}, "parameters[1] (coarse).step: only for type: steps"),
])
def test_bad_discrete_fields_are_one_line_naming_the_field(edit, message):
    data = yaml.safe_load(yaml.safe_dump(SPEC))
    data["parameters"][1].update(edit)
    with pytest.raises(SoundmatchError, match=re.escape(message)):
        spec_from_dict(data, source="discrete.yaml")


def test_categorical_weights_must_match_the_choices():
    data = yaml.safe_load(yaml.safe_dump(SPEC))
    data["parameters"][3]["distribution"]["weights"] = [1, 1]
    with pytest.raises(Exception, match=r"parameters\[3\] \(wave\)\.distribution: found 2 "
                                        r"weights, expected 3 \(one per choice\)"):
        spec_from_dict(data, source="discrete.yaml")


def test_categorical_fit_counts_each_choice_with_a_pseudo_count():
    fitted = Categorical.fit(np.array([0, 0, 2, 2, 2, 2]), 3)
    assert fitted.args["weights"] == pytest.approx([3 / 9, 1 / 9, 5 / 9], abs=1e-4)


def test_spec_show_lists_steps_and_choices(spec, write_spec, invoke):
    path = write_spec(spec.to_dict())
    result = invoke("spec", "show", path)
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "choice of 3: sine, saw, square" in out and "categorical(3)" in out
    assert "0 .. 31, whole numbers" in out and "-7 .. 7, in steps of 0.5" in out


def test_the_output_layout_regresses_steps_and_classifies_choices(spec):
    layout = OutputLayout.for_spec(spec)
    assert layout.sizes == (0, 0, 0, 3) and layout.num_outputs == 6
    # a backbone's sigmoid outputs: the last three are the choice's class scores
    outputs = torch.tensor([[0.5, 0.2, 0.9, 0.1, 0.3, 0.8]])
    decoded = layout.decode(outputs)
    assert decoded[0, :3].tolist() == pytest.approx([0.5, 0.2, 0.9])
    assert decoded[0, 3].item() == pytest.approx(5 / 6)  # choice 2's bin centre
    target = torch.tensor([[0.4, 0.2, 0.9, 5 / 6]])
    terms = layout.loss_terms(outputs, target)
    assert terms[0, :3].tolist() == pytest.approx([0.01, 0.0, 0.0], abs=1e-6)
    logits = torch.log(outputs[0, 3:] / (1 - outputs[0, 3:]))
    expected = torch.nn.functional.cross_entropy(logits[None], torch.tensor([2]))
    assert terms[0, 3].item() == pytest.approx(expected.item(), rel=1e-5)


def test_without_choices_the_loss_is_plain_mse():
    layout = OutputLayout((0, 0, 0))
    a, b = torch.rand(8, 3), torch.rand(8, 3)
    assert layout.loss(a, b).item() == pytest.approx(torch.nn.functional.mse_loss(a, b).item())
    assert torch.equal(layout.decode(a), a)
