"""Input checks shared by the public functions: one clear ValueError each."""

from __future__ import annotations

import numpy as np

#: Integer image dtypes and their full-scale value.
FULL_SCALE = {"uint8": 255.0, "uint16": 65535.0}

#: How far corrupted float images may leave [0, 1] (unclipped noise); more looks like 0..255 data.
NOISE_SLACK = 0.25


def to_float32(images, *, xp=np):
    """Images as a new float32 array (or, with ``xp=keras.ops``, tensor), integers scaled to [0, 1]; unvalidated."""
    scale = FULL_SCALE.get(getattr(images.dtype, "name", str(images.dtype)))
    x = np.astype(np.asarray(images), np.float32) if xp is np else xp.cast(images, "float32")
    return x if scale is None else x * (1.0 / scale)


def quantise(y, dtype):
    """Float images (about [0, 1]) as ``dtype``, clipped to its range: :func:`to_float32` undone."""
    scale = FULL_SCALE.get(np.dtype(dtype).name)
    return (np.clip(y, 0.0, 1.0) if scale is None else np.clip(np.rint(y * scale), 0, scale)).astype(dtype)


def as_float_images(images, *, name="images", check_range=True, ndim=4, slack=0.0):
    """Validate an image batch (``ndim`` axes, channels last; uint8 or finite float) and return it as float32.

    uint8 is scaled by 1/255; float32 input is returned as it is, never modified. ``check_range``: float input must
    lie in [0, 1], give or take ``slack`` (:data:`NOISE_SLACK` for corrupted images). Messages call it ``name``."""
    if isinstance(images, (str, bytes)) or images is None:
        raise TypeError(f"{name} must be an array of images; got {type(images).__name__}.")
    x = np.asarray(images)
    if x.ndim != ndim:
        expected = "(N, H, W, C)" if ndim == 4 else "(H, W, C)"
        hint = " Add a batch axis with images[None] for a single image." if ndim == 4 and x.ndim == 3 else ""
        raise ValueError(f"{name} must have shape {expected}; got shape {x.shape}.{hint}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {x.shape}); pass at least one image.")
    if x.shape[-1] not in (1, 3):
        raise ValueError(f"{name} must be channels-last with 1 or 3 channels; got shape {x.shape}.")
    if x.dtype == np.uint8:
        return to_float32(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must be uint8 in [0, 255] or float in [0, 1]; got dtype {x.dtype}. "
                         "Convert with images.astype(np.uint8) or images / 255.0.")
    x = x.astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    if check_range:
        low, high = float(x.min()), float(x.max())
        if low < -slack or high > 1.0 + slack:
            raise ValueError(f"{name} holds values in [{low:.4g}, {high:.4g}]; float images must lie in [0, 1]"
                             f"{' (noise may step a little outside)' if slack else ''}: divide 0..255 data by 255 "
                             "(pass uint8, or divide by 255 before the call).")
    return x


def check_images(images, *, name="images", check_range=True, ndim=4):
    """Validate like :func:`as_float_images`, but return uint8 input as it is (for chunk-by-chunk consumers)."""
    x = np.asarray(images) if not isinstance(images, (str, bytes)) and images is not None else images
    if isinstance(x, np.ndarray) and x.dtype == np.uint8:
        as_float_images(x[:1], name=name, ndim=ndim)  # shape and channel checks only
        return x
    return as_float_images(images, name=name, check_range=check_range, ndim=ndim)


def check_int(value, name, *, minimum=1, odd=False):
    """``value`` as an int: refused (ValueError) if a bool, not an integer, below ``minimum`` or, with ``odd``, even."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum or odd and not value % 2:
        what = "an integer >= 0" if minimum == 0 else f"a positive{' odd' if odd else ''} integer"
        raise ValueError(f"{name} must be {what}; got {value!r}.")
    return int(value)


def check_same_shape(a, b, names):
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape; got {a.shape} and {b.shape}.")


def check_seed(seed, name="seed"):
    """``seed`` as numpy takes it (None, ints >= 0, a SeedSequence or Generator), else a ValueError naming the fix."""
    if seed is None or isinstance(seed, (np.random.Generator, np.random.SeedSequence)):
        return seed
    values = seed if isinstance(seed, (list, tuple)) and seed else [seed]
    if all(not isinstance(v, bool) and isinstance(v, (int, np.integer)) and v >= 0 for v in values):
        return seed
    raise ValueError(f"{name} must be a non-negative integer (e.g. 0), a list of them, a numpy.random.Generator or "
                     f"None; got {seed!r}.")
