"""``soundmatch train``: from a dataset to a self-describing checkpoint.

Read top to bottom: set up (devices, ranks), split the data, build the model, resume if the run
folder holds a checkpoint, then train epoch by epoch, validating and checkpointing after each.
The same code runs on a CPU, one GPU, or many processes under ``torchrun`` (DDP: each rank reads
its part of the data; rank 0 alone writes).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler

from . import checkpoint
from .augment import Augment
from .dataset import SPLIT, DatasetReader, split_indices
from .errors import SoundmatchError
from .fileio import write_text_atomic
from .models import OutputLayout, ParameterNet, create_model, default_lr
from .runtime import (
    Runtime,
    all_sum,
    autocast,
    autocast_dtype,
    gather_hashes,
    loader_workers,
    make_optimizer,
    setup_runtime,
)

STATS_SAMPLE = 2048


@dataclass
class TrainOptions:
    data: Path | tuple[Path, ...]  # one dataset, or several of one spec trained on together
    out: Path
    backbone: str = "ast-tiny"
    config: dict = field(default_factory=dict)
    epochs: int = 50
    batch_size: int = 64
    lr: float | None = None
    patience: int | None = None
    device: str | None = None
    loader_workers: int | None = None
    seed: int = 0
    time_budget: float | None = None  # minutes of training; ends the epoch it runs out in
    precision: str = "auto"  # see autocast_dtype; not part of identity: a run may move device
    init: Path | None = None  # a checkpoint to start from: its weights and feature statistics
    repeat: int = 1  # how often each dataset after the first is seen per epoch
    augment: tuple[str, ...] = ()  # soundmatch.augment.NAMES, applied to training batches

    def __post_init__(self):
        self.data = (tuple(Path(d) for d in self.data) if isinstance(self.data, (list, tuple))
                     else (Path(self.data),))

    def identity(self) -> dict:
        """What must match for a run folder to be resumed (epochs and budget may grow). The
        options a run of an earlier version could not have are named only where they are set,
        so that its folder still resumes."""
        keep = ("backbone", "config", "batch_size", "lr", "seed")
        identity = {k: v for k, v in asdict(self).items() if k in keep}
        if self.init is not None:
            identity["init"] = str(self.init)
        if self.repeat != 1:
            identity["repeat"] = self.repeat
        if self.augment:
            identity["augment"] = list(self.augment)
        return identity


# ------------------------------------------------------------------------ data


class Examples(Dataset):
    """(features, params) as float32 tensors for some examples, read through memory maps."""

    def __init__(self, reader: DatasetReader, indices: np.ndarray):
        self.reader, self.indices = reader, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        index = int(self.indices[i])
        features, params = self.reader[index]
        return (torch.from_numpy(features.astype(np.float32)),
                torch.tensor(self.reader.note(index), dtype=torch.float32),
                torch.from_numpy(np.array(params)))


def open_datasets(paths: tuple[Path, ...]) -> list[DatasetReader]:
    """The datasets of a run: one, or several of the same spec and features (rendered data and
    real sounds labelled by the search, say)."""
    readers = [DatasetReader(p) for p in paths]
    first = readers[0]
    for other in readers[1:]:
        if other.spec.fingerprint() != first.spec.fingerprint():
            raise SoundmatchError(f"{other.root}: holds spec {other.spec.name}, but {first.root} "
                                  f"holds {first.spec.name} (or another version of it); the "
                                  "datasets of one run share a spec")
        if other.feature_config != first.feature_config:
            raise SoundmatchError(f"{other.root}: its features differ from {first.root}'s")
    return readers


def datasets_key(readers: list[DatasetReader]) -> str:
    """What a run's data is, for resuming: the dataset's key, or one of all their keys."""
    keys = [r.manifest.key() for r in readers]
    return keys[0] if len(keys) == 1 else hashlib.sha256(" ".join(keys).encode()).hexdigest()[:16]


def initial_checkpoint(opts: TrainOptions, reader: DatasetReader):
    """``--init``: the checkpoint to start from, checked to fit the run (same backbone, config,
    spec, input and note range)."""
    from .shipped import resolve_checkpoint

    init = checkpoint.load_checkpoint(resolve_checkpoint(opts.init))
    if init.backbone != opts.backbone:
        raise SoundmatchError(f"--init {opts.init}: a {init.backbone} model, but --backbone is "
                              f"{opts.backbone}")
    if opts.config and any(init.config.get(k) != v for k, v in opts.config.items()):
        raise SoundmatchError(f"--init {opts.init}: its config is {init.config}, not "
                              f"{opts.config}")
    if init.spec.fingerprint() != reader.spec.fingerprint():
        raise SoundmatchError(f"--init {opts.init}: trained on spec {init.spec.name}, but "
                              f"{reader.root} holds {reader.spec.name} (or another version)")
    if init.features != reader.feature_config:
        raise SoundmatchError(f"--init {opts.init}: its features differ from {reader.root}'s")
    return init


def feature_stats(reader: DatasetReader, indices: np.ndarray) -> tuple[float, float]:
    """Mean and std of the log-mel over a fixed sample of training examples."""
    sample = indices[np.linspace(0, len(indices) - 1, min(STATS_SAMPLE, len(indices))).astype(int)]
    values = np.stack([reader[int(i)][0].astype(np.float32) for i in sample])
    return float(values.mean()), float(values.std() + 1e-6)


# ------------------------------------------------------------------------ the loop


def train(opts: TrainOptions, reporter=None) -> dict:
    """Train (or resume) a run; returns the run summary. ``reporter`` (rank 0 only) gets
    ``start(info)``, ``batch(done, total, loss)``, ``epoch(record)`` calls for progress display."""
    rt = setup_runtime(opts.device)
    torch.manual_seed(opts.seed)
    out = Path(opts.out)

    # Data: a deterministic split of each dataset; statistics from the first one's training part
    # (or the starting checkpoint's, which its weights expect).
    readers = open_datasets(opts.data)
    reader = readers[0]
    splits = [split_indices(len(r), opts.seed) for r in readers]
    init = initial_checkpoint(opts, reader) if opts.init is not None else None
    mean, std = init.feature_stats if init is not None else feature_stats(reader,
                                                                          splits[0]["train"])
    layout = OutputLayout.for_spec(reader.spec)
    params = [r.params() for r in readers]  # each dataset's, read once
    train_params = np.concatenate([u[sp["train"]] for u, sp in zip(params, splits, strict=True)])
    baseline = float(np.mean([layout.baseline(train_params, u[sp["val"]])
                              for u, sp in zip(params, splits, strict=True)]))
    input_shape = reader.feature_config.shape(reader.spec.render.num_samples)

    # Model and optimiser.
    config = init.config if init is not None else opts.config
    backbone, config = create_model(opts.backbone, input_shape, layout.num_outputs, **config)
    model = ParameterNet(backbone, mean, std, n_mels=input_shape[0],
                         note_range=reader.spec.render.notes, layout=layout).to(rt.device)
    if init is not None:
        model.load_state_dict(init.model.state_dict())
    lr = opts.lr if opts.lr is not None else default_lr(opts.backbone)
    optimizer = make_optimizer(model, lr, rt.device)
    dtype = autocast_dtype(rt.device, opts.precision)
    augment = Augment(opts.augment, reader.feature_config)

    # Resume from the run folder's last checkpoint, if any.
    history: list[dict] = []
    start_epoch, best = 0, math.inf
    last_path, best_path = out / "last.pt", out / "best.pt"
    if last_path.exists():
        state = checkpoint.load_payload(last_path)
        if state.get("run") != opts.identity() or state.get("dataset_key") != datasets_key(readers):
            raise SoundmatchError(
                f"{out}: holds a different run ({checkpoint.describe(state)}); "
                "use the same options to resume it, or another --out")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        history, start_epoch = state["history"], state["epoch"] + 1
        best = min((h["val_loss"] for h in history), default=math.inf)
    elif rt.main:
        out.mkdir(parents=True, exist_ok=True)

    net = DistributedDataParallel(model) if rt.world > 1 else model
    training = ConcatDataset([Examples(r, np.tile(sp["train"], 1 if i == 0 else opts.repeat))
                              for i, (r, sp) in enumerate(zip(readers, splits, strict=True))])
    sampler = DistributedSampler(training, num_replicas=rt.world, rank=rt.rank, shuffle=True,
                                 seed=opts.seed, drop_last=True)
    workers = loader_workers(opts.loader_workers, rt.device)
    loader = DataLoader(sampler.dataset, batch_size=opts.batch_size, sampler=sampler,
                        num_workers=workers, persistent_workers=workers > 0,
                        pin_memory=rt.device.type == "cuda", drop_last=True)
    if opts.batch_size < 2:  # batch norm (mlp, cnn) cannot train on one example
        raise SoundmatchError(f"--batch-size: found {opts.batch_size}, expected at least 2")
    if len(loader) == 0:
        raise SoundmatchError(f"--batch-size {opts.batch_size} is larger than the training split "
                              f"({len(training) // rt.world} examples per rank)")
    base = checkpoint.header(
        backbone=opts.backbone, config=config, manifest=reader.manifest, input_shape=input_shape,
        feature_stats=(mean, std),
        split=checkpoint.Split(opts.seed, SPLIT, len(reader), str(reader.root),
                               tuple(str(r.root) for r in readers) if len(readers) > 1 else ()),
        run=opts.identity(), dataset_key=datasets_key(readers))
    if reporter and rt.main:
        size = sum(p.numel() for p in model.parameters())
        reporter.start({"backbone": opts.backbone, "params": size,
                        "device": str(rt.device), "world": rt.world, "train": len(training),
                        "val": sum(len(sp["val"]) for sp in splits), "baseline": baseline,
                        "resumed_from": start_epoch, "init": str(opts.init) if init else None,
                        "lr": lr, "loss": layout.loss_name,
                        "precision": "bf16" if dtype == torch.bfloat16 else "fp32"})

    spent = sum(h["seconds"] for h in history)
    stop_reason = "epochs"
    for epoch in range(start_epoch, opts.epochs):
        # Checked before each epoch, so that running a finished run again trains nothing more.
        stop_reason = _stop_reason(history, opts) or stop_reason
        if stop_reason != "epochs":
            break
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        net.train()
        total, count = 0.0, 0
        for step, (x, n, y) in enumerate(loader):
            if augment:  # on the CPU, before the batch moves: a seeded draw per step
                x, n = augment(x, n, torch.Generator().manual_seed(
                    (opts.seed * 1_000_003 + epoch) * 1_000_003 + step))
            x, n, y = (t.to(rt.device, non_blocking=True) for t in (x, n, y))
            with autocast(rt.device, dtype):
                loss = layout.loss(net(x, n, raw=True).float(), y)
            if not torch.isfinite(loss):
                raise SoundmatchError(
                    f"epoch {epoch}, step {step}: the training loss is {loss.item()}: damaged "
                    f"features in {opts.data}, or a learning rate too high (--lr {lr:g})")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, count = total + loss.item() * len(x), count + len(x)
            if reporter and rt.main:
                reporter.batch((step + 1) * len(x) * rt.world, len(loader) * len(x) * rt.world,
                               total / count)
            if _out_of_time(opts, spent + time.perf_counter() - started, rt):
                break  # validated and saved like a whole epoch; a resumed run starts the next
        total, count = all_sum([total, count], rt)
        # Each dataset's validation loss, and their mean: labelled real sounds weigh as much as
        # a rendered set a hundred times larger.
        val_losses = [evaluate_loss(model, r, sp["val"], rt, opts.batch_size, dtype)
                      for r, sp in zip(readers, splits, strict=True)]
        val_loss = float(np.mean(val_losses))
        seconds = time.perf_counter() - started
        spent += seconds
        record = {"epoch": epoch, "train_loss": total / count, "val_loss": val_loss,
                  "baseline_val_loss": baseline, "lr": lr, "seconds": round(seconds, 3),
                  "samples": int(count), "samples_per_s": round(count / seconds, 1)}
        if len(readers) > 1:
            record["val_loss_by_data"] = val_losses
        history.append(record)
        improved = val_loss < best
        best = min(best, val_loss)
        if rt.main:
            if improved:
                checkpoint.save_atomic(checkpoint.with_weights(base, model, epoch, history),
                                       best_path)
            checkpoint.save_atomic(checkpoint.with_weights(base, model, epoch, history,
                                                           optimizer), last_path)
            # Rewritten whole from the checkpoint's history, so it never disagrees with it.
            write_text_atomic(out / "metrics.jsonl",
                              "".join(json.dumps(h) + "\n" for h in history))
            if reporter:
                reporter.epoch(record)

    hashes = gather_hashes(model, rt)
    if not math.isfinite(best):
        raise SoundmatchError(f"{opts.data}: the validation loss was never finite; damaged "
                              "features, or a learning rate too high")
    summary = {"loss": layout.loss_name, "best_val_loss": best,
               "baseline_val_loss": baseline, "epochs": len(history),
               "stopped_by": stop_reason, "best": str(best_path), "last": str(last_path),
               "train_seconds": round(spent, 1), "replica_weight_hashes": hashes}
    if rt.main:
        from .plots import plot_history

        plot_history(history, out / "loss.png", title=f"{opts.backbone} on {opts.data}")
        write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    if rt.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return summary


@torch.no_grad()
def evaluate_loss(model: torch.nn.Module, reader: DatasetReader, indices: np.ndarray,
                  rt: Runtime, batch_size: int, dtype: torch.dtype | None = None) -> float:
    """The training loss (mean squared error where there are no choice parameters) over
    ``indices``; each rank takes every world-th example, exactly."""
    model.eval()
    part = Examples(reader, indices[rt.rank::rt.world])
    total, count = 0.0, 0
    for x, n, y in DataLoader(part, batch_size=batch_size):
        x, n, y = x.to(rt.device), n.to(rt.device), y.to(rt.device)
        with autocast(rt.device, dtype):
            outputs = model(x, n, raw=True).float()
        total += float(model.layout.loss_terms(outputs, y).mean(dim=1).sum())
        count += len(x)
    total, count = all_sum([total, count], rt)
    return total / count


def _out_of_time(opts: TrainOptions, seconds: float, rt: Runtime) -> bool:
    """Whether the budget is spent; every rank follows rank 0's clock, so all stop together."""
    if opts.time_budget is None:
        return False
    flag = torch.tensor([float(seconds >= opts.time_budget * 60)], device=rt.device)
    if rt.world > 1:
        dist.broadcast(flag, src=0)
    return bool(flag.item())


def _stop_reason(history: list[dict], opts: TrainOptions) -> str | None:
    """Why training should stop before another epoch, other than running out of epochs."""
    if opts.patience is not None and history and _epochs_since_best(history) >= opts.patience:
        return "patience"
    if opts.time_budget is not None and sum(h["seconds"] for h in history) >= opts.time_budget * 60:
        return "time budget"
    return None


def _epochs_since_best(history: list[dict]) -> int:
    losses = [h["val_loss"] for h in history]
    return len(losses) - 1 - int(np.argmin(losses))
