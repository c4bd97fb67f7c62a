"""The ``vst3`` adapter plugin: any VST3 instrument through pedalboard."""

from soundmatch import hookimpl

from .adapter import VST3Synth


@hookimpl
def register_adapters(register):
    register("vst3", VST3Synth)


@hookimpl
def register_commands(cli):
    from .tools import add_commands

    add_commands(cli)


__all__ = ["VST3Synth"]
