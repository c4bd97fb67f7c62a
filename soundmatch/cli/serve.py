"""``soundmatch serve``: the web app."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .common import (
    synth_path_option,
    writable_folder,
)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but 127.0.0.1 lets other machines in; "
                   "name the host names they use with --allow-host.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port (0: any free one; the address is printed).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the browser.")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path),
              help="Where matches are kept between runs. [default: "
                   "$XDG_DATA_HOME/soundmatch/serve]")
@click.option("--jobs", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Matches run at once; the others wait in a queue.")
@click.option("--spec", "specs", type=click.Path(dir_okay=False, path_type=Path), multiple=True,
              help="A spec file to offer as a synth, matched with no model (a VST3 plugin's, "
                   "say). Repeatable.")
@click.option("--max-upload", type=click.IntRange(1, 1000), default=50, show_default=True,
              metavar="MB", help="The largest sound file accepted.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Another host name the page may be opened by (requests naming any other "
                   "host are refused: DNS rebinding). Repeatable.")
@synth_path_option
def serve(host, port, open_browser, folder, jobs, specs, max_upload, allow_hosts):
    """Match sounds in the browser: drop a sound, hear the matches beside it, take the presets.

    A local web app with a JSON API (docs/serve.md). It listens on 127.0.0.1 unless told
    otherwise, and refuses requests from other web pages.
    """
    from .. import serve as server

    folder = writable_folder(folder or server.default_folder(), "--folder")
    workers = max(1, (os.cpu_count() or 1) // jobs)
    server.run(host, port, folder, jobs, workers, specs, max_upload * 1_000_000, allow_hosts,
               open_browser, announce=lambda line: click.echo(line))
