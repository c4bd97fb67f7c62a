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
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from . import audio as audio_io
from . import plugins, record
from .checkpoint import Checkpoint, load_checkpoint
from .errors import SoundmatchError
from .features import FeatureConfig, log_mel
from .fileio import FileSet
from .memory import PatchMemory, load_memory
from .metrics import MatchDistance, spectral_convergence, spectral_distance
from .models import dropout_on_last
from .pitch import detect_pitch
from .presets import Preset
from .record import Match
from .scoring import AdapterRenders, ProcessScorer, ThreadScorer
from .search import Budget, Candidate, Space, search
from .shipped import pretrained_checkpoint, resolve_checkpoint, shipped_for
from .spec import Spec

# The highest peak a match is written at (-0.1 dBFS): 24-bit PCM clips at full scale.
PEAK_LIMIT = 10 ** (-0.1 / 20)
DEFAULT_REFINE = "6s"  # what `match --refine` searches with no value, see README
JITTER_STARTS = 4      # starts beside the network's guess(es), see _starts
TAIL_SECONDS = 0.25    # of the silence after the input that candidates are scored on
# An input this many cents or more from a whole note is matched, on a synth of whole notes, from
# starts tuned to it (SynthAdapter.tuned): 45 cents off, SC cannot tell the upper harmonics apart.
MIN_CENTS = 10.0
# How much closer (as a fraction of the distance) the network's guess an octave from the detected
# pitch must be to be taken. On benchmarks/real-sounds, with no margin 14 of 62 pitched sounds
# took an octave start and all 14 were wrong; from 0.2 none was taken (benchmarks/octaves.py).
OCTAVE_MARGIN = 0.2


