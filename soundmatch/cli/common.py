"""What every command shares: the consoles, option types, the look of progress bars, and small
helpers for folders, fields and check reports. Nothing here imports torch: `soundmatch --help`
stays fast."""

from __future__ import annotations

import math
import os
from pathlib import Path

import click
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ..errors import SoundmatchError

stderr = Console(stderr=True, soft_wrap=True, highlight=False)
stdout = Console(soft_wrap=True, highlight=False)


def progress_bar(what: str, *fields: ProgressColumn, transient: bool = False,
                 disable: bool = False) -> Progress:
    """The one look of a progress bar: what, the bar, done of total, ``fields`` (a rate, the
    best distance...), time elapsed and ETA; on stderr."""
    return Progress(TextColumn(what), BarColumn(), MofNCompleteColumn(), *fields,
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=stderr, transient=transient, disable=disable)


def synth_path_option(f):
    """``--synth-path`` (formerly ``--plugin-path``, still accepted): the synth's file, and
    ``--synth-file KEY=PATH``: files for spec options. Passed down (worker processes included)
    through the environment, so the dataset's manifest stays independent of this machine."""

    def set_env(ctx, param, value):
        from ..adapter import SYNTH_PATH_ENV

        if value is not None:
            os.environ[SYNTH_PATH_ENV] = str(Path(value).resolve())
        return value

    def set_files(ctx, param, values):
        from ..adapter import SYNTH_FILES_ENV

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


class RateColumn(TextColumn):
    def __init__(self, unit: str = "ex/s"):
        super().__init__("")
        self.unit = unit

    def render(self, task):
        speed = task.finished_speed or task.speed
        if not speed:
            return f"… {self.unit}"
        return f"{speed:,.0f} {self.unit}" if speed >= 10 else f"{speed:.2g} {self.unit}"


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
        from ..matcher import DEFAULT_REFINE
        from ..search import Budget

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


def say_starting(out: Path, present: int, whole: int, unit: str, doing: str) -> None:
    """What a resumable job (render, label) is about to do, and what it found already done."""
    if present:
        stderr.print(f"Resuming {out}: {present:,} of {whole:,} {unit} already there.")
    stderr.print(doing)


def open_matcher(checkpoint, synth, spec_name, workers: int, presets=(),
                 level: str = "least-squares"):
    """The matcher ``match`` and ``label`` use: a checkpoint's (a file or a shipped name), or with
    ``--synth``/``--spec`` and no checkpoint one with no model; with the presets named, else the
    adapter's installed ones (a file it cannot read is one line, and skipped). Closed with the
    command."""
    from ..matcher import Matcher
    from ..presets import read_presets

    if checkpoint is not None and spec_name is not None:
        raise click.UsageError("--checkpoint and --spec: give one (a checkpoint has its spec)")
    if checkpoint is None and (synth is not None or spec_name is not None):
        matcher = Matcher.for_synth(synth, spec_name, workers=workers, level=level)
    else:
        matcher = Matcher.load(checkpoint, synth, workers=workers, level=level)
    # Its render processes end with the command, before the process does.
    click.get_current_context().call_on_close(matcher.close)
    announce_synth(matcher.adapter)
    found, skipped = read_presets(matcher.adapter, presets or matcher.adapter.default_presets())
    for path, reason in skipped:
        stderr.print(f"skipped {path}: {reason}")
    matcher.presets = found
    return matcher


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


def print_fields(lines: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in lines) + 2
    for label, text in lines:
        stdout.print(f"{label:<{width}}{text}")


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError


def report_check(spec, results, notes: list[str], quiet: bool) -> None:
    """Print the check's notes and table (always when something fails) and raise on failure."""
    from ..check import failure_message

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
