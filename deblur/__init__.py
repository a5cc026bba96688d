"""deblur: restore CIFAR-10 images corrupted by Gaussian blur and noise.

Submodules, one job each:

- :mod:`deblur.data`        load CIFAR-10 (official download, archive, folder)
- :mod:`deblur.corruption`  the study's blur + noise corruption
- :mod:`deblur.pipeline`    training batches corrupted on the fly (fresh every epoch)
- :mod:`deblur.device_corruption`  the same corruption in ``keras.ops``, inside the training step
- :mod:`deblur.devices`     data-parallel training over every device of a machine
- :mod:`deblur.models`      CAE, Win5-RB and DeblurNet builders
- :mod:`deblur.training`    training with run folders, checkpoints and resume
- :mod:`deblur.metrics`     per-image MSE, PSNR, SSIM and evaluation
- :mod:`deblur.plots`       sample grids, loss curves, comparison grids
- :mod:`deblur.inference`   ``deblur.restore(model, images)``: any image, any size
- :mod:`deblur.baselines`   classical baselines from skimage.restoration
- :mod:`deblur.sweep`       every method over a grid of blur strengths and noise levels
- :mod:`deblur.natural`     beyond CIFAR: the models on skimage's natural images
- :mod:`deblur.study`       the protocol: seeds, recipes, profiles, data, ``train_model``
- :mod:`deblur.records`     atomic writes, provenance and the ``reports/`` records
- :mod:`deblur.reports`     the tables generated from ``reports/`` (README, docs/)
- :mod:`deblur.deploy`      export a model to ONNX, LiteRT or a SavedModel, and run the file
- :mod:`deblur.interactive` one image, one blur, every method side by side (and notebook sliders)
- :mod:`deblur.cli`         ``python -m deblur``: corrupt, train, evaluate, plot, restore, export, reproduce

Deprecated for one release: :mod:`deblur.profiles` and :mod:`deblur.reproduce`
(now :mod:`deblur.study` and ``python -m deblur reproduce``), and
:mod:`deblur.candidates` (moved to ``experiments/candidates.py``).

Submodules load on first use, so ``import deblur`` does not import Keras.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "study", "records", "reports", "data", "corruption", "pipeline", "device_corruption", "models", "training",
    "metrics", "plots", "inference", "baselines", "sweep", "natural", "devices", "cli", "deploy", "interactive",
    
)
__all__ = [*_SUBMODULES, "restore"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "restore":
        return importlib.import_module(f"{__name__}.inference").restore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES, "restore"])
