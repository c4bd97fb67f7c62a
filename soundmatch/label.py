"""``soundmatch label``: real sounds labelled by the search, as a dataset the network learns from.

The network only ever hears renders of its synth; real sounds have noise floors, rooms, bodies
and onsets it never heard. The search finds good patches for real sounds on any synth, so each
sound of a folder is matched (``Matcher.match`` with a budget of renders) and stored as one example
of a dataset like ``render``'s: the log-mel of the sound as the network hears it, the best patch
found (normalised), the note the network is told, and the search's distance. ``train --data``
takes it beside rendered data (see ``soundmatch.train``).

The dataset's manifest records which sounds (by content hash) and which matcher made it, never
where the files were: a resumed run is given the same sounds again, and refuses others.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import audio as audio_io
from . import dataset
from .errors import SoundmatchError
from .features import log_mel
from .matcher import Matcher
from .search import Budget

SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff")
SHARD_SIZE = 16


@dataclass
class LabelSummary:
    out: Path
    count: int        # sounds the dataset holds when complete
    labelled: int     # sounds this run matched
    skipped: int      # files left out (unreadable, silent)
    seconds: float
    shards_done: int
    shards_total: int

    @property
    def complete(self) -> bool:
        return self.shards_done == self.shards_total


def sound_files(paths: Iterable[str | Path]) -> list[Path]:
    """The audio files named, and those in the folders named (not their subfolders), in a stable
    order: each folder's files sorted by name, every file once."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.iterdir()
                            if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise SoundmatchError(f"{path}: no such file or folder")
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise SoundmatchError("no audio files among the sounds given "
                              f"(expected {', '.join(SUFFIXES)})")
    return unique


def readable(matcher: Matcher, files: list[Path], on_skip=None) -> list[Path]:
    """The files ``match`` can read (bounded, checked audio, not silent); ``on_skip(path,
    message)`` hears of each other one, which is left out rather than ending the run."""
    kept = []
    for path in files:
        try:
            audio_io.load(path, matcher.sample_rate, matcher.spec.render.num_samples)
        except SoundmatchError as exc:
            if on_skip:
                on_skip(path, str(exc))
            continue
        kept.append(path)
    return kept


def make_manifest(matcher: Matcher, files: list[Path], budget: Budget, seed: int,
                  shard_size: int) -> dataset.Manifest:
    checkpoint = matcher.checkpoint
    source = {
        "kind": "matched",
        "sounds": [{"name": p.name, "sha256": dataset.file_sha256(p)} for p in files],
        "refine": str(budget), "seed": seed, "level": matcher.level,
        "objective": matcher.objective, "presets": len(matcher.presets),
        "checkpoint": (None if checkpoint is None
                       else dataset.file_sha256(Path(checkpoint.path))[:16]),
    }
    return dataset.Manifest(spec=matcher.spec.to_dict(), features=matcher.features.to_dict(),
                            count=len(files), shard_size=shard_size, seed=seed, source=source)


def label_shard(matcher: Matcher, manifest: dataset.Manifest, files: list[Path], index: int,
                budget: Budget, root: Path, on_sound=None) -> dict:
    """Match the sounds of shard ``index`` and write it whole."""
    start = index * manifest.shard_size
    part = files[start:start + manifest.shard_count(index)]
    spec = matcher.spec
    n_mels, frames = matcher.features.shape(spec.render.num_samples)
    params = np.empty((len(part), len(spec)), dtype=np.float32)
    features = np.empty((len(part), n_mels, frames), dtype=np.float16)
    notes = np.empty(len(part), dtype=np.float32)
    distances = np.empty(len(part), dtype=np.float32)
    low, high = spec.render.notes or (spec.render.note, spec.render.note)
    started = time.perf_counter()
    for row, path in enumerate(part):
        found = matcher.match(path, refine=str(budget), seed=manifest.seed)
        params[row] = found.params
        features[row] = log_mel(found.target, matcher.features).numpy()
        # The note the network is told: the match's, within the range it was trained on
        # (Matcher.predict clips it the same way).
        notes[row] = np.clip(found.note, low, high)
        distances[row] = found.scores["distance"]
        if on_sound:
            on_sound(path, found)
    meta = {"index": index, "count": len(part), "dataset": manifest.key(), "dropped": 0,
            "seconds": round(time.perf_counter() - started, 3)}
    dataset.write_shard(root, index, meta, params=params, features=features, notes=notes,
                        distances=distances)
    return meta


def label_dataset(matcher: Matcher, files: list[Path], out: str | Path, refine: str,
                  seed: int = 0, shard_size: int = SHARD_SIZE,
                  on_start=None, on_sound=None) -> LabelSummary:
    """Label ``files`` (already checked by ``readable``) into the dataset ``out``, or resume it,
    each with a search of ``refine`` renders (a number: it keeps a shard's content reproducible).
    ``on_start(to_label, present)`` and ``on_sound(path, match)`` let a caller show progress."""
    budget = Budget(refine)
    if budget.renders is None or budget.renders < 1:
        raise SoundmatchError(f"--refine: found '{refine}', expected a number of renders "
                              "(a time budget would label differently on every machine)")
    if shard_size < 1:
        raise SoundmatchError(f"--shard-size: found {shard_size}, expected at least 1")
    root = Path(out)
    manifest = make_manifest(matcher, files, budget, seed, shard_size)
    dataset.open_for_writing(root, manifest)
    dataset.remove_stale_temporaries(root)
    todo = sorted(set(range(manifest.num_shards)) - dataset.completed_shards(root))
    to_label = sum(manifest.shard_count(i) for i in todo)
    if on_start:
        on_start(to_label, len(files) - to_label)
    started = time.perf_counter()
    for index in todo:
        label_shard(matcher, manifest, files, index, budget, root, on_sound)
    done = dataset.completed_shards(root)
    return LabelSummary(out=root, count=len(files), labelled=to_label, skipped=0,
                        seconds=time.perf_counter() - started,
                        shards_done=len([i for i in done if i < manifest.num_shards]),
                        shards_total=manifest.num_shards)
