"""The public Python API of matching, which the ``match`` command uses too::

    from soundmatch import Matcher

    matcher = Matcher.load()                      # the shipped model, or Matcher.load("best.pt")
    result = matcher.match("voice.wav", refine="6s")   # or a number of renders
    result.patch                                   # {parameter: value in the synth's units}
    result.audio, result.scores                    # the matched sound and how close it is
    matcher.save(result, "out/")                   # wav, parameters, preset, comparison PNG
"""

from __future__ import annotations

import os
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
from .fileio import FileSet
from .metrics import spectral_convergence, spectral_distance
from .pitch import detect_pitch
from .search import Budget, Candidate, MatchDistance, Renderer, search

# The models that ship with soundmatch, by name (``--checkpoint NAME``); the first is the default.
PRETRAINED = {
    "builtin-rich": "builtin-rich-ast-tiny.pt",   # real sounds (examples/make_default_model.sh)
    "builtin-16": "builtin-ast-tiny.pt",          # the paper's patch (docs/results.md)
}


def pretrained_checkpoint(name: str) -> Path:
    return Path(str(resources.files("soundmatch") / "pretrained" / PRETRAINED[name]))


def default_checkpoint() -> Path:
    """The small AST that ships with soundmatch for matching real sounds."""
    return pretrained_checkpoint(next(iter(PRETRAINED)))


def resolve_checkpoint(name_or_path: str | Path | None) -> Path:
    """A shipped model's name, or a checkpoint file; None: the default model."""
    if name_or_path is None:
        return default_checkpoint()
    if str(name_or_path) in PRETRAINED and not Path(name_or_path).exists():
        return pretrained_checkpoint(str(name_or_path))
    return Path(name_or_path)


DEFAULT_REFINE = "6s"  # what `match --refine` searches with no value, see README
JITTER_STARTS = 4      # starts beside the network's guess(es), see _starts


@dataclass
class Match:
    """One matched sound: the patch (normalised and in synth units), the note and gain it plays
    at, its scores and its audio; ``Matcher.save`` writes it out."""

    source: str
    note: float                   # the MIDI note the match plays (fractional: to the cent)
    pitched: bool
    params: np.ndarray            # normalised, in the spec's order
    patch: dict[str, float]       # spec parameter name -> value in the synth's units
    audio: np.ndarray             # the synth playing the match, at ``gain``
    target: np.ndarray            # the input as the model saw it (mono, trimmed, fitted)
    sample_rate: int
    gain: float = 1.0             # the level the patch needs to sound like the input
    onset: int = 0                # where the input's sound began (samples): the match too
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def gain_db(self) -> float:
        return float(20 * np.log10(max(self.gain, 1e-12)))


