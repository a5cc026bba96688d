"""The study's corruption (:func:`corrupt`): Gaussian blur with a random sigma, as OpenCV's, then Gaussian noise.

:mod:`deblur.device_corruption` runs the same blur with ``xp=keras.ops``; this module does not import Keras."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._validation import check_images, check_int, check_seed, to_float32

#: Sigmas below this blur nothing: the kernel is a unit impulse (sigma 0 is "no blur").
MIN_SIGMA = 1e-3

__all__ = ["corrupt", "gaussian_kernel_1d", "gaussian_blur", "gaussian_kernels", "magnify", "separable_blur"]

# Images processed at once: the float32 temporaries of a chunk (3 MB) stay in cache.
_CHUNK = 256


def gaussian_kernel_1d(sigmas, kernel_size=5):
    """Normalised 1-D Gaussian kernels of odd ``kernel_size``, as ``cv2.getGaussianKernel``: float64, (N, kernel_size).

    ``sigmas`` (N,): standard deviations in pixels, finite and >= 0 (0: no blur)."""
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    check_int(kernel_size, "kernel_size", odd=True)
    if np.any(~np.isfinite(sigmas)) or np.any(sigmas < 0):
        raise ValueError("sigmas must be finite and >= 0 (0: no blur).")
    return gaussian_kernels(sigmas[:, None], kernel_size, dtype="float64")


def gaussian_kernels(sigmas, kernel_size, *, dtype, xp=np):
    """Normalised 1-D Gaussian kernels (N, kernel_size), unchecked: the one formula, numpy or ``keras.ops`` (``xp``).

    ``sigmas`` is (N, 1) of ``dtype``: ``"float64"`` with numpy, ``"float32"`` on a device."""
    offsets = xp.arange(kernel_size, dtype=dtype) - (kernel_size - 1) / 2
    # Sigma 0 is no blur: below MIN_SIGMA the kernel is a unit impulse (its other taps underflow to 0).
    weights = xp.exp(-(offsets[None, :] ** 2) / (2.0 * xp.maximum(sigmas, MIN_SIGMA) ** 2))
    return weights / xp.sum(weights, axis=1, keepdims=True)


def gaussian_blur(images, sigmas, *, kernel_size=5):
    """Blur each image with its own Gaussian, as ``cv2.GaussianBlur`` (reflect-101 borders): float32 (N, H, W, C).

    ``images``: (N, H, W, C), uint8 (/255) or finite float, H and W > ``kernel_size // 2`` (odd); ``sigmas``: (N,)."""
    images = check_images(images, name="images", check_range=False)
    n = images.shape[0]
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if sigmas.shape[0] != n:
        raise ValueError(f"Need one sigma per image: {sigmas.shape[0]} sigmas for {n} images.")
    return _corrupt_into(images, sigmas, None, kernel_size=kernel_size, noise_std=0.0)


def _blur_chunks(images, kernels, out, *, workers=2):
    """Blur into ``out`` on threads (numpy frees the GIL); yield each chunk's ``(start, stop)`` once written."""

    def work(start):
        stop = min(start + _CHUNK, len(images))
        chunk = images[start:stop]
        chunk = to_float32(chunk) if chunk.dtype == np.uint8 else chunk.astype(np.float32, copy=False)
        out[start:stop] = separable_blur(chunk, kernels[start:stop])
        return start, stop

    starts = range(0, len(images), _CHUNK)
    if workers <= 1 or len(starts) == 1:
        yield from map(work, starts)
        return
    with ThreadPoolExecutor(workers) as pool:
        yield from pool.map(work, starts)


def separable_blur(images, kernels, *, xp=np):
    """Blur each image with its own separable kernel, reflect-101 borders: the one pass, numpy or ``keras.ops``.

    Horizontal, then vertical (OpenCV's order): float32 (N, H, W, C) and odd kernels (N, K) in, float32 out."""
    half = kernels.shape[1] // 2
    height, width = images.shape[1], images.shape[2]  # None for a traced dimension
    if height is not None and width is not None and min(height, width) <= half:
        raise ValueError(f"Images of {height}x{width} are too small for a {kernels.shape[1]}x{kernels.shape[1]} "
                         "kernel with reflect-101 borders.")
    taps = [kernels[:, half + k, None, None, None] for k in range(half + 1)]  # (N, 1, 1, 1) each
    padded = xp.pad(images, ((0, 0), (half, half), (half, half), (0, 0)), mode="reflect")
    rows = _symmetric_pass(padded, taps, half, axis=2)
    return _symmetric_pass(rows, taps, half, axis=1)


