"""The ``soundmatch`` command line. Commands are thin: they parse options, call a job, show results.

A user's mistake (``SoundmatchError``) is printed as one line and exits with status 1; no traceback.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from . import __version__, plugins
from .errors import SoundmatchError
from .fileio import check_regular

stderr = Console(stderr=True, soft_wrap=True, highlight=False)
stdout = Console(soft_wrap=True, highlight=False)


# What Ctrl-C leaves, by command: only render and train resume.
INTERRUPTED = {
    "render": "Interrupted. Run the same command again to resume.",
    "train": "Interrupted. Run the same command again to resume.",
    "match": "Interrupted. The matches written so far are whole; the input being matched was not "
             "written.",
    "serve": "Stopped. Finished matches stay in the folder; a match that was running is listed "
             "as interrupted.",
}


class SoundmatchGroup(click.Group):
    """Turns a user's mistake into one line on stderr and a non-zero exit."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SoundmatchError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            # A folder that cannot be created or written (under a file, read-only, /proc...):
            # the file and the reason, not a traceback. Errors naming no file are bugs: raised.
            if exc.filename is None:
                raise
            raise click.ClickException(f"{exc.filename}: {exc.strerror or exc}") from None
        except KeyboardInterrupt:
            stderr.print(INTERRUPTED.get(ctx.invoked_subcommand, "Interrupted; nothing half "
                                         "written is left."))
            sys.exit(130)


@click.group(cls=SoundmatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="soundmatch")
def cli():
    """Synthesizer sound matching: set a synth's parameters so that it plays a given sound."""


def main():
    try:
        code = cli.main(prog_name="soundmatch", standalone_mode=False)
    except click.UsageError as exc:
        # One line, like every other mistake; the usage it would repeat is in --help.
        where = exc.ctx.command_path if exc.ctx is not None else "soundmatch"
        click.echo(f"Error: {exc.format_message()} (see '{where} --help')", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


def synth_path_option(f):
    """``--synth-path`` (formerly ``--plugin-path``, still accepted): the synth's file, and
    ``--synth-file KEY=PATH``: files for spec options. Passed down (worker processes included)
    through the environment, so the dataset's manifest stays independent of this machine."""

    def set_env(ctx, param, value):
        from .adapter import SYNTH_PATH_ENV

        if value is not None:
            os.environ[SYNTH_PATH_ENV] = str(Path(value).resolve())
        return value

    def set_files(ctx, param, values):
        from .adapter import SYNTH_FILES_ENV

        pairs = []
        for value in values:
            key, sep, path = value.partition("=")
            if not sep or not key.strip() or not path:
                raise click.BadParameter(f"found {value!r}, expected KEY=PATH (e.g. "
                                         "base_voice=voices.syx)", ctx, param)
            pairs.append(f"{key.strip()}={Path(path).expanduser().resolve()}")
        if pairs:
            os.environ[SYNTH_FILES_ENV] = os.pathsep.join(pairs)
        return values

    f = click.option("--synth-file", metavar="KEY=PATH", multiple=True, expose_value=False,
                     callback=set_files, is_eager=True,
                     help="A file for the spec option KEY (a base voice or plugin state), "
                          "overriding the spec; the only way a checkpoint's or dataset's spec "
                          "gets a file opened. Repeatable.")(f)
    return click.option("--synth-path", "--plugin-path", type=click.Path(path_type=Path),
                        expose_value=False, callback=set_env, is_eager=True,
                        help="The synth's file (a VST3 plugin), overriding the spec and the "
                             "usual install locations. (--plugin-path: the old name.)")(f)


# ------------------------------------------------------------------------ render


class RateColumn(TextColumn):
    def __init__(self, unit: str = "ex/s"):
        super().__init__("")
        self.unit = unit

    def render(self, task):
        speed = task.finished_speed or task.speed
        return f"{speed:,.0f} {self.unit}" if speed else f"… {self.unit}"


class FiniteNumber(click.ParamType):
    """A finite number that ``accepts`` takes (click's FloatRange lets NaN through)."""

    name = "number"

    def __init__(self, accepts, expected: str):
        self.accepts, self.expected = accepts, expected

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number) or not self.accepts(number):
            self.fail(f"found {value!r}, expected {self.expected}", param, ctx)
        return number


class DeviceType(click.ParamType):
    name = "device"

    def convert(self, value, param, ctx):
        import torch

        try:
            torch.device(value)
        except (RuntimeError, ValueError):
            self.fail(f"found {value!r}, expected cpu, cuda, cuda:N or mps", param, ctx)
        return value


POSITIVE = FiniteNumber(lambda x: x > 0, "a finite number above 0")
NOTE = FiniteNumber(lambda x: 0 <= x <= 127, "a MIDI note 0..127 (60 is C4)")
DEVICE = DeviceType()


