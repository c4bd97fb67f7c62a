"""The ``soundmatch`` command line. Commands are thin: they parse options, call a job, show results.
One module per command (``cli/render.py``, ``cli/match.py``...); what they share is in
``cli/common.py``; plugins add commands through the ``register_commands`` hook.

A user's mistake (``SoundmatchError``) is printed as one line and exits with status 1; no traceback.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from .. import __version__, plugins
from ..errors import SoundmatchError
from ..exiting import exit_now
from .common import stderr
from .evaluate import evaluate
from .export import export
from .label import label
from .match import match
from .play import play
from .plugins_cmd import plugins_command
from .render import render
from .serve import serve
from .spec import spec
from .train import train

# What Ctrl-C leaves, by command: render, label and train resume.
INTERRUPTED = {
    "render": "Interrupted. Run the same command again to resume.",
    "label": "Interrupted. Run the same command again to resume.",
    "train": "Interrupted. Run the same command again to resume.",
    "match": "Interrupted. The matches written so far are whole; the input being matched was not "
             "written.",
    "serve": "Stopped. Finished matches stay in the folder; a match that was running is listed "
             "as interrupted.",
}


class SoundmatchGroup(click.Group):
    """Turns a user's mistake into one line on stderr and a non-zero exit."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SoundmatchError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            # A folder that cannot be created or written (under a file, read-only, /proc...):
            # the file and the reason, not a traceback. Errors naming no file are bugs: raised.
            if exc.filename is None:
                raise
            raise click.ClickException(f"{exc.filename}: {exc.strerror or exc}") from None
        except KeyboardInterrupt:
            stderr.print(INTERRUPTED.get(ctx.invoked_subcommand, "Interrupted; nothing half "
                                         "written is left."))
            sys.exit(130)


@click.group(cls=SoundmatchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="soundmatch")
def cli():
    """Synthesizer sound matching: set a synth's parameters so that it plays a given sound."""


def main() -> NoReturn:
    """The ``soundmatch`` console script."""
    try:
        _run()
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    _exit_at_once(code)


def _exit_at_once(code: int | str | None) -> NoReturn:
    """``sys.exit(code)`` (a message is printed, and exits 1), without the interpreter's
    teardown (``exiting.exit_now``): the command has returned and its files are whole, each
    written atomically."""
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    exit_now(code if isinstance(code, int) else 0, finish=True)


def _run() -> None:
    try:
        code = cli.main(prog_name="soundmatch", standalone_mode=False)
    except click.UsageError as exc:
        # One line, like every other mistake; the usage it would repeat is in --help.
        where = exc.ctx.command_path if exc.ctx is not None else "soundmatch"
        click.echo(f"Error: {exc.format_message()} (see '{where} --help')", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)




for command in (render, label, train, evaluate, export, match, play, serve, plugins_command, spec):
    cli.add_command(command)
plugins.add_commands(cli)

if __name__ == "__main__":
    main()
