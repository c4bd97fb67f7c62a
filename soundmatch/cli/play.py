"""``soundmatch play``: render a preset file to a WAV."""

from __future__ import annotations

from pathlib import Path

import click

from .. import plugins
from ..errors import SoundmatchError
from ..fileio import check_regular
from .common import (
    NOTE,
    announce_synth,
    stdout,
    synth_path_option,
)


@click.command()
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
    from ..audio import write_wav

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
