"""The dataset store: a manifest plus fixed-size shards, each written whole and atomically.

Layout of a dataset folder::

    manifest.json            what the dataset is: spec, render and feature settings, count, seed
    shards/00000/            one shard: params.npy (float32, normalised), features.npy (float16
                             log-mel), where needed notes.npy, audio.npy and distances.npy
                             (``SHARD_DTYPES``), and meta.json
    shards/.tmp-…/           a shard being written; renamed into place only when complete

A shard's content depends only on (manifest, shard index), so any process may render any shard, a
killed render resumes where it stopped, and several processes or machines can render disjoint shards
of one dataset at once. Readers memory-map the shards, so a dataset larger than RAM costs no RAM.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import SoundmatchError, first_line
from .features import FeatureConfig
from .fields import Fields, show
from .fileio import TMP_PREFIX as _TMP_PREFIX
from .fileio import read_bounded, write_text_atomic
from .spec import Spec, spec_from_dict

FORMAT = "soundmatch-dataset/1"
MANIFEST = "manifest.json"
# A manifest holds the spec (a few hundred KB at most) and a shard record a few numbers.
MAX_RECORD_BYTES = 64 << 20
SHARDS = "shards"


@dataclass(frozen=True)
class Manifest:
    """Everything that defines a dataset's content. Two renders with equal manifests write
    identical shards."""

    spec: dict
    features: dict
    count: int
    shard_size: int
    seed: int
    keep_audio: bool = False
    check: str = "passed"  # or "skipped" (render --no-check); informative, not part of the key
    # None: rendered from the spec. Else where the examples came from, e.g. real sounds matched
    # by the search (``soundmatch.label``): {"kind": "matched", "sounds": [...], ...}.
    source: dict | None = None

    @property
    def num_shards(self) -> int:
        return -(-self.count // self.shard_size)

    def shard_count(self, index: int) -> int:
        """How many examples shard ``index`` holds (the last one may be short)."""
        return min(self.shard_size, self.count - index * self.shard_size)

    def key(self) -> str:
        identity = {k: v for k, v in self.to_dict().items() if k != "check"}
        text = json.dumps(identity, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        data = {"format": FORMAT, "count": self.count, "shard_size": self.shard_size,
                "seed": self.seed, "keep_audio": self.keep_audio, "check": self.check,
                "features": self.features, "spec": self.spec}
        if self.source is not None:  # absent for renders, so their keys are as they were
            data["source"] = self.source
        return data

    def load_spec(self, source: str) -> Spec:
        return spec_from_dict(self.spec, source=source)

    def feature_config(self) -> FeatureConfig:
        return FeatureConfig.from_dict(self.features, "manifest")

    @classmethod
    def from_dict(cls, data: Any, source: str) -> Manifest:
        f = Fields(source, "", data)
        found = f.data.get("format")
        if found != FORMAT:
            f.fail("format", f"found {show(found)}, expected {FORMAT!r}")
        f.get("spec", dict)  # read whole by ``load_spec``
        FeatureConfig.from_dict(f.get("features", dict), source)
        source_field = f.get("source", (dict, type(None)), None)
        if source_field is not None:
            Fields(source, "source", source_field).get("kind", str)
        return cls(spec=f.data["spec"], features=f.data["features"],
                   count=f.ranged("count", int, 1), shard_size=f.ranged("shard_size", int, 1),
                   seed=f.ranged("seed", int, 0), keep_audio=f.get("keep_audio", bool, False),
                   check=f.get("check", str, "passed"), source=source_field)


def read_manifest(root: str | Path) -> Manifest:
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise SoundmatchError(f"{root}: not a soundmatch dataset (no {MANIFEST})")
    try:
        data = json.loads(read_bounded(path, MAX_RECORD_BYTES, "manifest"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SoundmatchError(f"{path}: unreadable manifest ({first_line(exc)})") from None
    return Manifest.from_dict(data, str(path))


def open_for_writing(root: str | Path, manifest: Manifest) -> None:
    """Create the dataset folder with its manifest, or check that an existing one is the same
    dataset (so that a resumed or parallel render adds to it and never mixes two datasets)."""
    root = Path(root)
    (root / SHARDS).mkdir(parents=True, exist_ok=True)
    path = root / MANIFEST
    lock = path.with_suffix(".lock")
    for _ in range(2):  # a second try after clearing a lock its dead owner left behind
        if path.exists():
            break
        try:
            # O_EXCL: of two processes starting at once, one writes and the other compares.
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            fd = None
        if fd is not None:
            os.write(fd, f"{socket.gethostname()} {os.getpid()}".encode())
            os.close(fd)
            write_text_atomic(path, json.dumps(manifest.to_dict(), indent=2))
            os.unlink(lock)
            return
        for _ in range(100):  # the other process is writing it right now
            if path.exists():
                break
            time.sleep(0.05)
        else:
            if _lock_is_stale(lock):
                lock.unlink(missing_ok=True)
    existing = read_manifest(root)
    if existing.key() != manifest.key():
        raise SoundmatchError(
            f"{root}: holds a different dataset ({_describe(existing)}; asked for "
            f"{_describe(manifest)}); use the same settings to resume it, or another --out"
        )


def _lock_is_stale(lock: Path) -> bool:
    """A manifest lock whose writer died (kill -9 between taking it and writing the manifest):
    its process is gone on this host, or (another host, an unreadable owner) it is a minute old."""
    try:
        host, pid = lock.read_text().split()
        if host == socket.gethostname():
            return not _alive(int(pid))
    except (OSError, ValueError):
        pass
    try:
        return time.time() - lock.stat().st_mtime > 60
    except OSError:
        return True


def _describe(m: Manifest) -> str:
    return (f"spec {m.spec.get('name')}, {m.count} examples, seed {m.seed}, "
            f"shard size {m.shard_size}, features {m.features.get('n_mels')} mels"
            + (", with audio" if m.keep_audio else "")
            + (f", {m.source['kind']} sounds" if m.source else ""))


def shard_path(root: str | Path, index: int) -> Path:
    return Path(root) / SHARDS / f"{index:05d}"


def completed_shards(root: str | Path) -> set[int]:
    """Indices of shards that were written whole (temporary folders never count)."""
    shards = Path(root) / SHARDS
    if not shards.is_dir():
        return set()
    return {int(p.name) for p in shards.iterdir()
            if p.name.isdigit() and (p / "meta.json").exists()}


# A shard's arrays, each one ``NAME.npy``, one row per example (docs/formats.md, "Dataset shard").
SHARD_DTYPES = {"params": np.float32, "features": np.float16, "audio": np.float16,
                "notes": np.float32, "distances": np.float32}


def write_shard(root: str | Path, index: int, meta: dict, *, params: np.ndarray,
                features: np.ndarray, audio: np.ndarray | None = None,
                notes: np.ndarray | None = None, distances: np.ndarray | None = None) -> bool:
    """Write one shard atomically: into a temporary folder, fsynced, then renamed into place.
    ``params`` normalised, ``features`` log-mel; ``audio`` where the dataset keeps it; ``notes``
    where examples differ in note; ``distances``, the search's, for matched real sounds.
    Returns False if another process completed the same shard first (its copy is kept)."""
    given = {"params": params, "features": features, "audio": audio, "notes": notes,
             "distances": distances}
    arrays = {name: np.asarray(array, SHARD_DTYPES[name]) for name, array in given.items()
              if array is not None}
    root = Path(root)
    final = shard_path(root, index)
    owner = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = root / SHARDS / f"{_TMP_PREFIX}{index:05d}-{owner}"
    tmp.mkdir(parents=True)
    try:
        files = {}
        for name, array in arrays.items():
            with open(tmp / f"{name}.npy", "wb") as f:
                np.save(f, array)
                f.flush()
                os.fsync(f.fileno())
            files[f"{name}.npy"] = {"bytes": (tmp / f"{name}.npy").stat().st_size,
                                    "sha256": file_sha256(tmp / f"{name}.npy")}
        with open(tmp / "meta.json", "w") as f:  # written last: its presence marks a whole shard
            # What each file held when written, so a reader can tell a damaged shard.
            json.dump({**meta, "files": files}, f)
            f.flush()
            os.fsync(f.fileno())
        if final.exists() and not (final / "meta.json").exists():
            shutil.rmtree(final)  # a partial copy (e.g. an interrupted rsync) is not a shard
        try:
            os.rename(tmp, final)
        except OSError:
            if (final / "meta.json").exists():
                return False
            raise
        _fsync_dir(final.parent)
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def file_sha256(path: Path) -> str:
    """A file's SHA-256, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(root: str | Path) -> int:
    """Delete half-written shards left by dead processes of this host; returns how many."""
    shards = Path(root) / SHARDS
    host = socket.gethostname()
    removed = 0
    for p in shards.glob(_TMP_PREFIX + "*") if shards.is_dir() else []:
        parts = p.name[len(_TMP_PREFIX):].split("-")
        try:
            pid = int(parts[-2])
        except (IndexError, ValueError):
            continue
        if "-".join(parts[1:-2]) == host and not _alive(pid):
            shutil.rmtree(p, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class DatasetReader:
    """Random access to (features, params) of a complete dataset through memory maps.

    ``features`` are float16 log-mel (n_mels, frames); ``params`` float32 normalised, ordered as
    the spec lists them. Picklable, so DataLoader workers each open their own maps.
    """

    def __init__(self, root: str | Path, allow_incomplete: bool = False):
        self.root = Path(root)
        self.manifest = read_manifest(self.root)
        done = completed_shards(self.root)
        expected = set(range(self.manifest.num_shards))
        missing = sorted(expected - done)
        if missing and not allow_incomplete:
            raise SoundmatchError(
                f"{self.root}: incomplete dataset: {len(done & expected)} of {len(expected)} "
                f"shards written (first missing: {missing[0]}); run the same render command "
                "again to finish it"
            )
        self.shards = sorted(done & expected)
        self._counts, self._metas = [], []
        key = self.manifest.key()
        for i in self.shards:
            meta_path = shard_path(self.root, i) / "meta.json"
            try:
                meta = json.loads(read_bounded(meta_path, MAX_RECORD_BYTES, "shard record"))
                count = int(meta["count"])
                if count != self.manifest.shard_count(i):
                    raise ValueError(f"count {count}, expected {self.manifest.shard_count(i)}")
                written_for = meta.get("dataset", key)  # older shards have no key
                if written_for != key:
                    raise SoundmatchError(
                        f"{meta_path}: written for dataset {str(written_for)[:16]!r}, but "
                        f"{MANIFEST} now describes {key!r}: the manifest was changed after "
                        "rendering (its spec, order of parameters or settings); restore it or "
                        "render again")
            except SoundmatchError:
                raise
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise SoundmatchError(f"{meta_path}: damaged shard record ({exc}); delete the "
                                      "shard's folder and run the render command again") from None
            self._counts.append(count)
            self._metas.append(meta)
        self._offsets = np.concatenate([[0], np.cumsum(self._counts)]).astype(np.int64)
        self._maps: dict[int, dict[str, np.ndarray]] = {}
        self.spec = self.manifest.load_spec(str(self.root / MANIFEST))
        self.feature_config = self.manifest.feature_config()

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_maps"] = {}
        return state

    def _arrays(self, position: int) -> dict[str, np.ndarray]:
        if position not in self._maps:
            self._maps[position] = self._open_shard(position)
        return self._maps[position]

    def _open_shard(self, position: int) -> dict[str, np.ndarray]:
        """The shard's arrays, memory-mapped, once their bytes and shapes are checked against
        what the render wrote: a damaged shard is one line, never a traceback or silent NaNs."""
        folder = shard_path(self.root, self.shards[position])
        meta, count = self._metas[position], self._counts[position]
        recorded = meta.get("files")  # absent in datasets rendered before checksums
        names = recorded or {p.name: None for p in folder.glob("*.npy")}
        fix = "delete the shard's folder and run the render command again"
        n_mels, frames = self.feature_config.shape(self.spec.render.num_samples)
        shapes = {"params.npy": (count, len(self.spec)), "features.npy": (count, n_mels, frames),
                  "notes.npy": (count,), "distances.npy": (count,),
                  "audio.npy": (count, self.spec.render.num_samples)}
        # The names come from meta.json, a file from elsewhere: only a shard's own are opened.
        strange = sorted(set(names) - {f"{name}.npy" for name in SHARD_DTYPES})
        if strange:
            raise SoundmatchError(f"{folder / 'meta.json'}: files: found {show(strange[0])}, "
                                  f"expected the arrays of a shard ({', '.join(SHARD_DTYPES)})")
        for required in ("params.npy", "features.npy"):
            if required not in names:
                raise SoundmatchError(f"{folder}: no {required} recorded; {fix}")
        arrays = {}
        for name, record in names.items():
            path = folder / name
            if not path.is_file():
                raise SoundmatchError(f"{path}: missing; {fix}")
            if record and (path.stat().st_size != record["bytes"]
                           or file_sha256(path) != record["sha256"]):
                raise SoundmatchError(f"{path}: damaged (its bytes differ from what was "
                                      f"written); {fix}")
            try:
                array = np.load(path, mmap_mode="r")
            except (ValueError, OSError) as exc:
                raise SoundmatchError(f"{path}: unreadable ({first_line(exc)}); {fix}") from None
            expected = shapes.get(name)
            if expected and array.shape != expected:
                raise SoundmatchError(f"{path}: shape {array.shape}, expected {expected}; {fix}")
            arrays[path.stem] = array
        return arrays

    def _locate(self, index: int) -> tuple[int, int]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} examples")
        position = bisect.bisect_right(self._offsets, index) - 1
        return position, index - int(self._offsets[position])

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        position, row = self._locate(index)
        arrays = self._arrays(position)
        return arrays["features"][row], arrays["params"][row]

    def audio(self, index: int) -> np.ndarray:
        """The rendered audio of one example (only if the dataset was rendered with audio)."""
        position, row = self._locate(index)
        arrays = self._arrays(position)
        if "audio" not in arrays:
            raise SoundmatchError(f"{self.root}: rendered without audio (use render --keep-audio)")
        return arrays["audio"][row].astype(np.float32)

    def params(self) -> np.ndarray:
        """All normalised parameters, (len, num_params): small enough to hold in memory."""
        return np.concatenate([self._arrays(i)["params"] for i in range(len(self.shards))])

    def note(self, index: int) -> float:
        """The MIDI note example ``index`` was rendered at."""
        position, row = self._locate(index)
        arrays = self._arrays(position)
        return float(arrays["notes"][row]) if "notes" in arrays else float(self.spec.render.note)

    def column(self, name: str) -> np.ndarray:
        """A per-example array of every shard, e.g. ``distances`` (datasets from ``label``)."""
        arrays = [self._arrays(i) for i in range(len(self.shards))]
        if not arrays or any(name not in a for a in arrays):
            raise SoundmatchError(f"{self.root}: its shards hold no {name}.npy")
        return np.concatenate([a[name] for a in arrays])

    def notes(self) -> np.ndarray:
        """All examples' notes, (len,) float32."""
        if not self.spec.render.notes:
            return np.full(len(self), self.spec.render.note, dtype=np.float32)
        return np.concatenate([self._arrays(i)["notes"] for i in range(len(self.shards))])


# The train/validation/test split belongs to the dataset: train and evaluate must agree on it.
SPLIT = (0.8, 0.1, 0.1)


def split_indices(n: int, seed: int = 0, fractions=SPLIT) -> dict[str, np.ndarray]:
    """A deterministic train/validation/test split of ``n`` examples."""
    order = np.random.default_rng(seed).permutation(n)
    n_train = round(fractions[0] * n)
    n_val = round(fractions[1] * n)
    if n_train < 1 or n_val < 1 or n - n_train - n_val < 1:
        raise SoundmatchError(f"dataset of {n} examples is too small to split "
                              f"{'/'.join(str(round(f * 100)) for f in fractions)}")
    return {"train": np.sort(order[:n_train]), "val": np.sort(order[n_train:n_train + n_val]),
            "test": np.sort(order[n_train + n_val:])}
