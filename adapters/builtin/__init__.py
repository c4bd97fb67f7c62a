"""The ``builtin`` adapter plugin: registered through the ``soundmatch`` entry-point group."""

from soundmatch import hookimpl

from .synth import BuiltinSynth


@hookimpl
def register_adapters(register):
    register("builtin", BuiltinSynth)


__all__ = ["BuiltinSynth"]
