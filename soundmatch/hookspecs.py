"""The whole plugin contract of soundmatch.

A plugin is any module that implements one or more of these hooks with ``@soundmatch.hookimpl`` and
is named by an entry point in the group ``soundmatch``::

    [project.entry-points.soundmatch]
    mysynth = "mysynth_soundmatch"

Each hook receives a ``register`` callable. The built-in adapters and specs use exactly these hooks.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("soundmatch")
hookimpl = pluggy.HookimplMarker("soundmatch")


@hookspec
def register_adapters(register):
    """Register synth adapters: ``register(name, adapter_class)``.

    ``adapter_class`` subclasses ``soundmatch.adapter.SynthAdapter`` and is built as
    ``adapter_class(spec)``; it turns parameter values into audio for a MIDI note.
    """


@hookspec
def register_backbones(register):
    """Register model backbones: ``register(name, builder, configs)``.

    ``builder(input_shape, num_params, **config)`` returns a ``torch.nn.Module``; ``configs`` maps
    named configurations (e.g. ``"ast-small"``) to keyword arguments for ``builder``.
    """


@hookspec
def register_commands(cli):
    """Add commands to the ``soundmatch`` command line: ``cli`` is its click group.

    A plugin adds its own commands (``cli.add_command``) or subcommands of a group the core
    has (``cli.commands["spec"].add_command``): the ``vst3`` plugin adds ``soundmatch spec
    inspect`` and ``soundmatch spec init`` the second way.
    """


@hookspec
def register_specs(register):
    """Register parameter specs by name: ``register(name, path)``.

    ``path`` is a YAML file (see ``soundmatch.spec``); ``soundmatch render --spec NAME`` and
    ``soundmatch spec show NAME`` then find it.
    """
