"""How a soundmatch process ends: at once, without the interpreter's teardown. Its own module,
importing nothing heavy, because every command ends through it (``soundmatch --help`` included)
and the process pool's imports (multiprocessing, ctypes) cost 12 ms of every command's start."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import traceback
from typing import NoReturn


def exit_now(code: int = 0, finish: bool = False) -> NoReturn:
    """End this process at once, skipping the interpreter's teardown: with torch and numba
    loaded, taking the interpreter apart object by object took 0.4-0.5 s in a worker and 1.1-1.4
    s at the end of a command (a cold ``match --refine 10``: 4.1 -> 2.9 s), and everything was
    already where it belongs. ``finish``: first do what any exit does before that teardown, in
    its order: join the threads still running (idle pool threads told to stop first), then run
    the exit handlers (temporary folders, worker processes). What was printed is flushed."""
    if finish:
        try:
            threading._shutdown()
        except Exception:  # as the interpreter does: said, and the exit goes on
            print("Exception ignored while joining threads at exit:", file=sys.stderr)
            traceback.print_exc()
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (| head): no one reads
            stream.flush()
    os._exit(code)
