"""Self-describing checkpoints: weights plus everything needed to use them (spec, feature settings
and statistics, backbone name and config, split, history).

Saved atomically (temporary file, fsync, rename) and loaded with ``weights_only=True``: a checkpoint
is data, and loading one never executes code from it.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from . import __version__
from .errors import SoundmatchError, first_line
from .features import FeatureConfig
from .fileio import open_regular, write_atomic
from .memory import PatchMemory
from .models import OutputLayout, ParameterNet, create_model
from .spec import Spec, spec_from_dict

FORMAT = "soundmatch-checkpoint/1"
# How far a checkpoint may inflate past its size on disk (``check_archive``), and how many records
# it may hold (a model has a few hundred tensors).
MAX_INFLATION, INFLATION_SLACK = 2, 64 << 20
MAX_ENTRIES = 100_000


def header(*, backbone: str, config: dict, manifest, input_shape, feature_stats: tuple,
           note_range, split: dict, run: dict, dataset_key: str | None = None) -> dict:
    """Everything a checkpoint says besides its weights: what ``load_checkpoint`` reads back to
    rebuild and use the model without the dataset (``manifest`` is the dataset's Manifest;
    ``dataset_key``, where several datasets were trained on, the key of them all)."""
    mean, std = feature_stats
    return {"format": FORMAT, "soundmatch_version": __version__, "backbone": backbone,
            "config": config, "spec": manifest.spec, "features": manifest.features,
            "input_shape": list(input_shape), "feature_stats": {"mean": mean, "std": std},
            "note_range": list(note_range) if note_range else None, "split": split,
            "dataset_key": dataset_key or manifest.key(), "run": run}


def with_weights(header: dict, model: torch.nn.Module, epoch: int, history: list,
                 optimizer: torch.optim.Optimizer | None = None) -> dict:
    """A checkpoint payload; with ``optimizer``, one a run resumes from (its state and RNG)."""
    payload = {**header, "model": model.state_dict(), "epoch": epoch, "history": history}
    if optimizer is not None:
        payload.update(optimizer=optimizer.state_dict(), rng=torch.get_rng_state())
    return payload


def save_atomic(payload: dict, path: str | Path) -> None:
    write_atomic(path, lambda f: torch.save(payload, f))


def check_archive(path: Path) -> None:
    """Refuse, before anything is unpacked, a file that is not the zip archive ``torch.save``
    writes or that would inflate far past its own size. torch stores its records uncompressed, so
    a real checkpoint inflates to about its size on disk; a 4 MB zip bomb would take 4 GB of
    memory to reach the error ``torch.load`` gives."""
    try:
        with open_regular(path, "checkpoint") as f, zipfile.ZipFile(f) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ENTRIES:
                raise SoundmatchError(f"{path}: {len(entries):,} records, expected a soundmatch "
                                      f"checkpoint (at most {MAX_ENTRIES:,})")
            inflated = sum(e.file_size for e in entries)
            size = os.fstat(f.fileno()).st_size
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as exc:
        raise SoundmatchError(f"{path}: not a readable soundmatch checkpoint (truncated, corrupt "
                              f"or not the zip archive torch.save writes: {first_line(exc)})"
                              ) from None
    if inflated > MAX_INFLATION * size + INFLATION_SLACK:
        raise SoundmatchError(f"{path}: would inflate from {size:,} to {inflated:,} bytes, "
                              f"expected a checkpoint about its own size (torch stores "
                              f"weights uncompressed); refused unread")


def load_payload(path: str | Path, expected: str = FORMAT) -> dict:
    """The checkpoint's raw dict (or another file torch.save wrote in format ``expected``: a
    memory); any unreadable or foreign file is one clear error."""
    path = Path(path)
    if not path.exists():
        raise SoundmatchError(f"{path}: no such checkpoint file")
    check_archive(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a random or hostile file can raise anything from the unpickler
        reason = first_line(exc)
        raise SoundmatchError(
            f"{path}: not a readable soundmatch checkpoint (truncated, corrupt or not a "
            f"checkpoint: {reason})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != expected:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise SoundmatchError(f"{path}: format: found {found!r}, expected {expected!r} "
                              "(is it a plain PyTorch file?)")
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
    memory: PatchMemory | None = None  # real sounds and the patches found for them

    @property
    def history(self) -> list[dict]:
        return self.payload.get("history", [])

    @property
    def split(self) -> dict:
        return self.payload.get("split", {})


def load_checkpoint(path: str | Path) -> Checkpoint:
    payload = load_payload(path)
    try:
        spec = spec_from_dict(payload["spec"], source=f"{path} (spec)")
        features = FeatureConfig.from_dict(payload["features"])
        shape = payload["input_shape"]
        if (not isinstance(shape, (list, tuple)) or len(shape) != 2
                or not all(isinstance(v, int) and 0 < v <= 100_000 for v in shape)):
            raise ValueError(f"input_shape: found {str(shape)[:40]}, expected [mels, frames]")
        notes = payload.get("note_range")
        if notes is not None and (
                not isinstance(notes, (list, tuple)) or len(notes) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in notes)
                or not 0 <= notes[0] <= notes[1] <= 127):
            raise ValueError(f"note_range: found {str(notes)[:40]}, expected [lowest, highest] "
                             "MIDI notes")
        layout = OutputLayout.for_spec(spec)
        try:
            backbone, _ = create_model(payload["backbone"], tuple(payload["input_shape"]),
                                       layout.num_outputs, **payload["config"])
        except SoundmatchError as exc:
            raise SoundmatchError(f"{path}: {exc}") from None
        input_shape = tuple(payload["input_shape"])
        model = ParameterNet(backbone, n_mels=input_shape[0],
                             note_range=payload.get("note_range"), layout=layout)
        model.load_state_dict(payload["model"])
        memory = (None if payload.get("memory") is None else PatchMemory.from_payload(
            payload["memory"], len(spec), input_shape[0]))
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        reason = first_line(exc)
        raise SoundmatchError(f"{path}: incomplete or mismatched checkpoint "
                              f"({reason})") from None
    bad = [k for k, v in model.state_dict().items()
           if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise SoundmatchError(f"{path}: weights {bad[0]} hold NaN or infinite values "
                              f"({len(bad)} tensors); the checkpoint is damaged")
    model.eval()
    return Checkpoint(Path(path), model, spec, features, payload["backbone"], payload["config"],
                      payload, memory)


def export(src: str | Path, dst: str | Path, half: bool = True,
           memory: PatchMemory | None = None) -> Path:
    """A checkpoint for inference only: no optimiser or random state, weights in float16 if
    ``half`` (loading casts them back to float32). About a third of a training checkpoint.
    ``memory``: real sounds and their patches, recalled as guesses beside the network's (it
    replaces any the source holds)."""
    payload = load_payload(src)
    for key in ("optimizer", "rng"):
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
