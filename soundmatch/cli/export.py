"""``soundmatch export``: a checkpoint to ship, with a memory of real sounds."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import SoundmatchError
from .common import print_fields


@click.command()
@click.argument("checkpoint", metavar="CKPT|NAME")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The checkpoint file to write.")
@click.option("--memory", "memory_data", type=click.Path(path_type=Path), multiple=True,
              help="Datasets made by `soundmatch label` (repeatable): their sounds and the "
                   "patches found for them are remembered, and `match` plays the ones most like "
                   "its input beside the network's guesses.")
@click.option("--full-precision", is_flag=True,
              help="Keep the weights in float32. [default: float16, a third of the size]")
def export(checkpoint, out, memory_data, full_precision):
    """Write a checkpoint for matching: no optimiser state, float16 weights, and optionally a
    memory of real sounds with the patches the search found for them."""
    from ..checkpoint import export as export_checkpoint
    from ..checkpoint import load_checkpoint
    from ..dataset import DatasetReader
    from ..matcher import resolve_checkpoint
    from ..memory import PatchMemory

    src = resolve_checkpoint(checkpoint)
    loaded = load_checkpoint(src)
    memory = None
    if memory_data:
        readers = [DatasetReader(path) for path in memory_data]
        for reader in readers:
            if reader.spec.fingerprint() != loaded.spec.fingerprint():
                raise SoundmatchError(f"{reader.root}: holds spec {reader.spec.name}, but "
                                      f"{src} was trained on {loaded.spec.name} (or another "
                                      "version of it)")
            if reader.feature_config != loaded.features:
                raise SoundmatchError(f"{reader.root}: its features differ from {src}'s")
        memory = PatchMemory.from_datasets(readers)
    written = export_checkpoint(src, out, half=not full_precision, memory=memory)
    print_fields([
        ("checkpoint", f"{written} ({written.stat().st_size / 1e6:.1f} MB, "
                       f"{'float32' if full_precision else 'float16'} weights)"),
        ("memory", f"{len(memory)} sounds" if memory else "none"),
    ])
