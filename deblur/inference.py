"""Restore any image with a trained model: any size, uint8 or float, gray or RGB, an array or a file.

:func:`restore` is exported as ``deblur.restore``."""

from __future__ import annotations

import contextlib
import math
import os

import keras
import numpy as np
from tqdm.auto import tqdm

from . import machine, models, pretrained
from .machine import resolve_precision
from ._validation import FULL_SCALE, NOISE_SLACK, as_float_images, check_int, quantise, to_float32
from .images import read_image

__all__ = ["Restorer", "restore", "guard_changes", "DoNoHarm", "guarded_model", "shipped_guard", "change_rms",
           "as_any_size_model", "size_multiple", "receptive_radius", "tile_overlap", "auto_tile", "tile_windows",
           "PASS_BUDGET", "DIHEDRAL"]


def size_multiple(model):
    """The multiple (int) a model's input height and width need: its strides' product (CAE 4, DeblurNet 2)."""
    strides = [layer.strides for layer in model.layers
               if getattr(layer, "strides", None) is not None and not isinstance(layer, keras.layers.Conv2DTranspose)]
    return math.prod(int(np.ravel(s)[0]) for s in strides)


def as_any_size_model(model):
    """A model that accepts any height and width, with the same weights (``model``: a model or a shipped model's name).

    A functional model built for one fixed size (the CAE's default 32x32) is rebuilt; others are returned as is."""
    if isinstance(model, str):
        return models.load_pretrained(model, input_shape=(None, None, 3))
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model or a shipped model name; got {type(model).__name__}.")
    fixed = model.input_shape[1:3]
    if all(d is None for d in fixed):
        return model
    try:
        any_size = keras.Input((None, None, model.input_shape[-1]), name="corrupted")
        clone = keras.models.clone_model(model, input_tensors=any_size)
        clone.set_weights(model.get_weights())
        return clone
    except Exception:  # noqa: BLE001 - e.g. a subclassed model, which cannot be re-inputted
        raise ValueError(f"{model.name} was built for {fixed[0]}x{fixed[1]} inputs and cannot be rebuilt for other "
                         "sizes. Build it with input_shape=(None, None, 3), e.g. "
                         "deblur.models.load_pretrained(name, input_shape=(None, None, 3)).") from None


#: The most a forward pass holds: pixels times values per pixel of the widest layer output (:func:`auto_tile`); the
#: CAE's former 512 tile (so no model's tiles shrank); a 1024x1024 photo is one DeblurNet pass (``bench/camera.py``).
PASS_BUDGET = 128 * 560 ** 2


def receptive_radius(model):
    """How far (int, input pixels) an output pixel sees on either axis: farther inputs cannot change it.

    Exact for odd "same" convolutions of stride 1 (Win5-RB: 12), a little generous across strided layers."""
    spans = _spans(model)
    return int(math.ceil(max(spans[id(t)][1] for t in model.outputs)))


def _spans(model, radius=0.0, step=1.0):
    """``{id(tensor): (tensor, radius, step)}`` for all tensors, nested models' too, in outermost-input pixels."""
    spans = {id(t): (t, radius, step) for t in model.inputs}
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:  # an input layer's node has no inputs
            known = [spans[id(t)][1:] for t in node.input_tensors if id(t) in spans]
            if not known:
                continue
            r, j = max(r for r, _ in known), min(j for _, j in known)
            if isinstance(node.operation, keras.Model):  # a model as a layer: walk inside it
                inner = _spans(node.operation, r, j)
                spans.update(inner)
                spans.update((id(t), (t, *inner[id(o)][1:])) for t, o in zip(node.outputs, node.operation.outputs))
            else:
                spans.update((id(t), (t, *_widen(node.operation, r, j))) for t in node.outputs)
    return spans