class Matcher:
    """Matches sounds on a synth: from the network's guess at the input's pitch (with a
    checkpoint), the spec's defaults and the closest of the user's presets, then (with a refine
    budget) a search over the synth's parameters (``soundmatch.search``).

    ``Matcher.load(checkpoint)`` matches with a model; ``Matcher.for_synth(name)`` with none, or
    with a shipped model where one was trained on that synth's search spec."""

    def __init__(self, checkpoint: Checkpoint | None = None, synth: str | None = None,
                 workers: int | None = None, level: str = "least-squares",
                 objective: str = "sc+logmel", spec: Spec | None = None,
                 presets: list[Preset] | None = None, memory: PatchMemory | None = None):
        if checkpoint is None and spec is None:
            raise ValueError("Matcher needs a checkpoint or a spec")
        self.checkpoint = checkpoint
        # Real sounds and the patches the search found for them: the checkpoint's, else one
        # given (a model-free matcher's, from its adapter's ``default_memory``).
        self.memory = memory if memory is not None else (
            checkpoint.memory if checkpoint is not None else None)
        self.spec = checkpoint.spec if checkpoint is not None else spec
        self.model = checkpoint.model if checkpoint is not None else None
        self.features = (checkpoint.features if checkpoint is not None
                         else FeatureConfig(sample_rate=self.spec.render.sample_rate))
        adapter_name = synth or self.spec.adapter
        if adapter_name != self.spec.adapter:
            self.spec = _with_adapter(self.spec, adapter_name)
        self.adapter = plugins.create_adapter(self.spec)
        self._check_fit(adapter_name)
        # The synth's patch before any match: what a start without a preset is set on.
        self.base = self.adapter.get_patch()
        self.presets = presets or []
        # Render threads for adapters that allow them (the built-in synth, Dexed), processes
        # for the others (VST3 plugins render on their process's main thread).
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._scorer: ThreadScorer | None = None
        self._renders = AdapterRenders(self.adapter, self.spec, self.base)
        self.level, self.objective = level, objective

    @classmethod
    def load(cls, checkpoint: str | Path | None = None, synth: str | None = None,
             workers: int | None = None, level: str = "least-squares",
             objective: str = "sc+logmel", presets: list[Preset] | None = None) -> Matcher:
        return cls(load_checkpoint(resolve_checkpoint(checkpoint)), synth, workers, level,
                   objective, presets=presets)

    @classmethod
    def for_synth(cls, synth: str | None = None, spec: str | Path | None = None,
                  workers: int | None = None, level: str = "least-squares",
                  objective: str = "sc+logmel", presets: list[Preset] | None = None,
                  use_shipped: bool = True) -> Matcher:
        """A matcher that needs no model: ``spec`` (a registered name or a file), else the
        adapter's ``search_spec``. A shipped model trained on that spec joins the starts."""
        if spec is None:
            if synth is None:
                raise ValueError("for_synth needs a synth or a spec")
            adapter = plugins.adapters().get(synth)
            spec = adapter.search_spec or adapter.default_spec
            if spec is None:
                raise SoundmatchError(f"--synth {synth}: the adapter names no spec to search; "
                                      "pass --spec PATH")
        resolved = plugins.resolve_spec(spec=str(spec))
        name = shipped_for(resolved.name) if use_shipped else None
        if name is not None:
            shipped = load_checkpoint(pretrained_checkpoint(name))
            if shipped.spec.to_dict() == resolved.to_dict():
                return cls(shipped, synth, workers, level, objective, presets=presets)
        matcher = cls(None, synth, workers, level, objective, spec=resolved, presets=presets)
        remembered = matcher.adapter.default_memory()
        if remembered is not None:
            matcher.memory = load_memory(remembered, matcher.spec, matcher.features)
        return matcher

    def _check_fit(self, adapter_name: str) -> None:
        has = self.adapter.parameter_names()
        missing = [p.synth_name for p in self.spec.parameters if p.synth_name not in has]
        if missing:
            where = self.checkpoint.path if self.checkpoint is not None else self.spec.source
            raise SoundmatchError(
                f"{where}: its spec {self.spec.name} does not fit synth "
                f"'{adapter_name}': it has no parameter {', '.join(missing[:3])}"
                + (f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""))

    @property
    def sample_rate(self) -> int:
        return self.spec.render.sample_rate

    @property
    def note_range(self) -> tuple[int, int] | None:
        return self.model.note_range if self.model is not None else None

    def predict(self, audio: np.ndarray, note: float | None = None,
                dropout: bool = False) -> np.ndarray:
        """Normalised parameters for prepared mono audio at the spec's rate and length, played at
        ``note``. A model trained across notes is told the note; an older single-note model hears
        the input transposed to its note instead. ``dropout``: one sample with dropout on."""
        if note is None:
            note = float(self.spec.render.note)
        return self._predict(audio, [note], int(dropout))[0]

    def _predict(self, audio: np.ndarray, notes: list[float], varied: int = 0,
                 features: torch.Tensor | None = None) -> np.ndarray:
        """``predict`` at each of ``notes`` in one pass of the network: the input's features
        computed once (``features``, where the caller has them), a row per note; the last
        ``varied`` rows with dropout on, the others as in evaluation."""
        if self.model is None:
            raise SoundmatchError("this matcher has no model: it matches by searching "
                                  "(refine=...)")
        if self.note_range is None:
            home = self.spec.render.note
            batch = torch.stack([
                log_mel(audio_io.transpose(audio, self.sample_rate, home - round(n)),
                        self.features) for n in notes])
            hint = None
        else:
            if features is None:
                features = log_mel(audio, self.features)
            batch = features.unsqueeze(0).expand(len(notes), *features.shape)
            hint = torch.tensor([float(np.clip(n, *self.note_range)) for n in notes])
        with torch.no_grad(), dropout_on_last(self.model, varied, len(notes)):
            return self.model(batch, hint).numpy()

    def render(self, params: np.ndarray, note: float,
               base: dict[str, float] | None = None) -> np.ndarray:
        return self._renders([Candidate(params, note, base=base)])[0]

    @property
    def scorer(self) -> ThreadScorer | ProcessScorer:
        """What renders and scores the search's candidates: an adapter per worker thread (the
        first is ``self.adapter``), or per process where the adapter is not thread-safe. It may
        be replaced by anything that scores ``scorer(distance, candidates)`` in place."""
        if self._scorer is None and self.workers > 1 and not type(self.adapter).thread_safe:
            self._scorer = ProcessScorer(self.adapter.spec, self.workers)
        if self._scorer is None:
            self._scorer = ThreadScorer([self._renders] + [
                AdapterRenders(plugins.create_adapter(self.adapter.spec), self.spec, self.base)
                for _ in range(self.workers - 1)])
        return self._scorer

    @scorer.setter
    def scorer(self, scorer) -> None:
        self._scorer = scorer

    def close(self) -> None:
        """Stop the search's render threads or processes (started by the first search; a later
        one starts them again)."""
        if self._scorer is not None:
            self._scorer.close()
            self._scorer = None

    def network_starts(self, target: np.ndarray, pitch: float | None, play: float,
                       seed: int = 0, extra: int = JITTER_STARTS,
                       features: torch.Tensor | None = None) -> list[Candidate]:
        """The network's starts (unrendered) for prepared audio played at ``play``: its guess
        there first; then, for a pitched sound (``pitch`` not None), its guess an octave either
        side (pitch trackers and sub-octave stops disagree by octaves), taken only if closer by
        ``OCTAVE_MARGIN``; then ``extra`` guesses with dropout on (where the model has dropout)
        or jittered. One pass of the network for them all."""
        octaves = [play + octave for octave in (-12.0, 12.0)
                   if pitch is not None and 0 <= play + octave <= 127]
        has_dropout = any(isinstance(m, torch.nn.Dropout) and m.p > 0
                          for m in self.model.modules())
        dropped = extra if has_dropout else 0
        # Dropout draws from torch's generator: seeded here, so a seed gives one match.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            rows = self._predict(target, [play, *octaves] + [play] * dropped, varied=dropped,
                                 features=features)
        guesses, varied = rows[:1 + len(octaves)], list(rows[1 + len(octaves):])
        guess = guesses[0]
        starts = [Candidate(guess, play, origin="network")]
        starts += [Candidate(u, note, origin=f"network, {note - play:+.0f} semitones",
                             handicap=1.0 / (1.0 - OCTAVE_MARGIN))
                   for u, note in zip(guesses[1:], octaves, strict=True)]
        if not dropped:
            rng = np.random.default_rng(seed)
            varied = [guess + rng.normal(0.0, 0.1, len(guess)) for _ in range(extra)]
        starts += [Candidate(np.clip(u, 0.0, 1.0), play, origin="network, varied")
                   for u in varied]
        return starts

    @property
    def presets(self) -> list[Preset]:
        """The presets every match starts from."""
        return self._presets

    @presets.setter
    def presets(self, presets: list[Preset]) -> None:
        # Each preset as a start, once per list rather than once per input (0.6 s for hexter's
        # 432 voices): its whole patch, and the spec's values from it, clipped into its ranges.
        self._presets = list(presets)
        self._preset_points = []
        for preset in self._presets:
            base = {**self.base, **preset.values}
            self._preset_points.append((np.clip(self.spec.from_synth(base), 0.0, 1.0), base,
                                        f"preset {preset.name}"))

    def _preset_starts(self, play: float) -> list[Candidate]:
        """Each preset played at the input's note, on its own whole patch."""
        return [Candidate(u, play, base=base, origin=origin)
                for u, base, origin in self._preset_points]

    def _memory_starts(self, features: torch.Tensor, play: float) -> list[Candidate]:
        """The patches the search found for the remembered sounds most like the input (its
        ``features``; ``soundmatch.memory``), each played at the input's note."""
        if self.memory is None:
            return []
        return [Candidate(np.asarray(u, dtype=np.float64), play, origin=f"memory: {name}")
                for name, u in self.memory.recall(features.numpy())]

    def _starts(self, target: np.ndarray, pitch: float | None, play: float, seed: int,
                extra: int = JITTER_STARTS) -> list[Candidate]:
        """The network's starts (with a model; else the spec's defaults), the remembered
        patches of the most alike real sounds (where the model has a memory), then every
        preset."""
        # Once: the network hears them and the memory recalls by them.
        features = (log_mel(target, self.features)
                    if self.model is not None or self.memory is not None else None)
        starts = (self.network_starts(target, pitch, play, seed, extra, features)
                  if self.model is not None
                  else [Candidate(self.spec.defaults(), play, origin="defaults")])
        return starts + self._memory_starts(features, play) + self._preset_starts(play)

    def _tuned(self, start: Candidate, cents: float) -> Candidate:
        """``start`` changed to sound ``cents`` higher (``SynthAdapter.tuned``), where the synth
        can: its whole patch, and the spec's values from it."""
        whole = {**(self.base if start.base is None else start.base),
                 **self.spec.to_synth(start.params)}
        tuned = self.adapter.tuned(whole, cents)
        if tuned is None or tuned == whole:  # cannot, or a step too coarse for so few cents
            return start
        return replace(start, params=np.clip(self.spec.from_synth(tuned), 0.0, 1.0), base=tuned,
                       origin=f"{start.origin}, tuned {cents:+.0f} cents")

    def match(self, source: str | Path | np.ndarray, sample_rate: int | None = None,
              note: float | None = None, refine: int | str = 0, seed: int = 0,
              starts: int = JITTER_STARTS, on_render=None, candidates: int = 1) -> Match:
        """Match a file, or an array at ``sample_rate``. ``note`` overrides pitch detection;
        ``refine`` searches that many renders (``200``) or seconds (``"8s"``) from the best of
        several starts (``starts`` of them beside the network's guesses); 0 searches nothing: the
        network's guesses (and the patches its memory recalls) are each rendered once and the
        closest kept; with no model 0 means the default budget.
        ``candidates``: that many distinct answers, each grown from its own start (``others``
        holds all but the best)."""
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
        cents = 0.0  # how far the input lies from the whole note a synth of whole notes plays
        if not self.adapter.fractional_notes:
            cents, play = 100.0 * (play - round(play)), float(round(play))
        budget = Budget(refine)
        if not budget and (self.model is None or self.presets or candidates > 1):
            budget = Budget(DEFAULT_REFINE)  # with nothing to guess from, matching is searching
        # Candidates are rendered and scored only while the input sounds, and TAIL_SECONDS more:
        # the silence after a sound says that it has ended, seconds of it say no more. A 1.4 s
        # one-shot in a 4 s note is twice the renders per second (benchmarks/search.py).
        heard = audio_io.sounding_length(target, self.sample_rate, TAIL_SECONDS)
        distance = MatchDistance(target, self.sample_rate, self.level, self.objective, heard)
        first = self._starts(target, detected if note is None else None, play, seed, starts)
        if abs(cents) >= MIN_CENTS:
            first = [self._tuned(c, cents) for c in first]
        # No search (0): each start is ranked (the many on their opening first), the closest
        # kept (SC 0.827 -> 0.749 on benchmarks/real-sounds for the guesses alone, for 7).
        considered = len(first)
        if budget.renders:  # a budget smaller than the starts keeps the first
            first = first[:budget.renders]
        found = search(self.scorer, distance, first, budget, seed=seed,
                       on_render=on_render, runs=candidates, space=Space.of(self.spec))
        ranked = found.ranked
        scores: dict[str, float] = {"starts": considered}
        if self.model is not None:
            scores["distance_network"] = found.network.distance
        scores["distance_best_start"] = found.start.distance
        scores["renders"] = found.renders
        key = round(note) if note is not None else (round(detected) if detected is not None
                                                    else None)
        matches = [replace(self._result(c, name, detected, target, onset, dict(scores)),
                           key=key)
                   for c in ranked]
        matches[0].others = matches[1:]
        return matches[0]

    def _whole_patch(self, match: Match) -> dict[str, float]:
        """The synth's whole patch of ``match`` (its start's preset, the spec's values on top),
        set on ``self.adapter``."""
        self.adapter.set_patch(self.base if match.base is None else match.base)
        self.adapter.set_patch(self.spec.to_synth(match.params))
        self._renders.sent = None
        return self.adapter.get_patch()

    def _preset_patch(self, match: Match) -> tuple[dict[str, float], int]:
        """The whole patch the preset of ``match`` holds (set on ``self.adapter``: its start's
        preset, the spec's values on top) and the semitones it is transposed by: where the match
        plays another key than the input's and the synth can transpose, moved so that the
        input's key plays it."""
        patch = self._whole_patch(match)
        shift = record.key_shift(match)
        moved = self.adapter.transposed(patch, shift) if shift else None
        return (patch, 0) if moved is None else (moved, shift)

    def transposition(self, match: Match) -> int:
        """Semitones the preset ``save`` writes for ``match`` is transposed by: where the match
        plays another key than the input's (``match.key``) and the synth can transpose
        (``SynthAdapter.transposed``), the shift that makes the input's key play it; else 0,
        and the preset plays at ``round(match.note)``."""
        return self._preset_patch(match)[1] if record.key_shift(match) else 0

    def _result(self, best: Candidate, name: str, detected: float | None, target: np.ndarray,
                onset: int, scores: dict[str, float], raw: np.ndarray | None = None) -> Match:
        """``best`` as a Match; ``raw``: its render, where the caller has it already."""
        if raw is None:
            raw = self.render(best.params, best.note, best.base)
        # Written at the input's level, but never clipped: a gain that would take the peak past
        # PEAK_LIMIT is lowered to it, and the record says by how much.
        peak = float(np.max(np.abs(raw))) * best.gain
        limited = min(1.0, PEAK_LIMIT / peak) if peak > 0 else 1.0
        best = replace(best, gain=best.gain * limited)
        matched = (best.gain * raw).astype(np.float32)
        scores["level_limited_db"] = round(float(20 * np.log10(limited)), 2)
        scores["distance"] = best.distance
        scores["spectral_distance"] = spectral_distance(target, matched)
        scores["spectral_convergence"] = spectral_convergence(target, matched)
        patch = {p.name: float(p.denormalise(u)) for p, u in zip(self.spec.parameters,
                                                                   best.params, strict=True)}
        return Match(name, float(best.note), detected is not None, np.asarray(best.params),
                     patch, matched, target, self.sample_rate, best.gain, onset, scores,
                     best.origin, detected, best.base)

    def save(self, match: Match, out: str | Path, stem: str | None = None) -> dict[str, Path]:
        """Write the matched audio, parameters (YAML, synth units), a preset the synth opens and
        a PNG comparing the spectrograms, for the match and each of ``match.others`` (as
        ``STEM.2.*``, ``STEM.3.*``...), all as one set; returns the best match's paths."""
        out = Path(out)
        stem = stem or Path(match.source).stem
        # One set: another run writing the same stem, or a kill, never leaves a mix of two.
        with FileSet(out, stem) as files:
            paths = self._write(match, files, stem, 1)
            for rank, other in enumerate(match.others, start=2):
                self._write(other, files, stem, rank)
        return {kind: out / path.name for kind, path in paths.items()}

    def file_names(self, stem: str, rank: int = 1) -> dict[str, str]:
        """The files ``save`` writes for the ``rank``-th answer (``STEM.2.*``...), by kind."""
        return record.file_names(stem, rank, self.adapter.preset_suffix)

    def pitch_fields(self, match: Match) -> dict:
        """The note, pitch, key and level every record of a match gives (``.params.yaml``,
        ``match --json``, ``serve``)."""
        return record.pitch_fields(match, self.transposition(match))

    def _write(self, match: Match, files: FileSet, stem: str, rank: int) -> dict[str, Path]:
        paths = {kind: files.path(name) for kind, name in self.file_names(stem, rank).items()}
        patch, shift = self._preset_patch(match)  # set on self.adapter
        if shift:
            self.adapter.set_patch(patch)
        checkpoint = self.checkpoint.path if self.checkpoint is not None else None
        record.write(paths, match, record.params_record(match, self.spec, checkpoint, rank,
                                                        shift), self.features)
        self.adapter.save_preset(paths["preset"])
        return paths


def _with_adapter(spec, adapter: str):
    if adapter not in plugins.adapters():
        known = ", ".join(plugins.adapters().names())
        raise SoundmatchError(
            f"--synth: found '{adapter}', expected an installed adapter ({known})")
    return replace(spec, adapter=adapter)
