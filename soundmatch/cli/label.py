"""``soundmatch label``: real sounds matched by the search, as a dataset to train on."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.progress import TextColumn

from ..errors import SoundmatchError
from .common import (
    RateColumn,
    open_matcher,
    print_fields,
    progress_bar,
    say_starting,
    stderr,
    synth_path_option,
    writable_folder,
)

DEFAULT_LABEL_BUDGET = "300"  # renders per sound: about 2 s of builtin-rich on 2 cores


@click.command()
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
@click.option("--presets", type=click.Path(path_type=Path), multiple=True,
              help="Preset files or folders to start from, as `match --presets`. [default: the "
                   "banks the adapter finds installed]")
@click.option("--workers", type=click.IntRange(min=1), default=os.cpu_count() or 1,
              show_default=True, help="Render threads (or processes) of the search.")
@synth_path_option
def label(sounds, out, checkpoint, synth, spec_name, refine, seed, shard_size, presets, workers):
    """Match real sounds with the search and store them as a dataset to train on.

    SOUNDS are audio files or folders of them. Each becomes one example: its log-mel, the best
    patch the search found, the note and the search's distance. Train on it beside rendered data
    with `train --data RENDERED --data LABELLED`. Resumable like render.
    """
    from ..label import label_dataset, readable, sound_files

    files = sound_files(sounds)
    writable_folder(out, "--out")
    matcher = open_matcher(checkpoint, synth, spec_name, workers, presets)
    skipped = []
    files = readable(matcher, files, lambda path, why: skipped.append(why))
    for why in skipped:
        stderr.print(f"skipped: {why}")
    if not files:
        raise SoundmatchError("none of the sounds given could be read")
    bar = progress_bar("[bold]label[/] {task.description}", RateColumn("sounds/s"),
                       TextColumn("{task.fields[info]}"))
    task = bar.add_task(matcher.spec.name, total=None, info="")

    def on_start(total, present):
        say_starting(out, present, len(files), "sounds",
                     f"Labelling {total:,} sounds on {matcher.spec.name} with {refine} renders "
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
    print_fields([
        ("dataset", f"{summary.out}  ({summary.count:,} sounds, {summary.shards_done} of "
                    f"{summary.shards_total} shards)"),
        ("labelled now", f"{summary.labelled:,} in {summary.seconds:,.1f} s"),
        ("left out", f"{len(skipped)} files that could not be read"),
    ])
