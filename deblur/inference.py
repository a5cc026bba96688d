"""Restore any image with a trained model: any size, uint8 or float, gray or RGB.

:func:`restore` is exported as ``deblur.restore``.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from tqdm.auto import tqdm

from . import models
from ._validation import as_float_images

__all__ = ["restore", "as_any_size_model", "size_multiple"]

# Float inputs may leave [0, 1] a little (unclipped noise); more than this
# looks like 0..255 data passed as float, which is an error.
_FLOAT_SLACK = 0.25


def size_multiple(model):
    """The number that a model's input height and width must be a multiple of.

    The product of the strides of its pooling and strided layers (4 for the
    CAE, 1 for Win5-RB).

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    int
    """
    multiple = 1
    for layer in model.layers:
        strides = getattr(layer, "strides", None)
        if isinstance(layer, keras.layers.Conv2DTranspose) or strides is None:
            continue
        multiple *= int(strides[0]) if np.ndim(strides) else int(strides)
    return multiple


def as_any_size_model(model):
    """A model that accepts any height and width, with the same weights.

    Parameters
    ----------
    model : keras.Model or str
        A restoration model, or the name of a shipped model (``"cae"``,
        ``"win5rb"``). A functional model built for one fixed size (the
        CAE's default 32x32) is rebuilt for any size; others are returned
        as they are.

    Returns
    -------
    keras.Model
    """
    if isinstance(model, str):
        return models.load_pretrained(model, input_shape=(None, None, 3))
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model or a shipped model name; got {type(model).__name__}.")
    fixed = model.input_shape[1:3]
    if all(d is None for d in fixed):
        return model
    try:
        clone = keras.models.clone_model(
            model, input_tensors=keras.Input((None, None, model.input_shape[-1]), name="corrupted")
        )
        clone.set_weights(model.get_weights())
        return clone
    except Exception:  # noqa: BLE001 - e.g. a subclassed model, which cannot be re-inputted
        raise ValueError(
            f"{model.name} was built for {fixed[0]}x{fixed[1]} inputs and cannot be rebuilt for other "
            "sizes. Build it with input_shape=(None, None, 3), e.g. "
            "deblur.models.load_pretrained(name, input_shape=(None, None, 3))."
        ) from None


def restore(model, images, *, batch_size=16, progress=None):
    """Restore one image or a batch with a trained model.

    Images of any height and width are reflect-padded up to the model's size
    multiple (:func:`size_multiple`; 4 for the CAE) and cropped back. A
    functional model built for one fixed size (the CAE's default 32x32) is
    rebuilt with the same weights for any size first
    (:func:`as_any_size_model`; call it once yourself to reuse the result).
    Grayscale images are restored as three identical channels and averaged
    back to one.

    Parameters
    ----------
    model : keras.Model or str
        A restoration model taking ``(batch, H, W, 3)`` float32 in [0, 1], or
        the name of a shipped model (``"cae"``, ``"win5rb"``).
    images : ndarray
        One image ``(H, W)`` or ``(H, W, C)``, or a batch ``(N, H, W, C)``,
        with ``C`` 1 (grayscale) or 3 (RGB); uint8 in [0, 255] or float in
        [0, 1] (small excursions from noise are accepted). Not modified.
    batch_size : int, default 16
        Images per forward pass; lower it for very large images.
    progress : bool or None, default None
        Show a progress bar; ``None`` shows one when there is more than one
        batch.

    Returns
    -------
    ndarray
        Same shape and dtype as ``images``, clipped to the input's range
        ([0, 255] for uint8, [0, 1] for float).

    Raises
    ------
    ValueError
        Wrong number of dimensions or channels, an empty batch, an
        unsupported dtype, NaN/inf, or floats far outside [0, 1].
    """
    x, layout = _to_batch(images)
    model = as_any_size_model(model)
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    n, h, w, c = x.shape
    multiple = size_multiple(model)
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if min(h, w) > max(ph, pw) else "edge"
        x = np.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)
    if c == 1:
        x = np.repeat(x, 3, axis=-1)
    batches = range(0, n, batch_size)
    show = progress if progress is not None else len(batches) > 1
    out = np.empty((n, h, w, c), dtype=np.float32)
    for start in tqdm(batches, total=math.ceil(n / batch_size), disable=not show, desc="restoring", unit="batch"):
        y = keras.ops.convert_to_numpy(model(x[start : start + batch_size], training=False))
        y = y[:, :h, :w, :]
        out[start : start + batch_size] = y.mean(axis=-1, keepdims=True) if c == 1 else y
    return _from_batch(out, layout)


def _to_batch(images):
    if isinstance(images, (str, bytes)) or images is None:
        raise TypeError(f"images must be an array; got {type(images).__name__}.")
    a = np.asarray(images)
    dtype, shape = a.dtype, a.shape
    if a.ndim == 2:
        x = a[None, :, :, None]
    elif a.ndim == 3:
        x = a[None]
    elif a.ndim == 4:
        x = a
    else:
        raise ValueError(
            f"images must be (H, W), (H, W, C) or (N, H, W, C); got shape {shape}."
        )
    if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
        raise ValueError(f"images is empty (shape {shape}).")
    if x.shape[-1] not in (1, 3):
        raise ValueError(
            f"images must be grayscale (1 channel) or RGB (3 channels); got {x.shape[-1]} channels "
            f"(shape {shape}). Drop an alpha channel with images[..., :3]."
        )
    # restore() never writes into x, so the caller's float32 array may be shared here.
    x = as_float_images(x, name="images", check_range=False)
    if dtype != np.uint8 and (x.min() < -_FLOAT_SLACK or x.max() > 1 + _FLOAT_SLACK):
        raise ValueError(
            f"float images must lie in [0, 1]; got values in [{x.min():.4g}, {x.max():.4g}]. "
            "For 0..255 data pass uint8 or divide by 255."
        )
    return x, (dtype, shape)


def _from_batch(out, layout):
    dtype, shape = layout
    if dtype == np.uint8:
        result = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
    else:
        result = np.clip(out, 0.0, 1.0).astype(dtype)
    return result.reshape(shape)