#: Layers that act on each pixel alone (or merge aligned tensors): they do not widen the receptive field.
_POINTWISE = tuple(getattr(keras.layers, name) for name in (
    "InputLayer", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "BatchNormalization", "Dropout", "Rescaling",
    "Identity", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"))


def _widen(layer, radius, step):
    """(radius, step) after ``layer`` (see :func:`receptive_radius`)."""
    kernel = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
    if isinstance(layer, (keras.layers.Conv2DTranspose, keras.layers.UpSampling2D)):
        s = int(np.ravel(getattr(layer, "strides", None) or layer.size)[0])
        k = int(np.ravel(kernel)[0]) if kernel is not None else 1
        step = step / s
        return radius + (k - 1 + s - 1) * step, step
    if kernel is None:
        if not isinstance(layer, _POINTWISE):  # global pooling, attention, resizing, a Lambda, ...
            raise ValueError(f"cannot bound how far layer {layer.name!r} ({type(layer).__name__}) sees, so tiles could "
                             "show seams; restore this model in one pass with tile=None.")
        return radius, step
    k = int(np.ravel(kernel)[0])
    s = int(np.ravel(getattr(layer, "strides", 1) or 1)[0])
    dilation = int(np.ravel(getattr(layer, "dilation_rate", 1) or 1)[0])
    k = dilation * (k - 1) + 1
    if k % 2 == 1 and s == 1 and getattr(layer, "padding", "same") == "same":
        return radius + (k - 1) // 2 * step, step
    return radius + (k - 1 + s - 1) * step, step * s


def tile_overlap(model):
    """Tile margin (int): the receptive radius rounded up to the size multiple (DeblurNet 22, Win5-RB 12, CAE 24)."""
    multiple = size_multiple(model)
    return int(math.ceil(receptive_radius(model) / multiple) * multiple)


def auto_tile(model):
    """The largest tile core (int, multiple of :func:`size_multiple`) whose window fits a pass (:data:`PASS_BUDGET`).

    deblurnet_photo 1044, DeblurNet 1076, Win5-RB 536, CAE 512."""
    multiple, overlap = size_multiple(model), tile_overlap(model)  # cores of at least twice the margin, whatever fits
    return max(multiple, 2 * overlap, (math.isqrt(_pass_pixels(model)) - 2 * overlap) // multiple * multiple)


def _pass_pixels(model):
    """Pixels a pass may hold: the budget over the most values a layer outputs per input pixel."""
    return int(PASS_BUDGET / max(t.shape[-1] / step ** 2 for t, _, step in _spans(model).values()))


def tile_windows(height, width, *, tile, overlap, multiple=1):
    """Where the tiles of an image lie: a list of ``(window, core, kept)``, each a ``(rows, cols)`` pair of slices.

    ``window``: what it reads, ``core``: what it fills in (in the image), ``kept``: the core in the window. An axis
    longer than ``tile + 2 * overlap`` splits into the fewest equal cores (but the last) of at most ``tile`` pixels. A
    window adds ``overlap`` each side of its core, shifted inside the image at its borders (seamless if ``overlap`` >=
    the receptive radius), and starts at multiples of ``multiple`` (:func:`size_multiple`), so strided layers see the
    image's grid; ``height``, ``width`` and ``overlap`` must be multiples of it; ``tile`` rounds up to one."""
    if height % multiple or width % multiple or overlap % multiple:
        raise ValueError(f"height ({height}), width ({width}) and overlap ({overlap}) must be multiples of "
                         f"{multiple}; pad the image first.")
    if tile < 1 or overlap < 0:
        raise ValueError(f"tile must be positive and overlap non-negative; got tile={tile}, overlap={overlap}.")
    tile = int(math.ceil(tile / multiple) * multiple)
    return [((slice(r0, r0 + r1), slice(q0, q0 + q1)), (slice(c0, c1), slice(d0, d1)),
             (slice(c0 - r0, c1 - r0), slice(d0 - q0, d1 - q0)))
            for r0, r1, c0, c1 in _axis_windows(height, tile, overlap, multiple)
            for q0, q1, d0, d1 in _axis_windows(width, tile, overlap, multiple)]


def _axis_windows(length, tile, overlap, multiple):
    """(window start, window size, core start, core stop) along one axis."""
    if length <= tile + 2 * overlap:
        return [(0, length, 0, length)]
    core = math.ceil(length / math.ceil(length / tile) / multiple) * multiple  # equal cores: no window mostly margin
    size = core + 2 * overlap
    return [(min(max(start - overlap, 0), length - size), size, start, min(start + core, length))
            for start in range(0, length, core)]


class Restorer:
    """A restoration model made ready once (any input size, do-no-harm guard, precision, tiling); calling it is pure.

    ``deblur.restore`` is one made and called once. Images are reflect-padded to the model's :func:`size_multiple` and
    cropped back; those larger than ``tile`` plus twice :func:`tile_overlap` are restored in overlapping tiles, equal
    to a whole pass (to about 1e-6) in bounded memory. Grayscale is restored as three channels, averaged back to one.

    ``model``: one taking ``(batch, H, W, 3)`` float32 in [0, 1] (a fixed-size one, as the CAE, is rebuilt:
    :func:`as_any_size_model`), or a shipped model's name; default :data:`deblur.pretrained.DEFAULT_MODEL`.
    ``precision`` (``"auto"``, ``"float32"`` or ``"bfloat16"``; :func:`deblur.models.set_precision`): ``"auto"`` is
    bfloat16 on a CPU that computes it natively (about 1.6x as fast; outputs within about 57 dB PSNR of float32's),
    float32 elsewhere; a model loaded here by name is set once, one passed in computes so only during each call.
    ``guard``: ``(low, high)`` of :func:`guard_changes`, None, or ``"auto"`` (a shipped model's card's
    ``restore_guard``). ``tile``: the largest tile core, ``"auto"`` (:func:`auto_tile`) or None (never tile).
    ``ensemble``: average the 8 flips and rotations (:data:`DIHEDRAL`), each undone, before the final clipping (8x the
    time). ``batch_size``: images (or tiles) per pass, also capped at :data:`PASS_BUDGET` (unless ``tile`` is None).

    Examples
    --------
    >>> Restorer("cae", precision="float32")(np.zeros((40, 50, 3), np.uint8)).shape
    (40, 50, 3)"""

    def __init__(self, model=None, *, precision="auto", guard="auto", tile="auto", ensemble=False, batch_size=16):
        model = pretrained.DEFAULT_MODEL if model is None else model
        self.guard = shipped_guard(model) if str(guard) == "auto" else guard
        if self.guard is not None and not (len(self.guard) == 2 and 0 <= self.guard[0] < self.guard[1]):
            raise ValueError(f"guard must be 'auto', None or (low, high) with 0 <= low < high; got {guard!r}.")
        self.model = as_any_size_model(model)
        self.name = model if isinstance(model, str) else model.name
        self.precision = resolve_precision(precision)
        self._owned = isinstance(model, str)  # loaded here: set once (a change of precision retraces, ~0.15 s)
        if self._owned:
            models.set_precision(self.model, self.precision)
        self.batch_size = check_int(batch_size, "batch_size")
        if tile is not None:
            tile = auto_tile(self.model) if str(tile) == "auto" else check_int(tile, 'tile, if not "auto" or None,')
        self.tile = tile
        if not isinstance(ensemble, (bool, np.bool_)):
            raise ValueError(f"ensemble must be True or False; got {ensemble!r}.")
        self.ensemble = bool(ensemble)
        self.geometry = (size_multiple(self.model), 0, None) if tile is None else (  # tile=None: any model
            size_multiple(self.model), tile_overlap(self.model), _pass_pixels(self.model))

    def __repr__(self):
        return (f"Restorer({self.name!r}, precision={self.precision!r}, guard={self.guard!r}, tile={self.tile!r}, "
                f"ensemble={self.ensemble})")

    def passes(self, shape):
        """How many forward passes a batch of ``shape`` ``(N, H, W, C)`` takes (without the ensemble's 8 views)."""
        return len(_plan(self.geometry, shape, batch_size=self.batch_size, tile=self.tile))

    def __call__(self, images, *, progress=None):
        """Restore one image or a batch: same shape and dtype, clipped to the input's range only at this final step.

        ``images``: one ``(H, W)`` or ``(H, W, C)`` image or a batch ``(N, H, W, C)``, ``C`` 1 (grayscale) or 3 (RGB);
        uint8, uint16 (16-bit PNGs) or float in [0, 1] (small excursions from noise accepted); not modified. Or an image
        file's path (:func:`deblur.images.read_image`): the result is the image as read, less its alpha. ``progress``: a
        tqdm bar on stderr; ``None``: one for several passes when a person watches (:func:`deblur.machine.frontend`).

        Raises ``ValueError`` for wrong dimensions or channels, an empty batch, an unsupported dtype, NaN/inf, floats
        far outside [0, 1], or a path that is not an image file deblur reads (:class:`deblur.images.ImageError`)."""
        if isinstance(images, (str, os.PathLike)):
            images, _ = read_image(images)
        x, layout = _to_batch(images)
        views = DIHEDRAL if self.ensemble else DIHEDRAL[:1]
        plans = [_plan(self.geometry, _dihedral(x, k, flip).shape, batch_size=self.batch_size, tile=self.tile)
                 for k, flip in views]
        show = progress if progress is not None else sum(len(p) for p in plans) > 1 and machine.frontend() is not None
        bar = tqdm(total=sum(len(p) for p in plans), disable=not show, desc="restoring", unit="pass")
        precision = contextlib.nullcontext() if self._owned else models.computing_in(self.model, self.precision)
        with bar, precision:
            if not self.ensemble:
                out = _run_plan(self.model, self.geometry[0], x, plans[0], out_dtype=x.dtype, bar=bar)
            else:
                out = np.zeros(x.shape, dtype=np.float32)
                for (k, flip), plan in zip(views, plans):
                    view = np.ascontiguousarray(_dihedral(x, k, flip))
                    restored = _run_plan(self.model, self.geometry[0], view, plan, out_dtype=None, bar=bar)
                    out += _dihedral_inverse(restored, k, flip)
                out = quantise(out / np.float32(len(views)), x.dtype)
        out = out if self.guard is None else guard_changes(x, out, *self.guard)
        return out.astype(layout[0], copy=False).reshape(layout[1])  # the input's dtype and shape


def restore(model, images, *, batch_size=16, tile="auto", progress=None, ensemble=False, precision="auto",
            guard="auto"):
    """Restore one image or a batch with a trained model, large images tile by tile: ``Restorer(model, ...)(images)``.

    Its parameters are :class:`Restorer`'s and its call's; for many images, make one Restorer: it sets up once.

    Examples
    --------
    >>> restore("cae", np.zeros((40, 50), np.uint8), precision="float32").shape
    (40, 50)"""
    return Restorer(model, batch_size=batch_size, tile=tile, ensemble=ensemble, precision=precision,
                    guard=guard)(images, progress=progress)


def shipped_guard(model):
    """A shipped model's (by name) do-no-harm guard ``(low, high)`` from its card, else None (``guard="auto"``)."""
    card = models.model_card(model) if isinstance(model, str) and model in models.pretrained_names() else {}
    return tuple(card["restore_guard"]) if "restore_guard" in card else None


def change_rms(images, restored, *, rows=256):
    """RMS (float64 (N,)) of each image's change on the [0, 1] scale, by bands of ``rows`` (to bound memory)."""
    squares = np.zeros(len(images))
    for i, r in ((i, r) for i in range(len(images)) for r in range(0, images.shape[1], rows)):
        change = to_float32(restored[i, r:r + rows]) - to_float32(images[i, r:r + rows])
        squares[i] += float(np.sum(np.square(change, dtype=np.float64)))
    return np.sqrt(squares / images[0].size)


def guard_changes(images, restored, low, high, *, rows=256):
    """Do no harm: ``images + g * (restored - images)``, ``g = clip((rms - low) / (high - low), 0, 1)`` per image.

    ``rms`` is :func:`change_rms`; ``0 <= low < high``. A small change to a sharp photo is more likely harm than repair
    (``docs/research.md``, do no harm). Returns ``restored`` itself where every ``g`` is 1."""
    if not 0 <= low < high:
        raise ValueError(f"guard needs 0 <= low < high; got {low!r}, {high!r}.")
    gains = np.clip((change_rms(images, restored, rows=rows) - low) / (high - low), 0.0, 1.0)
    out = restored if np.all(gains == 1) else restored.copy()
    for i, r in ((i, r) for i in np.flatnonzero(gains < 1) for r in range(0, images.shape[1], rows)):
        x = to_float32(images[i, r:r + rows])
        out[i, r:r + rows] = quantise(x + np.float32(gains[i]) * (to_float32(restored[i, r:r + rows]) - x), out.dtype)
    return out


class DoNoHarm(keras.layers.Layer):
    """:func:`guard_changes` as a layer, for exported models: ``x + g * (clip(y) - x)``, clipped to [0, 1].

    Inputs ``[x, y]``: the images and the network's output, float (batch, H, W, C); ``g`` from each image's RMS."""

    def __init__(self, low, high, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= low < high:
            raise ValueError(f"guard needs 0 <= low < high; got {low!r}, {high!r}.")
        self.low, self.high = float(low), float(high)

    def call(self, inputs):
        x, y = inputs
        change = keras.ops.clip(y, 0.0, 1.0) - x
        rms = keras.ops.sqrt(keras.ops.mean(keras.ops.square(change), axis=(1, 2, 3), keepdims=True))
        gain = keras.ops.clip((rms - self.low) / (self.high - self.low), 0.0, 1.0)
        return keras.ops.clip(x + gain * change, 0.0, 1.0)

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}


def guarded_model(model, guard):
    """``model`` with its guard ``(low, high)`` in the graph (:class:`DoNoHarm`), for export; itself for None."""
    if guard is None:
        return model
    x = keras.Input(model.input_shape[1:], name="corrupted")
    return keras.Model(x, DoNoHarm(*guard, name="do_no_harm")([x, model(x)]), name=f"{model.name}_guarded")


#: The 8 flips and rotations of the square (the dihedral group D4): ``(quarter turns, mirror first)``.
DIHEDRAL = tuple((k, flip) for flip in (False, True) for k in range(4))


def _dihedral(x, k, flip):
    """Batch ``x`` (N, H, W, C) mirrored left-right (if ``flip``), then turned ``k`` quarter turns (a view)."""
    if flip:
        x = x[:, :, ::-1]
    return np.rot90(x, k, axes=(1, 2))


def _dihedral_inverse(y, k, flip):
    """Undo :func:`_dihedral` on a batch."""
    y = np.rot90(y, -k, axes=(1, 2))
    return y[:, :, ::-1] if flip else y


def _plan(geometry, shape, *, batch_size, tile):
    """The passes restoring a batch of ``shape``: lists of ``(image, window, core, kept)``."""
    n, h, w, _ = shape
    multiple, overlap, pass_pixels = geometry
    ph, pw = (-h) % multiple, (-w) % multiple
    if tile is None or max(h + ph, w + pw) <= tile + 2 * overlap:  # whole images, as many a pass as fit
        windows, (win_h, win_w) = [((slice(None), slice(None)), *[(slice(0, h), slice(0, w))] * 2)], (h + ph, w + pw)
    else:
        windows = tile_windows(h + ph, w + pw, tile=tile, overlap=overlap, multiple=multiple)
        win_h, win_w = windows[0][0][0].stop - windows[0][0][0].start, windows[0][0][1].stop - windows[0][0][1].start
    per_pass = batch_size if tile is None else max(1, min(batch_size, pass_pixels // (win_h * win_w)))
    jobs = [(i, *_crop_core(wnd, core, kept, h, w)) for i in range(n) for wnd, core, kept in windows]
    return [jobs[k:k + per_pass] for k in range(0, len(jobs), per_pass)]


def _run_plan(model, multiple, x, plan, *, out_dtype, bar):
    """Run :func:`_plan`'s passes over batch ``x``; ``out_dtype=None`` keeps the raw float32 output."""
    n, h, w, c = x.shape
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if min(h, w) > max(ph, pw) else "edge"
        x = np.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)
    out = np.empty((n, h, w, c), dtype=out_dtype or np.float32)
    # Compiled (traced once a shape, ~0.2 s): a third faster over many passes; frees each layer's output once used.
    for jobs in plan:
        batch = np.stack([x[i][window] for i, window, _, _ in jobs])
        y = _forward(model, batch, out_dtype, compiled=len(plan) > 2 or batch[..., 0].size >= 1 << 18)
        for (i, _, core, kept), restored in zip(jobs, y):
            out[i][core] = restored[kept]
        bar.update(1)
    return out


def _crop_core(window, core, kept, h, w):
    """Trim a tile's core (and its place in the window) to the unpadded image."""
    (r, q), (kr, kq) = core, kept
    dr, dq = max(0, r.stop - h), max(0, q.stop - w)
    return (window, (slice(r.start, r.stop - dr), slice(q.start, q.stop - dq)),
            (slice(kr.start, kr.stop - dr), slice(kq.start, kq.stop - dq)))


def _forward(model, batch, dtype, *, compiled=False):
    """One forward pass: ``batch`` in its stored dtype -> the output quantised to ``dtype`` (None: raw float32)."""
    gray = batch.shape[-1] == 1
    xf = to_float32(batch)
    if gray:
        xf = np.repeat(xf, 3, axis=-1)
    y = keras.ops.convert_to_numpy(model.predict_on_batch(xf) if compiled else model(xf, training=False))
    if y.shape != xf.shape:  # a model that does not fit would be broadcast or cropped into a wrong image
        raise ValueError(f"model {model.name} returned shape {tuple(y.shape[1:])} for an input of "
                         f"{tuple(xf.shape[1:])}; a restoration model must return its input's shape. Nothing was "
                         "written; use a restoration model (deblur restore --list-models).")
    if not np.isfinite(y).all():
        raise ValueError(f"model {model.name} returned NaN or infinite values: its weights are broken (a diverged "
                         "run?). Nothing was written; use another model or an earlier checkpoint.")
    if gray:
        y = y.mean(axis=-1, keepdims=True)
    return y.astype(np.float32, copy=False) if dtype is None else quantise(y, dtype)


def _to_batch(images):
    if isinstance(images, bytes) or images is None:
        raise TypeError(f"images must be an array or the path of an image file; got {type(images).__name__}.")
    a = np.asarray(images)
    dtype, shape = a.dtype, a.shape
    if a.ndim not in (2, 3, 4):
        raise ValueError(f"images must be (H, W), (H, W, C) or (N, H, W, C); got shape {shape}.")
    x = a[None, :, :, None] if a.ndim == 2 else a[None] if a.ndim == 3 else a
    if 0 in x.shape[:3]:
        raise ValueError(f"images is empty (shape {shape}).")
    if x.shape[-1] not in (1, 3) and x.shape[1] in (1, 3, 4) and x.shape[-1] > 4:
        raise ValueError(f"images of shape {shape} are either channels-first (C, H, W), which deblur takes channels "
                         f"last (pass np.moveaxis(images, -3, -1)), or {shape[0]} grayscale images (pass "
                         "images[..., None]).")
    if x.shape[-1] not in (1, 3):
        raise ValueError(f"images must be grayscale (1 channel) or RGB (3 channels); got {x.shape[-1]} channels "
                         f"(shape {shape}). Drop an alpha channel with images[..., :3].")
    if x.dtype.name in FULL_SCALE:  # converted to float pass by pass (a quarter or half of float32's memory)
        return x, (dtype, shape)
    # restore() never writes into x, so the caller's float32 array may be shared here.
    return as_float_images(x, name="images", slack=NOISE_SLACK), (dtype, shape)
