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
from numba.core import compiler

if not numba.config.CACHE_DIR:
    numba.config.CACHE_DIR = str(
        Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "soundmatch" / "numba")


class _NoAliasCompiler(compiler.Compiler):
    """numba's compiler with every array argument marked ``noalias`` for LLVM (numba's own
    ``noalias`` flag, which its decorator does not expose)."""

    def __init__(self, typingctx, targetctx, library, args, return_type, flags, locals):
        flags = flags.copy()
        flags.noalias = True
        super().__init__(typingctx, targetctx, library, args, return_type, flags, locals)


def njit(noalias: bool = False, **options):
    """``numba.njit`` with the on-disk cache and without the GIL, so that threads run it in
    parallel (``match --refine`` scores candidates on threads).

    ``noalias=True`` promises that no two array arguments share memory. LLVM then vectorises a
    loop that reads and writes a dozen arrays, which it otherwise leaves scalar, because it would
    need a run-time overlap check for every pair (the built-in synth's lanes, ``dsp.voices``).
    """
    if noalias:
        options["pipeline_class"] = _NoAliasCompiler
    return numba.njit(cache=True, nogil=True, **options)
