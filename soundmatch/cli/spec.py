"""``soundmatch spec``: show, check and fit parameter specs (plugins add more: vst3 adds inspect
and init)."""

from __future__ import annotations

from pathlib import Path

import click
from rich import box
from rich.table import Table

from .. import plugins
from .common import (
    report_check,
    stderr,
    stdout,
    synth_path_option,
)


@click.group()
def spec():
    """Inspect parameter specs."""


@spec.command("show")
@click.argument("name_or_path")
def spec_show(name_or_path):
    """Print a spec (a registered name, a synth's name, or a YAML file) as a table."""
    from ..spec import load_spec

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
    from ..check import check_in_worker

    with stderr.status(f"Checking the {len(spec)} parameters of {spec.name}…"):
        results, notes = check_in_worker(spec, patches)
    report_check(spec, results, notes, quiet)


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
    from ..fit import fit_spec

    spec = plugins.resolve_spec(spec=name_or_path)
    fitted, used, skipped = fit_spec(spec, presets, exclude=out)
    fitted.save(out)
    for path, reason in skipped:
        stderr.print(f"skipped {path}: {reason}")
    stdout.print(f"Fitted {len(spec)} parameters to {used} presets from {presets}; wrote {out}.")