class Matcher:
    """Matches sounds with a checkpoint: the network's guess at the input's pitch, then (with a
    refine budget) a search over the synth's parameters (``soundmatch.search``)."""

    def __init__(self, checkpoint: Checkpoint, synth: str | None = None,
                 workers: int | None = None, level: str = "least-squares",
                 objective: str = "sc+logmel"):
        self.checkpoint = checkpoint
        self.spec = checkpoint.spec
        self.model = checkpoint.model
        adapter_name = synth or self.spec.adapter
        if adapter_name != self.spec.adapter:
            self.spec = _with_adapter(self.spec, adapter_name)
        self.adapter = plugins.create_adapter(self.spec)
        self._check_fit(adapter_name)
        # Several render threads only for adapters that allow them (the built-in synth).
        wanted = max(1, workers or os.cpu_count() or 1)
        self.workers = wanted if type(self.adapter).thread_safe else 1
        self._renderer: Renderer | None = None
        self.level, self.objective = level, objective

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, synth: str | None = None,
             workers: int | None = None, level: str = "least-squares",
             objective: str = "sc+logmel") -> Matcher:
        return cls(load_checkpoint(resolve_checkpoint(checkpoint)), synth, workers, level,
                   objective)

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

    @property
    def note_range(self) -> tuple[int, int] | None:
        return self.model.note_range

    def predict(self, audio: np.ndarray, note: float | None = None,
                dropout: bool = False) -> np.ndarray:
        """Normalised parameters for prepared mono audio at the spec's rate and length, played at
        ``note``. A model trained across notes is told the note; an older single-note model hears
        the input transposed to its note instead. ``dropout``: one sample with dropout on."""
        if note is None:
            note = float(self.spec.render.note)
        if self.note_range is None:
            audio = transpose(audio, self.sample_rate, self.spec.render.note - round(note))
            hint = None
        else:
            hint = torch.tensor([float(np.clip(note, *self.note_range))])
        features = log_mel(audio, self.checkpoint.features).unsqueeze(0)
        dropouts = [m for m in self.model.modules() if isinstance(m, torch.nn.Dropout)]
        for m in dropouts:  # only dropout: batch norm keeps its running statistics
            m.train(dropout)
        try:
            with torch.no_grad():
                return self.model(features, hint)[0].numpy()
        finally:
            for m in dropouts:
                m.eval()

    def render(self, params: np.ndarray, note: float) -> np.ndarray:
        return self.adapter.render_patch(self.spec.to_synth(params), note=note)

    def _search_renderer(self) -> Renderer:
        """One adapter instance per worker thread (the first is ``self.adapter``)."""
        if self._renderer is None:
            adapters = [self.adapter] + [plugins.create_adapter(self.spec)
                                         for _ in range(self.workers - 1)]
            self._renderer = Renderer([
                lambda u, note, a=a: a.render_patch(self.spec.to_synth(u), note=note)
                for a in adapters])
        return self._renderer

    def _starts(self, target: np.ndarray, pitch: float | None, play: float,
                seed: int, extra: int = JITTER_STARTS) -> list[Candidate]:
        """The network's guess at the detected note first; then, for a pitched sound, its guess
        an octave either side (pitch trackers and sub-octave stops disagree by octaves); then
        the guess with dropout on (where the model has dropout) or jittered."""
        guess = self.predict(target, play)
        starts = [Candidate(guess, play)]
        if pitch is not None:
            for octave in (-12.0, 12.0):
                other = play + octave
                if 0 <= other <= 127:
                    starts.append(Candidate(self.predict(target, other), other))
        rng = np.random.default_rng(seed)
        has_dropout = any(isinstance(m, torch.nn.Dropout) and m.p > 0
                          for m in self.model.modules())
        for _ in range(extra):
            u = (self.predict(target, play, dropout=True) if has_dropout
                 else guess + rng.normal(0.0, 0.1, len(guess)))
            starts.append(Candidate(np.clip(u, 0.0, 1.0), play))
        return starts

    def match(self, source: str | Path | np.ndarray, sample_rate: int | None = None,
              note: float | None = None, refine: int | str = 0, seed: int = 0,
              starts: int = JITTER_STARTS, on_render=None) -> Match:
        """Match a file, or an array at ``sample_rate``. ``note`` overrides pitch detection;
        ``refine`` searches that many renders (``200``) or seconds (``"8s"``) from the best of
        several starts (``starts`` of them beside the network's guesses); 0 keeps the network's
        guess (still played at the input's level)."""
        settings = self.spec.render
        if isinstance(source, (str, Path)):
            name = str(source)
            target, onset = audio_io.load_with_onset(source, self.sample_rate,
                                                     settings.num_samples)
        else:
            if sample_rate is None:
                raise SoundmatchError("matching an array needs its sample_rate")
            name = "array"
            target, onset = audio_io.prepare_with_onset(source, sample_rate, self.sample_rate,
                                                        settings.num_samples)
        detected = detect_pitch(target, self.sample_rate)
        play = note if note is not None else (detected if detected is not None
                                              else float(settings.note))
        if not self.adapter.fractional_notes:
            play = float(round(play))
        budget = Budget(refine)
        distance = MatchDistance(target, self.sample_rate, self.level, self.objective)
        renderer = self._search_renderer()
        scores: dict[str, float] = {}
        if budget:
            candidates = self._starts(target, detected if note is None else None, play, seed,
                                      starts)
            if budget.renders is not None:  # a budget smaller than the starts keeps the first
                candidates = candidates[:budget.renders]
            found = search(renderer, distance, candidates, budget, seed=seed,
                           on_render=on_render)
            best = found.best
            scores["distance_network"] = found.network.distance
            scores["distance_best_start"] = found.start.distance
            scores["renders"] = found.renders
        else:
            best = Candidate(self.predict(target, play), play)
            renderer(distance, [best])
        matched = (best.gain * self.render(best.params, best.note)).astype(np.float32)
        scores["distance"] = best.distance
        scores["spectral_distance"] = spectral_distance(target, matched)
        scores["spectral_convergence"] = spectral_convergence(target, matched)
        patch = {p.name: float(p.denormalise(u)) for p, u in zip(self.spec.parameters,
                                                                   best.params, strict=True)}
        return Match(name, float(best.note), detected is not None, np.asarray(best.params),
                     patch, matched, target, self.sample_rate, best.gain, onset, scores)

    def save(self, match: Match, out: str | Path, stem: str | None = None) -> dict[str, Path]:
        """Write the matched audio, parameters (YAML, synth units), a preset the synth opens and
        a PNG comparing the spectrograms; returns the paths."""
        from .plots import plot_comparison

        out = Path(out)
        stem = stem or Path(match.source).stem
        names = {"audio": f"{stem}.match.wav", "parameters": f"{stem}.params.yaml",
                 "preset": f"{stem}.preset{self.adapter.preset_suffix}",
                 "plot": f"{stem}.compare.png"}
        units = {p.name: p.unit for p in self.spec.parameters}
        record = {
            "source": match.source, "synth": self.spec.adapter, "spec": self.spec.name,
            "checkpoint": str(self.checkpoint.path), "note": round(match.note, 2),
            "pitch_detected": match.pitched,
            # The patch plays at the synth's own level; this gain makes it sound as loud as the
            # input (the .match.wav has it applied).
            "gain_db": round(match.gain_db, 2),
            "scores": {k: round(float(v), 5) for k, v in match.scores.items()},
            "parameters": {p.name: _shown(p, match.patch[p.name], units[p.name])
                           for p in self.spec.parameters},
        }
        # One set: another run writing the same stem, or a kill, never leaves a mix of two.
        with FileSet(out, stem) as files:
            # In time with the input: the silence the input began with, then the match.
            audio_io.write_wav(files.path(names["audio"]), np.concatenate(
                [np.zeros(match.onset, np.float32), match.audio]), match.sample_rate)
            files.path(names["parameters"]).write_text(yaml.safe_dump(record, sort_keys=False))
            self.adapter.set_patch(self.spec.to_synth(match.params))
            self.adapter.save_preset(files.path(names["preset"]))
            plot_comparison(
                log_mel(match.target, self.checkpoint.features).numpy(),
                log_mel(match.audio, self.checkpoint.features).numpy(),
                files.path(names["plot"]),
                title=f"{Path(match.source).name}: note {match.note:.2f}, spectral distance "
                      f"{match.scores['spectral_distance']:.3f}")
        return {kind: out / name for kind, name in names.items()}


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


def _shown(p, value: float, unit: str):
    """A parameter's value for the .params.yaml: a choice with its name, a step as a whole
    number, a continuous value rounded (with its unit, if it has one)."""
    if p.type == "choice":
        return {"value": round(float(value)), "choice": p.label(value)}
    shown = round(float(value)) if p.type == "steps" and p.step == 1 else round(value, 6)
    return {"value": shown, "unit": unit} if unit else shown
