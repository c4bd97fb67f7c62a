"""``soundmatch render``: a dataset of renders, with its progress and summary."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .. import plugins
from ..errors import SoundmatchError
from .common import (
    RateColumn,
    human_bytes,
    print_fields,
    progress_bar,
    report_check,
    say_starting,
    stderr,
    synth_path_option,
    writable_folder,
)


@click.command()
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
    from ..render import parse_shard, render_dataset

    spec = plugins.resolve_spec(synth, spec_name)
    shard = parse_shard(shard_text)
    out = out or Path("data") / spec.name
    if no_check:
        stderr.print("Skipping the parameter check (--no-check); the manifest says so.")
        writable_folder(out, "--out")
    # The check runs inside render_dataset, before anything is written; its spinner and the
    # progress bar are live displays, so the bar starts only once the rendering does.
    status = stderr.status(f"Checking the {len(spec)} parameters of {spec.name}…")
    bar = progress_bar("[bold]render[/] {task.description}", RateColumn())
    task = bar.add_task(spec.name, total=None)

    def on_check(results, notes):
        status.stop()
        report_check(spec, results, notes, quiet=True)
        writable_folder(out, "--out")  # after the check: a refused spec leaves no folder behind

    def on_start(total, present):
        say_starting(out, present, count, "examples",
                     f"Rendering {total:,} examples of {spec.name} into {out} "
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
        ("size on disk", human_bytes(summary.bytes_on_disk)),
    ]
    if summary.worker_deaths:
        lines.append(("worker crashes", f"{summary.worker_deaths}; {summary.lost:,} renders lost "
                      "(the patches that crashed the synth were skipped, their shards redone)"))
    print_fields(lines)
    if summary.failed_shards:
        raise SoundmatchError(
            f"{summary.failed_shards} shards failed; run the command again to retry them")
    if not summary.complete:
        stderr.print(f"This process's shards ({shard_text}) are done; the dataset is complete "
                      "when the other --shard runs finish.")
