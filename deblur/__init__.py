"""deblur: restore images corrupted by Gaussian blur and noise (CIFAR-10, and your own photos).

Submodules, one job each:

- :mod:`deblur.data`        load CIFAR-10 (official download, archive, folder)
- :mod:`deblur.corruption`  the study's blur + noise corruption (numpy)
- :mod:`deblur.device_corruption`  the same blur in ``keras.ops``, inside the training step
- :mod:`deblur.images`      read and write image files (PNG, JPEG, TIFF, BMP; 8/16 bits, alpha, EXIF)
- :mod:`deblur.models`      CAE, Win5-RB and DeblurNet builders, the shipped weights
- :mod:`deblur.pretrained`  the shipped weights' files and model cards (no Keras)
- :mod:`deblur.recipe`      :class:`~deblur.recipe.Recipe`, the configuration of a training run
- :mod:`deblur.training`    ``train(model, x, recipe, run_dir=)``: run folders, resume, pipelines, devices
- :mod:`deblur.study`       the study's protocol: recipes, profiles, data, ``train_model``
- :mod:`deblur.metrics`     per-image MSE, PSNR, SSIM, evaluation, bootstrap intervals
- :mod:`deblur.inference`   ``deblur.restore(model, images)``: any image, any size
- :mod:`deblur.plots`       sample grids, loss curves, comparison grids
- :mod:`deblur.baselines`   classical baselines from skimage.restoration
- :mod:`deblur.sweep`       every method over a grid of blur strengths and noise levels
- :mod:`deblur.natural`     beyond CIFAR: the models on skimage's natural images
- :mod:`deblur.interactive` one image, one blur, every method side by side (and notebook sliders)
- :mod:`deblur.deploy`      export a model to ONNX, LiteRT or a SavedModel, and run the file
- :mod:`deblur.files`       atomic writes and the output rule
- :mod:`deblur.machine`     which machine a run used
- :mod:`deblur.cli`         ``python -m deblur``: corrupt, train, evaluate, plot, restore, export

Submodules load on first use (PEP 562), so ``import deblur`` does not import Keras.
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("data", "corruption", "device_corruption", "images", "models", "pretrained", "recipe", "training",
               "study", "metrics", "inference", "plots", "baselines", "sweep", "natural", "interactive", "deploy",
               "files", "machine", "cli")
__all__ = [*_SUBMODULES, "restore"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "restore":
        return importlib.import_module(f"{__name__}.inference").restore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_SUBMODULES, "restore"])
