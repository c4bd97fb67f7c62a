"""``soundmatch export``: a checkpoint to ship, or a memory of real sounds on its own."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import SoundmatchError
from .common import print_fields


@click.command()
@click.argument("checkpoint", metavar="[CKPT|NAME]", required=False)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The file to write.")
@click.option("--memory", "memory_data", type=click.Path(path_type=Path), multiple=True,
              help="Datasets made by `soundmatch label` (repeatable): their sounds and the "
                   "patches found for them are remembered, and `match` plays the ones most like "
                   "its input beside its other starts.")
@click.option("--full-precision", is_flag=True,
              help="Keep the weights in float32. [default: float16, a third of the size]")
def export(checkpoint, out, memory_data, full_precision):
    """Write a checkpoint for matching (no optimiser state, float16 weights), optionally with a
    memory of real sounds; with no CKPT, the memory alone, for a synth matched with no model
    (an adapter's default_memory)."""
    from ..checkpoint import export as export_checkpoint
    from ..checkpoint import load_checkpoint
    from ..dataset import DatasetReader
    from ..memory import PatchMemory, save_memory
    from ..shipped import resolve_checkpoint

    if checkpoint is None and not memory_data:
        raise click.UsageError("give a CKPT to export, or --memory DIR to write a memory alone")
    readers = [DatasetReader(path) for path in memory_data]
    if checkpoint is not None:
        src = resolve_checkpoint(checkpoint)
        loaded = load_checkpoint(src)
        spec, features, made_by = loaded.spec, loaded.features, str(src)
    else:
        spec, features, made_by = readers[0].spec, readers[0].feature_config, str(readers[0].root)
    for reader in readers:
        if reader.spec.fingerprint() != spec.fingerprint():
            raise SoundmatchError(f"{reader.root}: holds spec {reader.spec.name}, but {made_by} "
                                  f"has {spec.name} (or another version of it)")
        if reader.feature_config != features:
            raise SoundmatchError(f"{reader.root}: its features differ from {made_by}'s")
    memory = PatchMemory.from_datasets(readers) if readers else None
    if checkpoint is None:
        save_memory(memory, spec, features, out)
        print_fields([("memory", f"{out} ({len(memory)} sounds on {spec.name}, "
                                 f"{out.stat().st_size / 1e6:.1f} MB)")])
        return
    written = export_checkpoint(src, out, half=not full_precision, memory=memory)
    print_fields([
        ("checkpoint", f"{written} ({written.stat().st_size / 1e6:.1f} MB, "
                       f"{'float32' if full_precision else 'float16'} weights)"),
        ("memory", f"{len(memory)} sounds" if memory else "none"),
    ])
