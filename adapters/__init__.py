"""Synth adapters shipped with soundmatch. Each is a plugin registered through the ``soundmatch``
entry-point group, exactly as a third-party adapter would be."""
