"""deblur: restore images corrupted by Gaussian blur and noise (CIFAR-10, and your own photos).

``deblur.restore(model, images)`` restores any image, any size; ``deblur.Restorer(model)`` is the same made once for
many images; ``python -m deblur`` is the command line. One job per submodule (``_SUBMODULES``), each named in its
docstring. They load on first use (PEP 562), so ``import deblur`` does not import Keras."""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("data", "corruption", "device_corruption", "degradations", "images", "models", "pretrained", "recipe",
               "training", "study", "metrics", "inference", "plots", "baselines", "sweep", "natural", "interactive",
               "deploy", "files", "machine", "cli")
__all__ = [*_SUBMODULES, "restore", "Restorer"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in ("restore", "Restorer"):
        return getattr(importlib.import_module(f"{__name__}.inference"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES, "restore", "Restorer"])