class BudgetType(click.ParamType):
    """``--refine``: renders (``200``) or seconds (``8s``); ``default`` for the default."""

    name = "budget"

    def convert(self, value, param, ctx):
        from .matcher import DEFAULT_REFINE
        from .search import Budget

        text = DEFAULT_REFINE if str(value) == "default" else str(value)
        if Path(text).is_file():
            return text  # an input after a bare --refine: `match` takes it back
        try:
            Budget(text)
        except ValueError:
            self.fail(f"found {value!r}, expected a number of renders (200) or seconds (8s)",
                      param, ctx)
        return text


BUDGET = BudgetType()


def unique_stems(paths) -> dict:
    """A results name per input: its stem, or stem-2, stem-3... where two inputs share one
    (a/x.flac and b/x.wav), so that no result overwrites another."""
    taken: dict[str, int] = {}
    names = {}
    for path in paths:
        stem = Path(path).stem
        taken[stem] = taken.get(stem, 0) + 1
        names[path] = stem if taken[stem] == 1 else f"{stem}-{taken[stem]}"
    return names


def writable_folder(path: Path, option: str) -> Path:
    """Create ``path`` and prove it writable before any work is done for it."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".soundmatch-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SoundmatchError(f"{option} {path}: cannot write there "
                              f"({exc.strerror or exc})") from None
    return path


def announce_synth(adapter) -> None:
    """Say which native file runs, whenever an adapter loaded one."""
    loaded = adapter.loaded_file()
    if loaded is not None:
        stderr.print(f"synth: {type(adapter).__name__} loaded {loaded}")


def _print_fields(lines: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in lines) + 2
    for label, text in lines:
        stdout.print(f"{label:<{width}}{text}")


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError


@cli.command()
@click.option("--synth", metavar="NAME",
              help="Synth adapter; renders its default spec. [default: builtin]")
@click.option("--spec", "spec_name", metavar="NAME|PATH",
              help="Parameter spec (a file or a registered name).")
@click.option("--count", type=int, default=10_000, show_default=True,
              help="Examples in the dataset.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="Dataset folder. [default: data/SPEC_NAME]")
@click.option("--workers", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default="all cores", help="Render processes, one synth instance each.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--shard", "shard_text", default="0/1", show_default=True, metavar="i/N",
              help="Render only shards with index % N == i (for several processes or machines).")
@click.option("--shard-size", type=int, default=None,
              help="Examples per shard; the unit of resuming. [default: count/32, 32..512]")
@click.option("--keep-audio", is_flag=True, help="Also store the audio (float16; large).")
@synth_path_option
@click.option("--no-check", is_flag=True,
              help="Skip the check that every parameter reaches the audio (noted in the manifest).")
def render(synth, spec_name, count, out, workers, seed, shard_text, shard_size, keep_audio,
           no_check):
    """Render a dataset of (parameters, log-mel) pairs from a synth.

    Resumable: run the same command again after an interruption and it continues where it stopped.
    """
    from .render import parse_shard, render_dataset

    spec = plugins.resolve_spec(synth, spec_name)
    shard = parse_shard(shard_text)
    out = out or Path("data") / spec.name
    if no_check:
        stderr.print("Skipping the parameter check (--no-check); the manifest says so.")
        writable_folder(out, "--out")
    # The check runs inside render_dataset, before anything is written; its spinner and the
    # progress bar are live displays, so the bar starts only once the rendering does.
    status = stderr.status(f"Checking the {len(spec)} parameters of {spec.name}…")
    columns = (TextColumn("[bold]render[/] {task.description}"), BarColumn(),
               MofNCompleteColumn(), RateColumn(), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn())
    bar = Progress(*columns, console=stderr, transient=False)
    task = bar.add_task(spec.name, total=None)

    def on_check(results, notes):
        status.stop()
        _report_check(spec, results, notes, quiet=True)
        writable_folder(out, "--out")  # after the check: a refused spec leaves no folder behind

    def on_start(total, present):
        if present:
            stderr.print(f"Resuming {out}: {present:,} of {count:,} examples already there.")
        stderr.print(f"Rendering {total:,} examples of {spec.name} into {out} "
                     f"with {workers} worker{'s' if workers > 1 else ''}.")
        bar.start()
        bar.update(task, total=total)

    try:
        if not no_check:
            status.start()
        summary = render_dataset(
            spec, out, count, workers=workers, seed=seed, shard=shard, shard_size=shard_size,
            keep_audio=keep_audio, check=not no_check, on_check=on_check, on_start=on_start,
            on_progress=lambda n: bar.update(task, completed=n),
        )
    finally:
        status.stop()
        bar.stop()
    dropped_pct = 100 * summary.dropped / max(1, summary.dropped + summary.rendered)
    lines = [
        ("dataset", f"{summary.out}  ({summary.present:,} of {summary.count:,} examples, "
                    f"{summary.shards_done} of {summary.shards_total} shards)"),
        ("rendered now", f"{summary.rendered:,} in {summary.seconds:,.1f} s "
                         f"({summary.rate:,.1f} examples/s)"),
        ("dropped", f"{summary.dropped:,} renders below {spec.render.silence_threshold_db:g} dBFS "
                    f"({dropped_pct:.1f} %)"),
        ("size on disk", _human_bytes(summary.bytes_on_disk)),
    ]
    if summary.worker_deaths:
        lines.append(("worker crashes", f"{summary.worker_deaths}; {summary.lost:,} renders lost "
                      "(the patches that crashed the synth were skipped, their shards redone)"))
    _print_fields(lines)
    if summary.failed_shards:
        raise SoundmatchError(
            f"{summary.failed_shards} shards failed; run the command again to retry them")
    if not summary.complete:
        stderr.print(f"This process's shards ({shard_text}) are done; the dataset is complete "
                      "when the other --shard runs finish.")


# ------------------------------------------------------------------------ label

DEFAULT_LABEL_BUDGET = "300"  # renders per sound: about 2 s of builtin-rich on 2 cores


@cli.command()
@click.argument("sounds", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Dataset folder to write (or resume).")
@click.option("--checkpoint", metavar="PATH|NAME",
              help="Model whose guesses join the search's starts. [default: the shipped model]")
@click.option("--synth", metavar="NAME", help="Label on this synth with no model, as "
              "`match --synth` does.")
@click.option("--spec", "spec_name", metavar="NAME|PATH", help="Label with no model, searching "
              "this spec.")
@click.option("--refine", default=DEFAULT_LABEL_BUDGET, show_default=True, metavar="RENDERS",
              help="Search budget per sound, in renders (a time budget would not reproduce).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--shard-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default=True, help="Render threads (or processes) of the search.")
@synth_path_option
def label(sounds, out, checkpoint, synth, spec_name, refine, seed, shard_size, workers):
    """Match real sounds with the search and store them as a dataset to train on.

    SOUNDS are audio files or folders of them. Each becomes one example: its log-mel, the best
    patch the search found, the note and the search's distance. Train on it beside rendered data
    with `train --data RENDERED --data LABELLED`. Resumable like render.
    """
    from .label import label_dataset, readable, sound_files
    from .matcher import Matcher

    if checkpoint is not None and spec_name is not None:
        raise click.UsageError("--checkpoint and --spec: give one (a checkpoint has its spec)")
    files = sound_files(sounds)
    writable_folder(out, "--out")
    if checkpoint is None and (synth is not None or spec_name is not None):
        matcher = Matcher.for_synth(synth, spec_name, workers=workers)
    else:
        matcher = Matcher.load(checkpoint, synth, workers=workers)
    announce_synth(matcher.adapter)
    skipped = []
    files = readable(matcher, files, lambda path, why: skipped.append(why))
    for why in skipped:
        stderr.print(f"skipped: {why}")
    if not files:
        raise SoundmatchError("none of the sounds given could be read")
    columns = (TextColumn("[bold]label[/] {task.description}"), BarColumn(), MofNCompleteColumn(),
               RateColumn("sounds/s"), TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    bar = Progress(*columns, console=stderr, transient=False)
    task = bar.add_task(matcher.spec.name, total=None, info="")

    def on_start(total, present):
        if present:
            stderr.print(f"Resuming {out}: {present:,} of {len(files):,} sounds already there.")
        stderr.print(f"Labelling {total:,} sounds on {matcher.spec.name} with {refine} renders "
                     f"each into {out}.")
        bar.start()
        bar.update(task, total=total)

    def on_sound(path, found):
        bar.update(task, advance=1, info=f"{path.name}: distance {found.scores['distance']:.3f}")

    try:
        summary = label_dataset(matcher, files, out, refine=refine, seed=seed,
                                shard_size=shard_size, on_start=on_start, on_sound=on_sound)
    finally:
        bar.stop()
    _print_fields([
        ("dataset", f"{summary.out}  ({summary.count:,} sounds, {summary.shards_done} of "
                    f"{summary.shards_total} shards)"),
        ("labelled now", f"{summary.labelled:,} in {summary.seconds:,.1f} s"),
        ("left out", f"{len(skipped)} files that could not be read"),
    ])


# ------------------------------------------------------------------------ train


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
        self.progress = Progress(TextColumn("[bold]train[/] {task.description}"), BarColumn(),
                                 MofNCompleteColumn(), RateColumn("samples/s"),
                                 TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
                                 TextColumn("ETA"), TimeRemainingColumn(), console=stderr)
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


@cli.command()
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
    from .augment import parse
    from .train import TrainOptions
    from .train import train as run_training

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
        _print_fields([
            (f"best validation {summary['loss']}",
             f"{summary['best_val_loss']:.4f} (constant predictor "
             f"{summary['baseline_val_loss']:.4f})"),
            ("epochs", f"{summary['epochs']} (stopped by {summary['stopped_by']}), "
                       f"{summary['train_seconds']:,.0f} s of training"),
            ("checkpoints", f"{summary['best']} (best), {summary['last']} (last)"),
            ("curves", f"{opts.out / 'loss.png'}, {opts.out / 'metrics.jsonl'}"),
        ])


# ------------------------------------------------------------------------ evaluate


@cli.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--data", type=click.Path(path_type=Path), required=True, help="Dataset folder.")
@click.option("--split", type=click.Choice(["test", "val", "train", "all"]), default="test",
              show_default=True, help="Which examples: the checkpoints' split, or all.")
@click.option("--count", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="At most this many examples of the split.")
@click.option("--workers", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default="all cores", help="Render processes.")
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option("--report", type=click.Path(file_okay=False, path_type=Path),
              help="Write an HTML page with audio and spectrograms of some examples here.")
@synth_path_option
def evaluate(checkpoints, data, split, count, workers, as_json, report):
    """Score checkpoints on a dataset: parameter MSE, spectral convergence and spectral distance
    between the renders of the true and the predicted patches (the paper's Table 2), and for
    synths with discrete parameters, accuracy per choice and error in steps."""
    import numpy as np

    from .evaluate import evaluate as run_evaluation
    from .evaluate import write_report

    if report:
        writable_folder(report, "--report")

    columns = (TextColumn("[bold]evaluate[/]"), BarColumn(), MofNCompleteColumn(),
               RateColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn())
    # Transient: a plugin that cannot load stops the run with one line, not a bar and a line.
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("", total=None)
        scores, details = run_evaluation(
            checkpoints, data, split=split, count=count, workers=workers,
            on_start=lambda n: bar.update(task, total=n),
            on_progress=lambda n: bar.update(task, completed=n))
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in scores], indent=2))
    else:
        table = Table(title=f"{scores[0].count} {split} examples of {data}", box=box.SIMPLE_HEAD)
        table.add_column("")
        for s in scores:
            table.add_column(f"{s.name}\n({s.backbone})", justify="right")
        table.add_row("parameter MSE", *(f"{s.mse:.4f}" for s in scores))
        table.add_row("SC (mean)", *(f"{s.sc:.3f}" for s in scores))
        table.add_row("SC (median)", *(f"{s.sc_median:.3f}" for s in scores))
        table.add_row("spectral distance", *(f"{s.distance:.3f}" for s in scores))
        if scores[0].accuracy:
            table.add_row("choice accuracy (mean)",
                          *(f"{np.mean(list(s.accuracy.values())):.3f}" for s in scores))
        if scores[0].step_error:
            table.add_row("step error (mean steps)",
                          *(f"{np.mean(list(s.step_error.values())):.2f}" for s in scores))
        table.add_section()
        for p in scores[0].per_parameter_mse:
            table.add_row(f"MSE {p}", *(f"{s.per_parameter_mse[p]:.4f}" for s in scores))
        for p in scores[0].accuracy:
            table.add_row(f"accuracy {p}", *(f"{s.accuracy[p]:.3f}" for s in scores))
        stdout.print(table)
    if report:
        page = write_report(report, scores, details)
        stderr.print(f"Report: {page}")


# ------------------------------------------------------------------------ match


@cli.command()
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--checkpoint", metavar="PATH|NAME",
              help="Model to use: a checkpoint file, or a shipped model by name: builtin-rich "
                   "(the default, for real sounds) or builtin-16 (the paper's 16 parameters).")
@click.option("--synth", metavar="NAME", help="Synth to play the match on. With no "
              "--checkpoint, matched with no model: from the spec's defaults and presets, by "
              "searching the synth's search spec (a shipped model for that spec joins). With "
              "one, it must fit the checkpoint's spec. [default: the checkpoint's]")
@click.option("--spec", "spec_name", metavar="NAME|PATH", help="Match with no model, searching "
              "this spec's parameters (a registered name or a YAML file).")
@click.option("--presets", type=click.Path(path_type=Path), multiple=True,
              help="Preset files or folders (anything the synth's adapter reads: .syx/.dx7 "
                   "banks, .vstpreset, .yaml) to start from; each is played at the input's "
                   "pitch and the closest grow into matches. Repeatable. [default: the banks "
                   "the adapter finds installed, e.g. hexter's DX7 voices for dexed]")
@click.option("--candidates", type=click.IntRange(1, 20), default=1, show_default=True,
              help="Write the K best distinct matches, ranked (STEM.2.*, STEM.3.*...), each "
                   "grown from its own start with a K-th of the budget.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("matches"),
              show_default=True, help="Folder for the results.")
@click.option("--note", type=NOTE, help="MIDI note to play the match at "
              "(fractional: 60.5 is a quarter tone above C4). [default: the input's detected "
              "pitch, to the cent, else the spec's note]")
@click.option("--refine", type=BUDGET, default="0", is_flag=False, flag_value="default",
              show_default=True, metavar="[N|Ss]",
              help="Search for a closer patch: N renders, or S seconds (e.g. 8s), from the best "
                   "of several starts. `--refine` alone: the default budget (6s).")
@click.option("--level", type=click.Choice(["least-squares", "energy"]),
              default="least-squares", show_default=True,
              help="The level the match is written at: the gain closest to the input's "
                   "spectrogram, or the input's energy.")
@click.option("--workers", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default="all cores", help="Threads (or, for plugins that must render on a "
              "main thread, processes) that render the search's candidates.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="The search's random seed. With a render budget (--refine 500) the same "
                   "seed gives the same files on any machine; a time budget (--refine 6s) "
                   "tries as many renders as the machine manages, so results can differ.")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list, one object per input (files, notes, gain, scores, "
                   "start, candidates), instead of tables.")
@synth_path_option
def match(inputs, checkpoint, synth, spec_name, presets, candidates, out, note, refine, level,
          workers, seed, as_json):
    """Set the synth's parameters so that it plays each input sound.

    Writes, per input: the matched audio, the parameters (YAML, synth units), a preset for the
    synth, and a PNG comparing the spectrograms.
    """
    from .matcher import DEFAULT_REFINE, Matcher
    from .presets import read_presets

    if refine not in ("0", DEFAULT_REFINE) and Path(refine).is_file():
        # `match --refine in.wav`: the bare flag took the input as its value
        inputs, refine = (Path(refine), *inputs), DEFAULT_REFINE
    if not inputs:
        raise click.UsageError("Missing argument 'INPUTS...'.")
    writable_folder(out, "--out")
    if checkpoint is not None and spec_name is not None:
        raise click.UsageError("--checkpoint and --spec: give one (a checkpoint has its spec)")
    if checkpoint is None and (synth is not None or spec_name is not None):
        matcher = Matcher.for_synth(synth, spec_name, workers=workers, level=level)
    else:
        matcher = Matcher.load(checkpoint, synth, workers=workers, level=level)
    announce_synth(matcher.adapter)
    found, skipped = read_presets(matcher.adapter, presets or matcher.adapter.default_presets())
    for path, reason in skipped:
        stderr.print(f"skipped {path}: {reason}")
    matcher.presets = found
    if not as_json:  # stdout: stderr is for what went wrong, --json's stdout for JSON alone
        model = (f"the model {matcher.checkpoint.path.name}" if matcher.checkpoint is not None
                 else "no model: the spec's defaults")
        stdout.print(f"Matching on {matcher.spec.adapter} ({matcher.spec.name}, "
                     f"{len(matcher.spec)} parameters) from {model}"
                     + (f" and {len(found)} presets" if found else ""))
    stems = unique_stems(inputs)
    failures, records = 0, []
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn())
    # Drawn only on a terminal: a script or a log gets the results, not the animation.
    with Progress(*columns, console=stderr, transient=True,
                  disable=not stderr.is_terminal) as bars:
        batch = bars.add_task("inputs", total=len(inputs), info="")
        search_bar = bars.add_task("search", total=None, info="")
        for path in inputs:
            bars.update(search_bar, description=Path(path).name, completed=0, info="starting")

            def on_render(n, best, _bar=search_bar):
                bars.update(_bar, completed=n, info=f"best distance {best:.4f}")

            try:
                result = matcher.match(path, note=note, refine=refine, on_render=on_render,
                                       candidates=candidates, seed=seed)
                paths = matcher.save(result, out, stem=stems[path])
            except SoundmatchError as exc:
                if len(inputs) == 1:
                    raise  # one input: its error is the whole message
                bars.console.print(f"Error: {exc}")
                failures += 1
                continue
            finally:
                bars.advance(batch)
            records.append(_match_record(matcher, result, stems[path], paths))
            write_scores_table(out, stems[path])
            if not as_json:
                _print_match(matcher, result, paths)
    if as_json:
        click.echo(json.dumps(records, indent=1))
    if failures:
        raise SoundmatchError(f"{failures} of {len(inputs)} inputs could not be matched")


SCORE_COLUMNS = ("stem", "input", "note", "detected_note", "octave", "preset_key", "gain_db",
                 "level_limited_db", "distance", "spectral_convergence", "spectral_distance",
                 "renders", "start")


def _match_record(matcher, result, stem: str, paths: dict) -> dict:
    """What ``match --json`` prints for one input."""
    s = result.scores
    return {
        "input": result.source, "stem": stem,
        "files": {kind: str(p) for kind, p in paths.items()},
        **matcher.pitch_fields(result), "level_limited_db": s.get("level_limited_db", 0.0),
        "start": result.origin,
        "scores": {k: round(float(v), 5) for k, v in s.items()},
        "candidates": [{"rank": rank, "start": o.origin,
                        "distance": round(float(o.scores["distance"]), 5),
                        "spectral_convergence": round(float(o.scores["spectral_convergence"]),
                                                      5)}
                       for rank, o in enumerate(result.others, start=2)],
    }


def write_scores_table(out: Path, stem: str) -> Path:
    """``OUT/scores.csv``: one row per match in the folder (its best candidate). ``stem``'s row
    is read from its ``.params.yaml`` under the folder's lock, so that it agrees with the set on
    disk whoever wrote it; the other rows are kept while their records exist (a batch costs one
    record read per input, not one per input and match in the folder); written whole."""
    import csv
    import io

    from .fileio import FolderLock, read_bounded, write_text_atomic

    path = out / "scores.csv"
    with FolderLock(out):
        rows: dict[str, dict] = {}
        if path.is_file():
            try:
                text = read_bounded(path, 64 << 20, "scores table").decode()
                rows = {r["stem"]: r for r in csv.DictReader(io.StringIO(text))
                        if r.get("stem") and (out / f"{r['stem']}.params.yaml").is_file()}
            except (SoundmatchError, UnicodeDecodeError, csv.Error):
                rows = {}  # damaged or not ours: rebuilt as the batch goes
        row = _scores_row(out, stem)
        if row is not None:
            rows[stem] = row
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, SCORE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows[k] for k in sorted(rows))
        return write_text_atomic(path, buffer.getvalue())


def _scores_row(out: Path, stem: str) -> dict | None:
    """``stem``'s row of the scores table, from its match record; None if it has none."""
    import yaml

    from .fileio import read_bounded

    try:
        record = yaml.safe_load(read_bounded(out / f"{stem}.params.yaml", 1 << 20,
                                             "match record"))
        s = record["scores"]
        return {"stem": stem, "input": record["source"], "note": record["note"],
                "detected_note": record.get("detected_note"), "octave": record.get("octave", 0),
                "preset_key": record.get("preset_key"), "gain_db": record["gain_db"],
                "level_limited_db": s.get("level_limited_db", 0.0), "distance": s["distance"],
                "spectral_convergence": s["spectral_convergence"],
                "spectral_distance": s["spectral_distance"], "renders": s.get("renders", 0),
                "start": record.get("start", "")}
    except (SoundmatchError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None


def _print_match(matcher, result, paths) -> None:
    pitch = (f"detected {result.detected:.2f}, played {result.note:.2f}" if result.pitched
             else f"no pitch detected, played at note {result.note:.2f}")
    if result.octave:
        pitch += f", {result.octave:+d} octave"
    shift = matcher.transposition(result)
    if shift:
        pitch += f"; preset transposed {shift:+d} to play from key {result.key}"
    elif result.key is not None and round(result.note) != result.key:
        pitch += f"; play the preset at key {round(result.note)}"
    table = Table(title=f"{result.source} ({pitch})", box=box.SIMPLE_HEAD)
    for col in ("parameter", "value", "unit"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for p in matcher.spec.parameters:
        value = result.patch[p.name]
        table.add_row(p.name, p.label(value), p.unit)
    stdout.print(table)
    s = result.scores
    line = (f"gain {result.gain_db:+.1f} dB; match distance {s['distance']:.4f}, spectral "
            f"distance {s['spectral_distance']:.4f}, SC {s['spectral_convergence']:.3f}")
    if "renders" in s:
        guess = (f"the network's guess: {s['distance_network']:.4f}; "
                 if matcher.model is not None else "")
        line += f" ({guess}grew from {result.origin}; refined in {int(s['renders'])} renders)"
    stdout.print(line)
    if s.get("level_limited_db", 0.0) < 0:
        stdout.print(f"level limited by {-s['level_limited_db']:.1f} dB so that the match does "
                     "not clip")
    for rank, other in enumerate(result.others, start=2):
        stdout.print(f"candidate {rank}: match distance {other.scores['distance']:.4f}, SC "
                     f"{other.scores['spectral_convergence']:.3f}, grew from {other.origin}")
    stdout.print("wrote " + ", ".join(str(p) for p in paths.values())
                 + (f" and {len(result.others)} more candidates" if result.others else ""))


# ------------------------------------------------------------------------ play


@cli.command()
@click.argument("preset", type=click.Path(path_type=Path))
@click.option("--synth", metavar="NAME", help="The synth that opens it. [default: the one "
              "adapter that reads its file type: .syx/.dx7 dexed, .yaml builtin]")
@click.option("--spec", "spec_name", metavar="NAME|PATH", help="A spec for the synth (its "
              "render settings; a VST3 spec names the plugin).")
@click.option("--voice", type=click.IntRange(min=1), default=1, show_default=True,
              help="Which voice of a bank.")
@click.option("--note", type=NOTE, help="MIDI note. [default: the spec's]")
@click.option("--velocity", type=click.IntRange(1, 127), help="[default: the spec's]")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The WAV to write. [default: PRESET's name, .wav, here]")
@synth_path_option
def play(preset, synth, spec_name, voice, note, velocity, out):
    """Render a preset the synth's adapter reads (a match's .preset.yaml, .syx or .vstpreset, a
    bank's voice) to a WAV: hear a match at another note or velocity."""
    from .audio import write_wav

    if synth is None and spec_name is None:
        synth = _adapter_for(preset)
    spec = plugins.resolve_spec(synth=synth, spec=spec_name)
    adapter = plugins.create_adapter(spec)
    announce_synth(adapter)
    try:
        voices = adapter.load_presets(check_regular(preset, "preset"))
        if not 1 <= voice <= len(voices):
            raise SoundmatchError(f"--voice: found {voice}, expected 1..{len(voices)} "
                                  f"({preset} holds {len(voices)})")
        adapter.set_patch(voices[voice - 1])
        audio = adapter.render_note(note, velocity)
    finally:
        adapter.close()
    out = out or Path(f"{preset.name.split('.')[0]}.wav")
    write_wav(out, audio, spec.render.sample_rate)
    played = spec.render.note if note is None else note
    stdout.print(f"wrote {out}: {preset.name} (voice {voice}) on {spec.adapter}, note "
                 f"{played:g}, {spec.render.duration:g} s")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but 127.0.0.1 lets other machines in; "
                   "name the host names they use with --allow-host.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port (0: any free one; the address is printed).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the browser.")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path),
              help="Where matches are kept between runs. [default: "
                   "$XDG_DATA_HOME/soundmatch/serve]")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Matches run at once; the others wait in a queue.")
@click.option("--spec", "specs", type=click.Path(dir_okay=False, path_type=Path), multiple=True,
              help="A spec file to offer as a synth, matched with no model (a VST3 plugin's, "
                   "say). Repeatable.")
@click.option("--max-upload", type=click.IntRange(1, 1000), default=50, show_default=True,
              metavar="MB", help="The largest sound file accepted.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Another host name the page may be opened by (requests naming any other "
                   "host are refused: DNS rebinding). Repeatable.")
@synth_path_option
def serve(host, port, open_browser, folder, jobs, specs, max_upload, allow_hosts):
    """Match sounds in the browser: drop a sound, hear the matches beside it, take the presets.

    A local web app with a JSON API (docs/serve.md). It listens on 127.0.0.1 unless told
    otherwise, and refuses requests from other web pages.
    """
    from . import serve as server

    folder = writable_folder(folder or server.default_folder(), "--folder")
    workers = max(1, (os.cpu_count() or 1) // jobs)
    server.run(host, port, folder, jobs, workers, specs, max_upload * 1_000_000, allow_hosts,
               open_browser, announce=lambda line: click.echo(line))


def _adapter_for(preset: Path) -> str:
    """The one installed adapter that reads ``preset``'s file type."""
    suffix = preset.suffix.lower()
    readers = [entry.name for entry in plugins.adapters()
               if suffix in {entry.obj.preset_suffix, *entry.obj.preset_suffixes}]
    if len(readers) != 1:
        found = ", ".join(readers) or "none"
        raise SoundmatchError(f"{preset}: which synth opens {suffix or 'it'}? Adapters that "
                              f"read it: {found}; pass --synth NAME or --spec NAME|PATH")
    return readers[0]


# ------------------------------------------------------------------------ plugins


@cli.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--sizes", is_flag=True,
              help="Count each backbone's weights (builds every model: imports torch, slower).")
def plugins_command(as_json, sizes):
    """List installed synth adapters, specs and backbones, with the package that provides each."""
    rows = []
    for kind, registry in (("adapter", plugins.adapters()), ("spec", plugins.specs()),
                           ("backbone", plugins.backbones())):
        for item in registry:
            detail = ""
            if kind == "adapter":
                detail = f"default spec: {getattr(item.obj, 'default_spec', None) or '-'}"
            elif kind == "spec":
                detail = str(item.obj)
            elif kind == "backbone":
                config = item.extra.get("config", {})
                detail = " ".join(f"{k}={v}" for k, v in config.items()) or "-"
                if sizes:
                    from .models import count_parameters

                    detail = f"{count_parameters(item.name) / 1e6:,.1f}M parameters; {detail}"
            rows.append({"kind": kind, "name": item.name, "package": item.package,
                         "detail": detail})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="soundmatch plugins")
    for col in ("kind", "name", "package", "detail"):
        table.add_column(col)
    for row in rows:
        table.add_row(*(row[c] for c in ("kind", "name", "package", "detail")))
    stdout.print(table)