def _symmetric_pass(x, taps, half, *, axis):
    """One 1-D pass along ``axis`` (1: down the rows, 2: along them), dropping its padding."""
    length = x.shape[axis] - 2 * half

    def window(offset):
        index = [slice(None)] * 4
        index[axis] = slice(half + offset, half + offset + length)
        return x[tuple(index)]

    out = window(0) * taps[0]
    for k in range(1, half + 1):
        out = out + (window(-k) + window(k)) * taps[k]
    return out


def corrupt(images, seed=None, *, kernel_size=5, sigma_range=(1.0, 4.0), noise_std=0.02, sharp_fraction=0.0,
            clip=False):
    """Corrupt images the study's way, random Gaussian blur then noise: ``(corrupted, sigmas)``.

    ``corrupted``: float32 shaped like ``images`` (outside [0, 1] unless ``clip``, off in the study); ``sigmas``:
    float64 (N,), each image's blur sigma (shape ``(1,)`` for one image). ``images``: (N, H, W, C) or (H, W, C), uint8
    (scaled by 1/255) or float in [0, 1]; not modified. ``seed``: an int, a ``numpy.random.Generator`` or None (fresh
    entropy); the same int or Generator state gives bit-identical output. ``kernel_size``: the odd side of the square
    Gaussian kernel; sigma is drawn uniformly from ``sigma_range``, ``[low, high)``, per image. ``noise_std``: the
    additive Gaussian noise's std (0: none) or a ``(low, high)`` range drawn per image (after the sigmas);
    ``sharp_fraction``: the share of images left sharp (sigma 0, drawn next); the defaults keep the study's stream."""
    settings = check_settings(kernel_size=kernel_size, sigma_range=sigma_range, noise_std=noise_std,
                              sharp_fraction=sharp_fraction)
    single = np.ndim(images) == 3
    x = check_images(images[None] if single else images, name="images")
    rng = np.random.default_rng(check_seed(seed))
    sigmas, levels = draw_settings(rng, len(x), sigma_range=settings["sigma_range"], noise_std=noise_std,
                                   sharp_fraction=settings["sharp_fraction"])
    out = _corrupt_into(x, sigmas, rng, kernel_size=kernel_size, noise_std=levels)
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    return (out[0] if single else out), sigmas


def check_settings(*, kernel_size=5, sigma_range=(1.0, 4.0), noise_std=0.02, sharp_fraction=0.0, zoom_fraction=0.0,
                   zoom_range=(1.0, 2.0)):
    """Validate a corruption's settings (the one home of these checks); return them by name, ranges as float tuples.

    ``noise_std`` is a number or a ``(low, high)`` range; ``zoom_range`` holds magnifications (>= 1)."""
    check_int(kernel_size, "kernel_size", odd=True)
    low, high = (float(v) for v in sigma_range)
    if not (0 <= low <= high) or not np.isfinite(high):
        raise ValueError(f"sigma_range must satisfy 0 <= low <= high (0: no blur); got {sigma_range}.")
    if np.ndim(noise_std) == 0:
        # Images span [0, 1]: a standard deviation above 1 buries them (and near 1e39 overflows float32 to inf).
        if isinstance(noise_std, (str, bytes)) or not 0 <= noise_std <= 1:
            raise ValueError(f"noise_std must be in [0, 1] (the images span [0, 1]); got {noise_std}.")
        noise = float(noise_std)
    else:
        noise = tuple(float(v) for v in np.ravel(noise_std))
        if len(noise) != 2 or not 0 <= noise[0] <= noise[1] <= 1:
            raise ValueError(f"noise_std must be a number in [0, 1] or a range (low, high) with 0 <= low <= high <= 1; "
                             f"got {noise_std}.")
    sharp = check_fraction(sharp_fraction)
    zoom_low, zoom_high = (float(v) for v in zoom_range)
    if not (1 <= zoom_low <= zoom_high and np.isfinite(zoom_high)):
        raise ValueError(f"zoom_range must satisfy 1 <= low <= high (magnifications); got {zoom_range}.")
    return {"kernel_size": int(kernel_size), "sigma_range": (low, high), "noise_std": noise, "sharp_fraction": sharp,
            "zoom_fraction": check_fraction(zoom_fraction, name="zoom_fraction"), "zoom_range": (zoom_low, zoom_high)}


def check_fraction(fraction, *, name="sharp_fraction"):
    """Validate a share of images (unblurred ones by default) in [0, 1]; return it as a float."""
    if isinstance(fraction, (str, bytes)) or not np.isfinite(fraction) or not 0 <= fraction <= 1:
        raise ValueError(f"{name} must be in [0, 1]; got {fraction!r}.")
    return float(fraction)


