"""Files ``torch.save`` writes that soundmatch reads back (checkpoints, memories): written
atomically, read as data only (``weights_only=True``), and refused unread where the archive would
inflate far past its own size."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import torch

from .errors import SoundmatchError, first_line
from .fileio import open_regular, write_atomic

# How far a checkpoint may inflate past its size on disk (``check_archive``), and how many records
# it may hold (a model has a few hundred tensors).
MAX_INFLATION, INFLATION_SLACK = 2, 64 << 20
MAX_ENTRIES = 100_000


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


def load_payload(path: str | Path, expected: str) -> dict:
    """The raw dict of a file torch.save wrote in format ``expected`` (a checkpoint, a memory);
    any unreadable or foreign file is one clear error."""
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
