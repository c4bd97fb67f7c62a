"""numba, set up once for soundmatch and its adapters: import ``njit`` from here, not from numba.

Compiled functions are cached on disk (``cache=True``), and numba writes that cache next to the
module by default: inside site-packages, where a leftover ``__pycache__`` from a normal install
once turned ``soundmatch_adapters`` into a namespace package that shadowed an editable install of
the same checkout (issue 14). Here the cache lives in the user's cache folder instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numba

if not numba.config.CACHE_DIR:
    numba.config.CACHE_DIR = str(
        Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "soundmatch" / "numba")


def njit(**options):
    """``numba.njit`` with the on-disk cache and without the GIL, so that threads run it in
    parallel (``match --refine`` scores candidates on threads)."""
    return numba.njit(cache=True, nogil=True, **options)
