"""A model's memory of real sounds: the patches the search found for them (``soundmatch label``),
recalled by how alike a new sound is, as starting guesses beside the network's.

Why (benchmarks/real_sounds.py, docs/results.md#the-network-taught-by-the-search): fine-tuning
the network on the search's patches for 569 real sounds left its own guess where it was (SC 0.818
against 0.827): many patches sound alike, and a network trained to the squared error predicts
their average. The patches themselves are good: playing the sixteen whose sounds are most like the
input at its note, beside the network's guesses, and keeping the closest took SC to about 0.61
with no search, in a tenth of a second of renders.

A sound's key is computed from the log-mel the network sees, so that recalling costs nothing
more: its spectrum averaged over time (its timbre) and its loudness over time (its envelope),
each relative to its own peak, so that neither the level nor the length of silence after it
counts. The note is left in: a patch is played at the input's note anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import SoundmatchError
from .features import FeatureConfig
from .fields import Fields, show
from .spec import spec_from_dict
from .torchfile import load_payload, save_atomic

FORMAT = "soundmatch-memory/1"  # a memory on its own, for a synth matched with no model
RECALL = 16        # patches recalled per match (measured: 4, 8, 16 gave SC 0.665, 0.630, 0.614)
MAX_SOUNDS = 100_000
ENVELOPE_STEPS = 43  # the envelope in 43 steps: 4 frames (93 ms) each over a 4 s render
FLOOR = -20.0      # natural-log power under the peak below which the envelope is not followed


def memory_key(features: np.ndarray) -> np.ndarray:
    """(…, n_mels, frames) natural-log mel power -> (…, n_mels + ENVELOPE_STEPS) keys."""
    f = np.asarray(features, dtype=np.float32)
    timbre = f.mean(axis=-1)
    timbre = timbre - timbre.max(axis=-1, keepdims=True)
    loudness = np.log(np.exp(f.astype(np.float64)).sum(axis=-2) + 1e-12).astype(np.float32)
    loudness = np.maximum(loudness - loudness.max(axis=-1, keepdims=True), FLOOR)
    steps = np.array_split(loudness, ENVELOPE_STEPS, axis=-1)
    envelope = np.stack([s.mean(axis=-1) for s in steps], axis=-1)
    # Scaled so that both parts weigh alike: timbre spans about 10 nepers, the envelope 20.
    return np.concatenate([timbre / 10.0, envelope / 5.0], axis=-1)


@dataclass
class PatchMemory:
    """Sounds' keys, the patches found for them (normalised, in the spec's order) and names."""

    keys: np.ndarray    # (n, key size) float32
    params: np.ndarray  # (n, spec size) float32 in [0, 1]
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"PatchMemory({len(self)} sounds)"

    def recall(self, features: np.ndarray, count: int = RECALL) -> list[tuple[str, np.ndarray]]:
        """The ``count`` remembered (name, patch) whose sounds are most like ``features``, the
        most alike first."""
        key = memory_key(features)
        distance = ((self.keys - key) ** 2).sum(axis=1)
        order = np.argsort(distance, kind="stable")[:count]
        return [(self.names[i], self.params[i]) for i in order]

    @classmethod
    def from_datasets(cls, readers) -> PatchMemory:
        """Every example of labelled datasets (``soundmatch label``), named for its sound."""
        keys, params, names = [], [], []
        for reader in readers:
            source = reader.manifest.source or {}
            if source.get("kind") != "matched":
                raise SoundmatchError(f"{reader.root}: not a dataset of labelled sounds (made by "
                                      "soundmatch label); a memory holds real sounds")
            for i in range(len(reader)):
                features, patch = reader[i]
                keys.append(memory_key(features))
                params.append(np.asarray(patch, dtype=np.float32))
            names += [s["name"] for s in source["sounds"]][:len(reader)]
        return cls(np.stack(keys).astype(np.float32), np.stack(params), names)

    def to_payload(self) -> dict:
        return {"keys": torch.from_numpy(self.keys), "params": torch.from_numpy(self.params),
                "names": list(self.names)}

    @classmethod
    def from_payload(cls, data, num_params: int, n_mels: int, source: str) -> PatchMemory:
        """From a checkpoint or memory file (untrusted): every shape and value checked, one line
        naming ``source`` and the field if wrong."""
        f = Fields(source, "memory", data)
        keys, params = f.get("keys", torch.Tensor), f.get("params", torch.Tensor)
        names = f.get("names", list)
        if not all(isinstance(n, str) for n in names):
            f.fail("names", f"found {show(names)}, expected a list of file names")
        n = len(names)
        if not 0 < n <= MAX_SOUNDS:
            f.fail("names", f"found {n} sounds, expected 1..{MAX_SOUNDS}")
        for key, value, shape in (("keys", keys, (n, n_mels + ENVELOPE_STEPS)),
                                  ("params", params, (n, num_params))):
            if tuple(value.shape) != shape:
                f.fail(key, f"found shape {tuple(value.shape)}, expected {shape}")
        keys, params = keys.float().numpy(), params.float().numpy()
        if not (np.isfinite(keys).all() and np.isfinite(params).all()
                and params.min() >= 0 and params.max() <= 1):
            f.fail("params", "keys must be finite and params within 0..1")
        return cls(keys, params, names)


def save_memory(memory: PatchMemory, spec, features, path) -> None:
    """A memory on its own (for a synth matched with no model: an adapter's ``default_memory``),
    with the spec and features its keys and patches were made with; written atomically."""
    save_atomic({"format": FORMAT, "spec": spec.to_dict(), "features": features.to_dict(),
                 "memory": memory.to_payload()}, path)


def load_memory(path, spec, features) -> PatchMemory | None:
    """The memory in ``path`` if it was made for ``spec`` and ``features``, else None (a memory of
    another spec of the synth); a damaged or foreign file is one line."""
    payload = load_payload(path, FORMAT)
    f = Fields(str(path), "", payload)
    made_for = spec_from_dict(f.get("spec", dict), source=f"{path} (spec)")
    if (made_for.fingerprint() != spec.fingerprint()
            or FeatureConfig.from_dict(f.get("features", dict), str(path)) != features):
        return None
    return PatchMemory.from_payload(f.get("memory", dict), len(spec), features.n_mels, str(path))