def magnify(images, factors, positions):
    """Crops of images magnified by ``factors``, each the size of its image: softer "sharp" images, as photos are.

    Keys cubic interpolation (``a = -0.75``, OpenCV's ``INTER_CUBIC``; edges repeated), batched. ``images``: float32
    (N, H, W, C), and so the result; ``factors`` (N,): each >= 1 (1: unchanged); ``positions`` (N, 2): where each crop
    lies in the magnified image, per axis (rows, columns), 0 top or left to 1 bottom or right.

    Examples
    --------
    >>> x = np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)
    >>> bool(np.allclose(magnify(x, [1.0, 1.0], [[0, 0], [1, 1]]), x))
    True"""
    factors = np.asarray(factors, dtype=np.float64).reshape(-1)
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    if not (len(factors) == len(positions) == len(images) and np.all(np.isfinite(factors) & (factors >= 1))):
        raise ValueError(f"Need one factor >= 1 and one (row, column) position per image; got {len(factors)} factors "
                         f"and {len(positions)} positions for {len(images)} images.")
    rows = _cubic_resampling(images.shape[1], factors, np.clip(positions[:, 0], 0, 1))
    cols = _cubic_resampling(images.shape[2], factors, np.clip(positions[:, 1], 0, 1))
    out = np.matmul(rows[:, None], np.moveaxis(images, 3, 1))          # (N, C, H, W): rows resampled
    return np.moveaxis(np.matmul(out, np.swapaxes(cols, 1, 2)[:, None]), 1, 3).astype(np.float32)


def _cubic_resampling(size, factors, positions, a=-0.75):
    """(N, size, size) float32 matrices: output pixel i of image n is row i of matrix n times the input's pixels."""
    n = len(factors)
    start = positions * size * (1 - 1 / factors)                          # the crop's first source pixel
    # Pixel centres as OpenCV's resize maps them: source = (i + 0.5) / factor - 0.5.
    source = start[:, None] + (np.arange(size)[None] + 0.5) / factors[:, None] - 0.5
    first = np.floor(source).astype(int) - 1
    matrix = np.zeros((n, size, size), np.float32)
    image, row = np.arange(n)[:, None], np.arange(size)[None]
    for tap in range(4):
        d = np.abs(source - (first + tap))
        weight = np.where(d < 1, ((a + 2) * d - (a + 3)) * d * d + 1, ((a * d - 5 * a) * d + 8 * a) * d - 4 * a)
        matrix[image, row, np.clip(first + tap, 0, size - 1)] += np.where(d < 2, weight, 0)
    return matrix


def draw_zoom(rng, n, *, zoom_fraction, zoom_range):
    """Each of ``n`` images' magnification (1: none) and crop position, drawn from ``rng`` (nothing if no zoom)."""
    if zoom_fraction <= 0:
        return None
    factors = np.where(rng.random(n) < zoom_fraction, rng.uniform(*zoom_range, size=n), 1.0)
    return factors, rng.random((n, 2))


def draw_settings(rng, n, *, sigma_range, noise_std, sharp_fraction=0.0):
    """Each of ``n`` images' blur sigma and noise level, drawn in this order from ``rng``; settings checked.

    Sigmas uniform in ``sigma_range``; noise levels as :func:`noise_levels`; then, only if ``sharp_fraction > 0``,
    which images stay sharp (sigma 0). The one home of these draws: :func:`corrupt` and the training pipeline."""
    sigmas = rng.uniform(*sigma_range, size=n)
    levels = noise_levels(noise_std, rng, n)
    if sharp_fraction > 0:
        sigmas[rng.random(n) < sharp_fraction] = 0.0
    return sigmas, levels


def noise_levels(noise_std, rng, n):
    """Each of ``n`` images' noise level: ``noise_std`` itself (no draw: the study's stream), or draws in its range."""
    if np.ndim(noise_std) == 0:
        return float(noise_std)
    return rng.uniform(*noise_std, size=n)


def _corrupt_into(x, sigmas, rng, *, kernel_size, noise_std, workers=2, skip=0):
    """Blur and add noise, unchecked; ``skip`` images before ``x`` (other shards) have their noise drawn and dropped."""
    kernels = gaussian_kernel_1d(sigmas, kernel_size).astype(np.float32)
    out = np.empty(x.shape, dtype=np.float32)
    per_image = np.ndim(noise_std) > 0
    if skip and (per_image or noise_std > 0):
        rng.standard_normal((skip, *x.shape[1:]), dtype=np.float32)
    for start, stop in _blur_chunks(x, kernels, out, workers=workers):
        if per_image or noise_std > 0:
            # Drawn chunk by chunk in image order: the result does not depend on the chunk size or thread count.
            chunk = out[start:stop]
            scale = (np.asarray(noise_std[start:stop], np.float32)[:, None, None, None] if per_image
                     else np.float32(noise_std))
            chunk += scale * rng.standard_normal(chunk.shape, dtype=np.float32)
    return out
