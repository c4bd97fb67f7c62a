"""soundmatch: synthesizer sound matching with spectrogram transformers, for any synth."""

import os

# MKL (torch's CPU BLAS) picks its kernels by the memory alignment of each tensor, so a network's
# guess could differ in the last bit from one call to the next, and a search from it diverge:
# strict conditional numerical reproducibility makes a seed's match the same every time. It must
# be set before MKL starts, so here, before anything imports torch.
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

from .hookspecs import hookimpl  # after the environment MKL reads

__version__ = "0.1.0"

__all__ = ["Matcher", "__version__", "hookimpl"]


def __getattr__(name):
    # The matching API pulls in torch; import it only when asked for, so that plugins importing
    # ``soundmatch.hookimpl`` stay light.
    if name == "Matcher":
        from .matcher import Matcher

        return Matcher
    raise AttributeError(name)
