"""Self-describing checkpoints: weights plus everything needed to use them (spec, feature settings
and statistics, backbone name and config, split, history).

Saved atomically (temporary file, fsync, rename) and loaded with ``weights_only=True``: a checkpoint
is data, and loading one never executes code from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .errors import SoundmatchError, first_line
from .features import FeatureConfig
from .fields import Fields, show
from .memory import PatchMemory
from .models import OutputLayout, ParameterNet, create_model
from .spec import Spec, spec_from_dict
from .torchfile import load_payload as _load_payload
from .torchfile import save_atomic

FORMAT = "soundmatch-checkpoint/1"


def load_payload(path: str | Path) -> dict:
    """A checkpoint's raw dict (as ``torch.save`` wrote it, read as data only)."""
    return _load_payload(path, FORMAT)


@dataclass(frozen=True)
class Split:
    """How a run split its data into train, validation and test (``dataset.split_indices``), so
    that ``evaluate`` scores the same held-out examples."""

    seed: int
    fractions: tuple[float, ...]
    count: int  # examples in the (first) dataset
    dataset: str
    datasets: tuple[str, ...] = ()  # every dataset, where a run trained on several

    def to_dict(self) -> dict:
        out = {"seed": self.seed, "fractions": list(self.fractions), "count": self.count,
               "dataset": self.dataset}
        if self.datasets:
            out["datasets"] = list(self.datasets)
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str) -> Split:
        f = Fields(source, "split", data)
        fractions = f.get("fractions", list)
        if len(fractions) != 3 or not all(isinstance(v, (int, float)) and 0 <= v <= 1
                                          for v in fractions):
            f.fail("fractions", f"found {show(fractions)}, expected three shares of 0..1")
        datasets = f.get("datasets", list, [])
        if not all(isinstance(v, str) for v in datasets):
            f.fail("datasets", f"found {show(datasets)}, expected a list of folders")
        return cls(seed=f.ranged("seed", int, 0), fractions=tuple(float(v) for v in fractions),
                   count=f.ranged("count", int, 0), dataset=f.get("dataset", str),
                   datasets=tuple(datasets))


def header(*, backbone: str, config: dict, manifest, input_shape, feature_stats: tuple,
           split: Split, run: dict, dataset_key: str | None = None) -> dict:
    """Everything a checkpoint says besides its weights: what ``load_checkpoint`` reads back to
    rebuild and use the model without the dataset (``manifest`` is the dataset's Manifest;
    ``dataset_key``, where several datasets were trained on, the key of them all). The notes a
    model is told span the spec's ``render.notes``."""
    mean, std = feature_stats
    return {"format": FORMAT, "soundmatch_version": __version__, "backbone": backbone,
            "config": config, "spec": manifest.spec, "features": manifest.features,
            "input_shape": list(input_shape), "feature_stats": {"mean": mean, "std": std},
            "split": split.to_dict(), "dataset_key": dataset_key or manifest.key(), "run": run}


def with_weights(header: dict, model: torch.nn.Module, epoch: int, history: list,
                 optimizer: torch.optim.Optimizer | None = None) -> dict:
    """A checkpoint payload; with ``optimizer``, one a run resumes from (its state and RNG)."""
    payload = {**header, "model": model.state_dict(), "epoch": epoch, "history": history}
    if optimizer is not None:
        payload.update(optimizer=optimizer.state_dict(), rng=torch.get_rng_state())
    return payload


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``model`` is ready for inference (eval mode, CPU)."""

    path: Path
    model: ParameterNet
    spec: Spec
    features: FeatureConfig
    backbone: str
    config: dict
    payload: dict
    split: Split
    feature_stats: tuple[float, float]  # the mean and spread the model standardises by
    memory: PatchMemory | None = None  # real sounds and the patches found for them

    @property
    def history(self) -> list[dict]:
        return self.payload.get("history", [])


def load_checkpoint(path: str | Path) -> Checkpoint:
    payload = load_payload(path)
    source = str(path)
    f = Fields(source, "", payload)
    spec = spec_from_dict(f.get("spec", dict), source=f"{path} (spec)")
    features = FeatureConfig.from_dict(f.get("features", dict), source)
    shape = f.get("input_shape", list)
    if len(shape) != 2 or not all(isinstance(v, int) and 0 < v <= 100_000 for v in shape):
        f.fail("input_shape", f"found {show(shape)}, expected [mels, frames]")
    stats = Fields(source, "feature_stats", f.get("feature_stats", dict))
    feature_stats = (stats.get("mean", float), stats.ranged("std", float, 0))
    split = Split.from_dict(f.get("split", dict), source)
    name, config = f.get("backbone", str), f.get("config", dict)
    layout = OutputLayout.for_spec(spec)
    try:
        backbone, _ = create_model(name, tuple(shape), layout.num_outputs, **config)
    except SoundmatchError as exc:
        raise SoundmatchError(f"{path}: {exc}") from None
    try:
        # Older checkpoints also hold note_range, a copy of the spec's render.notes: unread.
        model = ParameterNet(backbone, n_mels=shape[0], note_range=spec.render.notes,
                             layout=layout)
        model.load_state_dict(f.get("model", dict))
        memory = (None if payload.get("memory") is None else PatchMemory.from_payload(
            payload["memory"], len(spec), shape[0], source))
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise SoundmatchError(f"{path}: incomplete or mismatched checkpoint "
                              f"({first_line(exc)})") from None
    bad = [k for k, v in model.state_dict().items()
           if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise SoundmatchError(f"{path}: weights {bad[0]} hold NaN or infinite values "
                              f"({len(bad)} tensors); the checkpoint is damaged")
    model.eval()
    return Checkpoint(Path(path), model, spec, features, name, config, payload, split,
                      feature_stats, memory)


def export(src: str | Path, dst: str | Path, half: bool = True,
           memory: PatchMemory | None = None) -> Path:
    """A checkpoint for inference only: no optimiser or random state, weights in float16 if
    ``half`` (loading casts them back to float32). About a third of a training checkpoint.
    ``memory``: real sounds and their patches, recalled as guesses beside the network's (it
    replaces any the source holds)."""
    payload = load_payload(src)
    for key in ("optimizer", "rng", "note_range"):
        payload.pop(key, None)
    if memory is not None:
        spec = spec_from_dict(payload["spec"], source=f"{src} (spec)")
        if memory.params.shape[1] != len(spec):
            raise SoundmatchError(f"the memory's patches have {memory.params.shape[1]} "
                                  f"parameters, {src}'s spec {spec.name} has {len(spec)}")
        payload["memory"] = memory.to_payload()
    if half:
        payload["model"] = {k: v.half() if v.is_floating_point() else v
                            for k, v in payload["model"].items()}
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    save_atomic(payload, dst)
    return Path(dst)


def describe(payload: dict[str, Any]) -> str:
    return (f"backbone {payload.get('backbone')}, spec {payload.get('spec', {}).get('name')}, "
            f"epoch {payload.get('epoch')}")
