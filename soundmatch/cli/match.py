"""``soundmatch match``: match inputs, write each one's files, show and tabulate the results."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich import box
from rich.progress import TextColumn
from rich.table import Table

from ..errors import SoundmatchError
from .common import (
    BUDGET,
    NOTE,
    open_matcher,
    progress_bar,
    stderr,
    stdout,
    synth_path_option,
    unique_stems,
    writable_folder,
)


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("--checkpoint", metavar="PATH|NAME",
              help="Model to use: a checkpoint file, or a shipped model by name: "
                   "builtin-rich-taught (the default, for real sounds: taught by the search, "
                   "with a memory of real sounds), builtin-rich (renders alone) or builtin-16 "
                   "(the paper's 16 parameters).")
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
    from ..matcher import DEFAULT_REFINE

    if refine not in ("0", DEFAULT_REFINE) and Path(refine).is_file():
        # `match --refine in.wav`: the bare flag took the input as its value
        inputs, refine = (Path(refine), *inputs), DEFAULT_REFINE
    if not inputs:
        raise click.UsageError("Missing argument 'INPUTS...'.")
    writable_folder(out, "--out")
    matcher = open_matcher(checkpoint, synth, spec_name, workers, presets, level)
    found = matcher.presets
    if not as_json:  # stdout: stderr is for what went wrong, --json's stdout for JSON alone
        model = (f"the model {matcher.checkpoint.path.name}" if matcher.checkpoint is not None
                 else "no model: the spec's defaults")
        stdout.print(f"Matching on {matcher.spec.adapter} ({matcher.spec.name}, "
                     f"{len(matcher.spec)} parameters) from {model}"
                     + (f" and {len(found)} presets" if found else ""))
    stems = unique_stems(inputs)
    failures, records = 0, []
    # Drawn only on a terminal: a script or a log gets the results, not the animation.
    with progress_bar("[bold]{task.description}", TextColumn("{task.fields[info]}"),
                      transient=True, disable=not stderr.is_terminal) as bars:
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

    from ..fileio import FolderLock, read_bounded, write_text_atomic

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

    from ..fileio import read_bounded

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