# ------------------------------------------------------------------------ spec


@cli.group()
def spec():
    """Inspect parameter specs."""


@spec.command("show")
@click.argument("name_or_path")
def spec_show(name_or_path):
    """Print a spec (a registered name, a synth's name, or a YAML file) as a table."""
    from .spec import load_spec

    loaded = load_spec(plugins.spec_path(name_or_path))
    installed = loaded.adapter in plugins.adapters()
    r = loaded.render
    stdout.print(f"[bold]{loaded.name}[/]  {loaded.description}")
    stdout.print(f"file: {loaded.source}")
    missing = "" if installed else "  [red](adapter not installed)[/]"
    options = f"  options: {loaded.options}" if loaded.options else ""
    stdout.print(f"synth: {loaded.adapter}{missing}{options}")
    notes = f"notes {r.notes[0]}-{r.notes[1]} (else {r.note})" if r.notes else f"note {r.note}"
    stdout.print(f"render: {notes}, velocity {r.velocity}, {r.duration:g} s "
              f"(note held {r.note_length:g} s), {r.sample_rate} Hz, "
              f"silence below {r.silence_threshold_db:g} dBFS")
    show_synth_names = any(p.synth_name != p.name for p in loaded.parameters)
    table = Table(box=box.SIMPLE_HEAD)
    columns = ["name"] + (["synth name"] if show_synth_names else [])
    for col in [*columns, "values", "default", "distribution"]:
        table.add_column(col, justify="right" if col == "default" else "left", no_wrap=True)
    for p in loaded.parameters:
        names = [p.name] + ([p.synth_name] if show_synth_names else [])
        unit = f" {p.unit}" if p.unit else ""
        log = " log" if p.scale == "log" else ""
        if p.type == "choice":
            shown = ", ".join(p.choices)
            values = f"choice of {p.num_choices}: {shown if len(shown) < 40 else shown[:37] + '…'}"
        else:
            steps = ("" if p.type != "steps" else
                     ", whole numbers" if p.step == 1 else f", in steps of {p.step:g}")
            values = f"{p.min:g} .. {p.max:g}{unit}{log}{steps}"
        table.add_row(*names, values, p.label(p.default), p.distribution.describe())
    stdout.print(table)


