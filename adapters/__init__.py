"""Synth adapters shipped with soundmatch. Each is a plugin registered through the ``soundmatch``
entry-point group, exactly as a third-party adapter would be.

This folder installs as the package ``soundmatch_adapters``. From a checkout's root it can also be
imported as ``adapters``, and that is refused: numba's on-disk cache is kept per source file, so
the built-in synth compiled under that name left code that then failed to load in every later
``soundmatch`` run, away from the root ("No module named 'adapters'").
"""

if __name__ != "soundmatch_adapters":
    raise ImportError(f"import soundmatch_adapters, not {__name__}: this folder installs under "
                      "that name (pip install -e .), and numba's cache of the built-in synth "
                      "would hold code that only loads from here")
