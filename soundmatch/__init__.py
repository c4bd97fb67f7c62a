"""soundmatch: synthesizer sound matching with spectrogram transformers, for any synth."""

from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["Matcher", "__version__", "hookimpl"]


def __getattr__(name):
    # The matching API pulls in torch; import it only when asked for, so that plugins importing
    # ``soundmatch.hookimpl`` stay light.
    if name == "Matcher":
        from .matcher import Matcher

        return Matcher
    raise AttributeError(name)
