"""A match and its record: ``Match``, what ``Matcher.match`` returns, and the files ``match`` (and
``serve``) write for each answer, with the fields of its ``.params.yaml`` (docs/formats.md,
"Match record"). The one place they are named."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from . import audio as audio_io
from .features import FeatureConfig, log_mel

if TYPE_CHECKING:
    from .spec import Parameter, Spec


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
    origin: str = "network"       # what the match grew from: network, defaults, preset NAME
    detected: float | None = None  # the pitch detected in the input (fractional MIDI note)
    key: int | None = None        # the input's key: the note named with --note, else detected
    base: dict[str, float] | None = None  # the preset's whole patch under the spec's values
    others: list[Match] = field(default_factory=list)  # the next best answers (--candidates)

    @property
    def gain_db(self) -> float:
        return float(20 * np.log10(max(self.gain, 1e-12)))

    @property
    def octave(self) -> int:
        """Octaves between the note played and the input's key (0 unless an octave start won)."""
        return 0 if self.key is None else round((self.note - self.key) / 12)


def file_names(stem: str, rank: int, preset_suffix: str) -> dict[str, str]:
    """The files of the ``rank``-th answer (``STEM.2.*``...), by kind."""
    stem = stem if rank == 1 else f"{stem}.{rank}"
    return {"audio": f"{stem}.match.wav", "parameters": f"{stem}.params.yaml",
            "preset": f"{stem}.preset{preset_suffix}", "plot": f"{stem}.compare.png"}


def key_shift(match: Match) -> int:
    """Semitones from the input's key to the key the match plays (0 where it has no key)."""
    return round(match.note) - match.key if match.key is not None else 0


def pitch_fields(match: Match, shift: int) -> dict:
    """The note, pitch, key and level every record of a match gives (``.params.yaml``,
    ``match --json``, ``serve``); ``shift``: the semitones its preset was transposed by."""
    return {
        "note": round(match.note, 2), "pitch_detected": match.pitched,
        "detected_note": round(match.detected, 2) if match.detected is not None else None,
        "octave": match.octave,  # octaves between the note played and the input's key
        # The key that plays the preset at the input's pitch, and the semitones its
        # transpose was moved by to make that the input's key.
        "preset_key": round(match.note) - shift, "preset_transposed": shift,
        # The patch plays at the synth's own level; this gain makes it sound as loud as the
        # input (the .match.wav has it applied).
        "gain_db": round(match.gain_db, 2),
    }


def params_record(match: Match, spec: Spec, checkpoint: Path | None, rank: int,
                  shift: int) -> dict:
    """What the ``.params.yaml`` of one answer holds."""
    return {
        "source": match.source, "synth": spec.adapter, "spec": spec.name,
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "rank": rank, "start": match.origin, **pitch_fields(match, shift),
        "scores": {k: int(v) if isinstance(v, (int, np.integer)) else round(float(v), 5)
                   for k, v in match.scores.items()},
        "parameters": {p.name: _shown(p, match.patch[p.name]) for p in spec.parameters},
    }


def write(paths: dict[str, Path], match: Match, params: dict, features: FeatureConfig) -> None:
    """The answer's audio, its ``.params.yaml`` and its comparison plot, at ``paths`` (the
    preset is the adapter's to write)."""
    from .plots import plot_comparison

    # In time with the input: the silence the input began with, then the match.
    audio_io.write_wav(paths["audio"], np.concatenate(
        [np.zeros(match.onset, np.float32), match.audio]), match.sample_rate)
    paths["parameters"].write_text(yaml.safe_dump(params, sort_keys=False))
    plot_comparison(
        log_mel(match.target, features).numpy(), log_mel(match.audio, features).numpy(),
        paths["plot"], title=f"{Path(match.source).name}: note {match.note:.2f}, spectral "
                             f"distance {match.scores['spectral_distance']:.3f}")


def _shown(p: Parameter, value: float):
    """A parameter's value for the .params.yaml: a choice with its name, a step as a whole
    number, a continuous value rounded (with its unit, if it has one)."""
    if p.type == "choice":
        return {"value": round(float(value)), "choice": p.label(value)}
    shown = round(float(value)) if p.type == "steps" and p.step == 1 else round(value, 6)
    return {"value": shown, "unit": p.unit} if p.unit else shown
