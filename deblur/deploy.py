"""Export a restoration model for deployment (ONNX, LiteRT, TF SavedModel) with Keras 3's ``Model.export``.

The output never overwrites anything and appears whole or not at all. Exported models take float32 ``(batch, H, W,
3)`` in [0, 1], all three free (no padding or tiling: that is :func:`deblur.restore`'s), with a model's do-no-harm
guard inside the graph (:func:`deblur.inference.guarded_model`). CLI: ``deblur export --model deblurnet``."""

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

    ``model``: functional, input ``(None, None, None, 3)`` (:func:`deblur.inference.as_any_size_model`). ``path``:
    ``*.onnx`` (onnx), ``*.tflite`` (litert) or a new folder (tf_saved_model); ``inputs``: what the model was read
    from, which ``path`` may not be or be inside. ``guard``: a do-no-harm ``(low, high)`` exported inside the graph (a
    shipped model's: :func:`deblur.inference.shipped_guard`), its output then clipped to [0, 1]. Raises ``ValueError``
    for an unknown format, a wrong suffix or a clash with an input, ``FileExistsError`` if ``path`` exists."""
    path = check_target(path, format, inputs)
    # Model.export refuses a model never called (one rebuilt for any input size, as `deblur export` loads it).
    side = 8 * size_multiple(model)
    model = guarded_model(model, guard)
    model(np.zeros((1, side, side, 3), np.float32), training=False)

    def save(tmp):
        # Native start-up logs on fd 2 (tensorflow#100442) and tf2onnx's np.object warning: not the user's to act on.
        with machine.quiet_startup(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            model.export(str(tmp), format=format, verbose=False)

    if FORMATS[format]:
        return files.atomic_save(path, save, suffixes={FORMATS[format]}, exclusive=True)
    return files.atomic_save_folder(path, save)
