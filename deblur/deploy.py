"""Export a restoration model for deployment (ONNX, LiteRT, TF SavedModel); the tests run the exported files.

Keras 3's ``Model.export`` converts; the output never overwrites an input or anything else and appears whole or not
at all. Exported models keep height, width and batch free and take float32 ``(batch, H, W, 3)`` in [0, 1], like the
Keras model (no padding or tiling: that is :func:`deblur.restore`'s). A model with a do-no-harm guard (the default
``deblurnet_photo``) is exported with it inside the graph (:func:`deblur.inference.guarded_model`), so the file leaves
a sharp photo alone as ``deblur restore`` does::

    deblur export --model deblurnet --format onnx --out deblurnet.onnx
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from . import files, machine
from .inference import guarded_model, size_multiple

__all__ = ["FORMATS", "export"]

#: Export format (Keras's ``Model.export`` name) -> the suffix its output must have ("" : a folder).
FORMATS = {"onnx": ".onnx", "litert": ".tflite", "tf_saved_model": ""}


def check_target(path, format, inputs):
    """Refuse an export target before the model loads: wrong suffix, an input, or an existing path."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}.")
    path = Path(path)
    files.check_outputs([path], inputs)
    suffix = FORMATS[format]
    if suffix and path.suffix.lower() != suffix:
        raise ValueError(f"{path}: a {format} export is one file ending in {suffix}; e.g. --out "
                         f"{path.with_suffix(suffix).name}. Nothing was written.")
    if not suffix and path.suffix:
        raise ValueError(f"{path}: a tf_saved_model export is a folder; give a path without a suffix. "
                         "Nothing was written.")
    if path.exists() or path.is_symlink():
        raise FileExistsError(f"{path} already exists (exports are never overwritten); remove it or choose "
                              "another --out. Nothing was written.")
    return path


def export(model, path, *, format="onnx", inputs=(), guard=None):
    """Write ``model`` to ``path`` in a deployment format, any input size; returns the ``pathlib.Path``.

    Parameters
    ----------
    model : keras.Model
        A functional model whose input is ``(None, None, None, 3)`` (:func:`deblur.inference.as_any_size_model`).
    path : str or os.PathLike
        ``*.onnx`` (onnx), ``*.tflite`` (litert) or a new folder (tf_saved_model). Must not exist.
    format : {"onnx", "litert", "tf_saved_model"}, default "onnx"
    inputs : iterable of path, optional
        What the model was read from; ``path`` may not be, or be inside, one.
    guard : (float, float), optional
        A do-no-harm guard ``(low, high)`` exported inside the graph (a shipped model's:
        :func:`deblur.inference.shipped_guard`); its output is then clipped to [0, 1].

    Raises
    ------
    ValueError
        Unknown format, wrong suffix, or ``path`` clashes with an input.
    FileExistsError
        ``path`` exists.
    """
    path = check_target(path, format, inputs)
    # Model.export refuses a model never called (one rebuilt for any input size, as `deblur export` loads it).
    side = 8 * size_multiple(model)
    model = guarded_model(model, guard)
    model(np.zeros((1, side, side, 3), np.float32), training=False)

    def save(tmp):
        # The converters start native libraries that log to fd 2 before any log level applies (as TensorFlow's own
        # start-up, tensorflow#100442), and tf2onnx warns about numpy's np.object: neither is the user's to act on.
        with machine.quiet_startup(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model.export(str(tmp), format=format, verbose=False)

    if FORMATS[format]:
        return files.atomic_save(path, save, suffixes={FORMATS[format]}, exclusive=True)
    return files.atomic_save_folder(path, save)
