"""``soundmatch serve``: match sounds in the browser (a local web app; see docs/serve.md)."""

from __future__ import annotations

import os
import socket
import threading
import webbrowser
from pathlib import Path

from ..errors import SoundmatchError


def default_folder() -> Path:
    """Where served matches are kept between runs: $XDG_DATA_HOME/soundmatch/serve."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "soundmatch" / "serve"


def run(host: str, port: int, folder: Path, jobs: int, workers: int, specs: tuple[Path, ...],
        max_upload: int, allow_hosts: tuple[str, ...] = (), open_browser: bool = False,
        announce=print) -> None:
    """Serve until interrupted. The socket is bound before anything is announced, so the address
    printed is the one that answers (``--port 0`` picks a free port)."""
    import uvicorn

    from .app import LOOPBACK, create_app
    from .jobs import JobStore
    from .synths import Matchers, available_synths

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections wait in the backlog until the server accepts them
    except OSError as exc:
        raise SoundmatchError(f"--host {host} --port {port}: cannot listen there "
                              f"({exc.strerror}); try another --port") from None
    port = sock.getsockname()[1]
    hosts = set(LOOPBACK) | set(allow_hosts)
    if host not in ("0.0.0.0", "::"):
        hosts.add(host)
    else:  # every interface: the machine's own names too
        hosts |= {socket.gethostname(), socket.getfqdn()}
    synths = available_synths(specs)
    store = JobStore(folder, Matchers(synths, workers), jobs)
    app = create_app(store, synths, hosts, max_upload)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}/"
    announce(f"soundmatch serve: {url} (matches kept in {folder}; Ctrl-C stops)")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, (url,)).start()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off",
                                           timeout_graceful_shutdown=1))
    server.run(sockets=[sock])
