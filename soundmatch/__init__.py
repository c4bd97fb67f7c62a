"""soundmatch: synthesizer sound matching with spectrogram transformers, for any synth."""

from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