@spec.command("check")
@click.option("--synth", metavar="NAME", help="Synth adapter; checks its default spec.")
@click.option("--spec", "spec_name", metavar="NAME|PATH", help="Parameter spec.")
@synth_path_option
@click.option("--patches", type=click.IntRange(min=1), default=None,
              help="Patches to test each parameter in: the defaults and sampled ones. "
                   "[default: the spec's check.patches, else 3]")
def spec_check(synth, spec_name, patches):
    """Check that every parameter holds its value through a render and audibly changes the sound.

    Exits with status 1, naming the failing parameters and the likely cause, if any fails.
    """
    spec = plugins.resolve_spec(synth, spec_name)
    _run_check(spec, patches=patches or spec.check_patches, quiet=False)


def _run_check(spec, patches: int, quiet: bool) -> None:
    from .check import check_in_worker

    with stderr.status(f"Checking the {len(spec)} parameters of {spec.name}…"):
        results, notes = check_in_worker(spec, patches)
    _report_check(spec, results, notes, quiet)


def _report_check(spec, results, notes: list[str], quiet: bool) -> None:
    """Print the check's notes and table (always when something fails) and raise on failure."""
    from .check import failure_message

    for note in notes:
        stderr.print(f"note: {note}")
    failed = [r for r in results if not r.passed]
    if failed or not quiet:
        table = Table(box=box.SIMPLE_HEAD, title=f"spec check: {spec.name}")
        table.add_column("parameter", no_wrap=True)
        table.add_column("holds value")
        table.add_column("effect", justify="right")
        table.add_column("verdict", no_wrap=True)
        table.add_column("details")
        for r in results:
            table.add_row(r.name, "yes" if r.holds else "no", f"{r.distance:.3f}", r.verdict,
                          "" if r.passed else r.detail, style="" if r.passed else "red")
        (stderr if quiet else stdout).print(table)
    if failed:
        hint = " (render --no-check skips this check)" if quiet else ""
        raise SoundmatchError(failure_message(spec, results) + hint)
    if not quiet:
        stdout.print(f"All {len(results)} parameters hold their values and change the sound.")


@spec.command("fit")
@click.argument("name_or_path")
@click.option("--presets", type=click.Path(exists=True, file_okay=False, path_type=Path),
              required=True, help="Folder of the synth's presets.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the fitted spec.")
@synth_path_option
def spec_fit(name_or_path, presets, out):
    """Fit each parameter's sampling distribution to the values it takes in a set of presets
    (the paper samples from the factory presets' distributions)."""
    from .fit import fit_spec

    spec = plugins.resolve_spec(spec=name_or_path)
    fitted, used, skipped = fit_spec(spec, presets, exclude=out)
    fitted.save(out)
    for path, reason in skipped:
        stderr.print(f"skipped {path}: {reason}")
    stdout.print(f"Fitted {len(spec)} parameters to {used} presets from {presets}; wrote {out}.")


plugins.add_commands(cli)

if __name__ == "__main__":
    main()
