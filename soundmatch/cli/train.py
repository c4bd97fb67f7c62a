"""``soundmatch train``: options in, progress and the run's summary out."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.progress import TextColumn

from ..errors import SoundmatchError
from .common import (
    DEVICE,
    POSITIVE,
    RateColumn,
    print_fields,
    progress_bar,
    stderr,
)


def _parse_config(items: tuple[str, ...]) -> dict:
    """KEY=VALUE pairs; values are YAML scalars or lists (``depth=4``, ``stride=[10,16]``)."""
    import yaml

    config = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SoundmatchError(f"--config: found '{item}', expected KEY=VALUE")
        try:
            config[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise SoundmatchError(f"--config: found '{item}', expected a YAML value") from None
    return config


class TrainReporter:
    """Rich progress for ``train``: one bar per epoch with samples/s and the running loss."""

    def __init__(self):
        self.progress = progress_bar("[bold]train[/] {task.description}",
                                     RateColumn("samples/s"),
                                     TextColumn("loss {task.fields[loss]}"))
        self.task = None

    def start(self, info):
        if info["resumed_from"]:
            stderr.print(f"Resuming at epoch {info['resumed_from']}.")
        stderr.print(
            f"{info['backbone']}: {info['params']:,} parameters on {info['device']}"
            + (f" x {info['world']} processes" if info["world"] > 1 else "")
            + f" ({info['precision']})"
            + (f", from {info['init']}" if info.get("init") else "")
            + f"; {info['train']:,} training and {info['val']:,} validation examples; "
            f"lr {info['lr']:g}. Constant predictor: validation {info['loss']} "
            f"{info['baseline']:.4f}.")
        self.progress.start()

    def batch(self, done, total, loss):
        if self.task is None:
            self.task = self.progress.add_task("", total=total, loss="…")
        self.progress.update(self.task, completed=done, total=total, loss=f"{loss:.4f}")

    def epoch(self, record):
        self.progress.update(self.task, description=f"epoch {record['epoch']}")
        self.progress.stop_task(self.task)
        each = record.get("val_loss_by_data")
        stderr.print(f"epoch {record['epoch']}: train {record['train_loss']:.4f}  validation "
                     f"{record['val_loss']:.4f}"
                     + (" (" + ", ".join(f"{v:.4f}" for v in each) + " by dataset)" if each
                        else "")
                     + f"  ({record['samples_per_s']:,.0f} samples/s, {record['seconds']:.0f} s)")
        self.progress.remove_task(self.task)
        self.task = None

    def close(self):
        self.progress.stop()


@click.command()
@click.option("--data", type=click.Path(path_type=Path), required=True, multiple=True,
              help="Dataset folder; repeat it to train on several of one spec (rendered, and "
                   "real sounds from `label`).")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Times each --data after the first is seen per epoch.")
@click.option("--init", metavar="PATH|NAME", help="Start from this checkpoint's weights (a file "
              "or a shipped model's name): fine-tuning.")
@click.option("--augment", metavar="NAMES", help="Augment training batches as real recordings "
              "differ from renders: all, or some of level,tilt,noise,room,onset,detune.")
@click.option("--backbone", default="ast-tiny", show_default=True,
              help="Backbone name (`soundmatch plugins` lists them).")
@click.option("--config", "config_items", multiple=True, metavar="KEY=VALUE",
              help="Override a backbone setting, e.g. --config depth=4 (repeatable).")
@click.option("--epochs", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=2), default=64, show_default=True,
              help="Examples per step; at least 2 (batch norm, in mlp and cnn, needs two).")
@click.option("--lr", type=POSITIVE, help="Adam learning rate. [default: the backbone's: 5e-5 "
              "for ast*, 3e-4 for mlp and cnn]")
@click.option("--patience", type=click.IntRange(min=1),
              help="Stop after this many epochs without a better validation loss.")
@click.option("--time-budget", type=POSITIVE, metavar="MINUTES",
              help="Stop when this much training time is used up (mid-epoch: that epoch is "
              "validated and saved, shorter).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Run folder. [default: runs/BACKBONE]")
@click.option("--device", type=DEVICE,
              help="cuda, cuda:1, mps or cpu. [default: the best available]")
@click.option("--loader-workers", type=click.IntRange(min=0),
              help="DataLoader worker processes. [default: by device and cores]")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the split, the initial weights and the shuffling.")
@click.option("--precision", type=click.Choice(["auto", "bf16", "fp32"]), default="auto",
              show_default=True, help="Autocast dtype of the forward and backward; auto: bf16 "
              "where the hardware has it (a CUDA GPU, a CPU with AMX or AVX-512 BF16).")
def train(data, repeat, init, augment, backbone, config_items, epochs, batch_size, lr, patience,
          time_budget, out, device, loader_workers, seed, precision):
    """Train a backbone on a dataset; keeps the best and the last checkpoint.

    Resumable: run the same command again after an interruption and it continues from the last
    finished epoch. Under torchrun it trains with DDP.
    """
    from ..augment import parse
    from ..train import TrainOptions
    from ..train import train as run_training

    opts = TrainOptions(data=data, out=out or Path("runs") / backbone, backbone=backbone,
                        config=_parse_config(config_items), epochs=epochs, batch_size=batch_size,
                        lr=lr, patience=patience, device=device, loader_workers=loader_workers,
                        seed=seed, time_budget=time_budget, precision=precision, init=init,
                        repeat=repeat, augment=parse(augment))
    main_rank = os.environ.get("RANK", "0") == "0"
    reporter = TrainReporter() if main_rank else None
    try:
        summary = run_training(opts, reporter)
    finally:
        if reporter:
            reporter.close()
    if main_rank:
        print_fields([
            (f"best validation {summary['loss']}",
             f"{summary['best_val_loss']:.4f} (constant predictor "
             f"{summary['baseline_val_loss']:.4f})"),
            ("epochs", f"{summary['epochs']} (stopped by {summary['stopped_by']}), "
                       f"{summary['train_seconds']:,.0f} s of training"),
            ("checkpoints", f"{summary['best']} (best), {summary['last']} (last)"),
            ("curves", f"{opts.out / 'loss.png'}, {opts.out / 'metrics.jsonl'}"),
        ])
