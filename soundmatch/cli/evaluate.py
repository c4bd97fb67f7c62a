"""``soundmatch evaluate``: several checkpoints scored side by side."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich import box
from rich.table import Table

from .common import (
    RateColumn,
    progress_bar,
    stderr,
    stdout,
    synth_path_option,
    writable_folder,
)


@click.command()
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

    from ..evaluate import evaluate as run_evaluation
    from ..evaluate import write_report

    if report:
        writable_folder(report, "--report")

    # Transient: a plugin that cannot load stops the run with one line, not a bar and a line.
    with progress_bar("[bold]evaluate[/]", RateColumn(), transient=True) as bar:
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
