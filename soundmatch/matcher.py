"""The public Python API of matching, which the ``match`` command uses too::

    from soundmatch import Matcher

    matcher = Matcher.load()                      # the shipped model, or Matcher.load("best.pt")
    result = matcher.match("voice.wav", refine=200)
    result.patch                                   # {parameter: value in the synth's units}
    result.audio, result.scores                    # the matched sound and how close it is
    matcher.save(result, "out/")                   # wav, parameters, preset, comparison PNG
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torchaudio.functional as AF
import yaml

from . import audio as audio_io
from . import plugins
from .checkpoint import Checkpoint, load_checkpoint
from .errors import SoundmatchError
from .features import log_mel
from .metrics import spectral_convergence, spectral_distance
from .pitch import detect_note
from .refine import refine as run_refine


def default_checkpoint() -> Path:
    """The small AST trained on the built-in synth that ships with soundmatch."""
    return Path(str(resources.files("soundmatch") / "pretrained" / "builtin-ast-tiny.pt"))


@dataclass
class Match:
    """One matched sound."""

    source: str
    note: int
    pitched: bool
    params: np.ndarray            # normalised, in the spec's order
    patch: dict[str, float]       # spec parameter name -> value in the synth's units
    audio: np.ndarray             # the synth playing the match
    target: np.ndarray            # the input as the model saw it (mono, trimmed, fitted)
    sample_rate: int
    scores: dict[str, float] = field(default_factory=dict)


class Matcher:
    def __init__(self, checkpoint: Checkpoint, synth: str | None = None):
        self.checkpoint = checkpoint
        self.spec = checkpoint.spec
        self.model = checkpoint.model
        adapter_name = synth or self.spec.adapter
        if adapter_name != self.spec.adapter:
            self.spec = _with_adapter(self.spec, adapter_name)
        self.adapter = plugins.create_adapter(self.spec)
        self._check_fit(adapter_name)

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, synth: str | None = None) -> Matcher:
        return cls(load_checkpoint(checkpoint or default_checkpoint()), synth)

    def _check_fit(self, adapter_name: str) -> None:
        has = self.adapter.parameter_names()
        missing = [p.synth_name for p in self.spec.parameters if p.synth_name not in has]
        if missing:
            raise SoundmatchError(
                f"{self.checkpoint.path}: its spec {self.spec.name} does not fit synth "
                f"'{adapter_name}': it has no parameter {', '.join(missing[:3])}"
                + (f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""))

    @property
    def sample_rate(self) -> int:
        return self.spec.render.sample_rate

    def predict(self, audio: np.ndarray) -> np.ndarray:
        """Normalised parameters for prepared mono audio at the spec's rate and length."""
        features = log_mel(audio, self.checkpoint.features).unsqueeze(0)
        with torch.no_grad():
            return self.model(features)[0].numpy()

    def render(self, params: np.ndarray, note: int) -> np.ndarray:
        return self.adapter.render_patch(self.spec.to_synth(params), note=note)

    def match(self, source: str | Path | np.ndarray, sample_rate: int | None = None,
              note: int | None = None, refine: int = 0, on_render=None) -> Match:
        """Match a file, or an array at ``sample_rate``; ``note`` overrides pitch detection;
        ``refine`` > 0 searches that many renders from the network's guess."""
        settings = self.spec.render
        if isinstance(source, (str, Path)):
            name = str(source)
            target = audio_io.load(source, self.sample_rate, settings.num_samples)
        else:
            if sample_rate is None:
                raise SoundmatchError("matching an array needs its sample_rate")
            name = "array"
            target = audio_io.prepare(source, sample_rate, self.sample_rate,
                                      settings.num_samples)
        detected = detect_note(target, self.sample_rate)
        play = note if note is not None else (detected if detected is not None else settings.note)
        params = self.predict(transpose(target, self.sample_rate, settings.note - play))
        scores: dict[str, float] = {}
        if refine > 0:
            refined = run_refine(lambda u: self.render(u, play), target, params, refine,
                                 on_render=on_render)
            params = refined.params
            scores["distance_before_refine"] = refined.start_distance
            scores["renders"] = refined.renders
        matched = self.render(params, play)
        scores["spectral_distance"] = spectral_distance(target, matched)
        scores["spectral_convergence"] = spectral_convergence(target, matched)
        patch = {p.name: float(p.denormalise(u)) for p, u in zip(self.spec.parameters, params,
                                                                   strict=True)}
        return Match(name, play, detected is not None, params, patch, matched, target,
                     self.sample_rate, scores)

    def save(self, match: Match, out: str | Path, stem: str | None = None) -> dict[str, Path]:
        """Write the matched audio, parameters (YAML, synth units), a preset the synth opens and
        a PNG comparing the spectrograms; returns the paths."""
        from .plots import plot_comparison

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        stem = stem or Path(match.source).stem
        paths = {"audio": audio_io.write_wav(out / f"{stem}.match.wav", match.audio,
                                             match.sample_rate)}
        units = {p.name: p.unit for p in self.spec.parameters}
        record = {
            "source": match.source, "synth": self.spec.adapter, "spec": self.spec.name,
            "checkpoint": str(self.checkpoint.path), "note": match.note,
            "pitch_detected": match.pitched,
            "scores": {k: round(float(v), 5) for k, v in match.scores.items()},
            "parameters": {k: {"value": round(v, 6), "unit": units[k]} if units[k]
                           else round(v, 6) for k, v in match.patch.items()},
        }
        paths["parameters"] = out / f"{stem}.params.yaml"
        paths["parameters"].write_text(yaml.safe_dump(record, sort_keys=False))
        self.adapter.set_patch(self.spec.to_synth(match.params))
        paths["preset"] = self.adapter.save_preset(
            out / f"{stem}.preset{self.adapter.preset_suffix}")
        paths["plot"] = plot_comparison(
            log_mel(match.target, self.checkpoint.features).numpy(),
            log_mel(match.audio, self.checkpoint.features).numpy(), out / f"{stem}.compare.png",
            title=f"{Path(match.source).name}: note {match.note}, spectral distance "
                  f"{match.scores['spectral_distance']:.3f}")
        return paths


def transpose(audio: np.ndarray, rate: int, semitones: int) -> np.ndarray:
    """Shift the pitch by resampling, so that the model hears the input at the note it was
    trained on. Timing scales by the same factor (2x for an octave); a phase vocoder keeps the
    timing but took ~8 s per 4 s input here, against milliseconds for this."""
    if semitones == 0 or abs(semitones) > 24:
        return audio
    factor = 2.0 ** (semitones / 12.0)
    # Playing back at rate*factor raises the pitch by `semitones`: resample rate*factor -> rate.
    # Rounded to 50 Hz so the rates share a large divisor: an arbitrary ratio makes torchaudio's
    # polyphase kernel huge (seconds per call); the pitch error stays under 0.002 semitones.
    new_rate = 50 * round(rate / factor / 50)
    shifted = AF.resample(torch.from_numpy(np.ascontiguousarray(audio)), rate, new_rate).numpy()
    return audio_io.fit_length(shifted, len(audio))


def _with_adapter(spec, adapter: str):
    from dataclasses import replace

    if adapter not in plugins.adapters():
        known = ", ".join(plugins.adapters().names())
        raise SoundmatchError(
            f"--synth: found '{adapter}', expected an installed adapter ({known})")
    return replace(spec, adapter=adapter)
