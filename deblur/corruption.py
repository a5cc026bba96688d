"""The study's corruption: Gaussian blur with a random sigma, then Gaussian noise.

Per image: blur with a ``kernel_size`` x ``kernel_size`` Gaussian kernel whose
sigma is drawn uniformly from ``sigma_range`` (OpenCV's ``GaussianBlur`` with
its default reflect-101 border), then add ``noise_std * N(0, 1)`` per pixel and
channel. No clipping afterwards, as in the study. Outside the study, the noise
level may be drawn per image too (``noise_std=(low, high)``).

The blur is vectorised over the batch: each image has its own separable
kernel, applied as ``kernel_size`` shifted multiply-adds per axis on the whole
batch, so there is no per-image Python loop and OpenCV is not needed at run
time (it is only a test-time reference).

The same corruption as Keras operations, run on the training device
(:func:`blur_ops`, :class:`DeviceCorruption`), lives in
:mod:`deblur.device_corruption` and is re-exported here on first use, so that
importing this module does not import Keras.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._validation import check_images

__all__ = ["corrupt", "gaussian_kernel_1d", "gaussian_blur", "blur_ops", "DeviceCorruption"]

_DEVICE_NAMES = ("blur_ops", "DeviceCorruption")


def __getattr__(name):
    # PEP 562: the Keras twins load (with Keras) only when asked for.
    if name in _DEVICE_NAMES:
        from . import device_corruption

        return getattr(device_corruption, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

# Images processed at once: the float32 temporaries of a chunk (3 MB) stay in cache.
_CHUNK = 256


def gaussian_kernel_1d(sigmas, kernel_size=5):
    """Normalised 1-D Gaussian kernels, as ``cv2.getGaussianKernel``.

    Parameters
    ----------
    sigmas : array_like of float, shape (N,)
        Standard deviations in pixels, each > 0.
    kernel_size : int, default 5
        Odd kernel length.

    Returns
    -------
    kernels : ndarray of float64, shape (N, kernel_size)
        Each row sums to 1.
    """
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer; got {kernel_size}.")
    if np.any(~np.isfinite(sigmas)) or np.any(sigmas <= 0):
        raise ValueError("sigmas must be finite and > 0.")
    offsets = np.arange(kernel_size, dtype=np.float64) - (kernel_size - 1) / 2
    kernels = np.exp(-(offsets[None, :] ** 2) / (2.0 * sigmas[:, None] ** 2))
    return kernels / kernels.sum(axis=1, keepdims=True)


def gaussian_blur(images, sigmas, *, kernel_size=5):
    """Blur each image with its own Gaussian, reflect-101 borders.

    Agrees with ``cv2.GaussianBlur(image, (kernel_size, kernel_size), sigma)``
    (default border) per image.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C), uint8 or float (finite)
        Images to blur (uint8 is scaled by 1/255).
    sigmas : array_like of float, shape (N,)
        One sigma per image, > 0.
    kernel_size : int, default 5
        Odd kernel size; H and W must exceed ``kernel_size // 2``.

    Returns
    -------
    blurred : ndarray, shape (N, H, W, C), float32
    """
    images = check_images(images, name="images", check_range=False)
    n = images.shape[0]
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if sigmas.shape[0] != n:
        raise ValueError(f"Need one sigma per image: {sigmas.shape[0]} sigmas for {n} images.")
    return _corrupt_into(images, sigmas, None, kernel_size=kernel_size, noise_std=0.0)


def _blur_chunks(images, kernels, half, out, *, workers=2):
    """Blur chunk after chunk into ``out`` on a small thread pool.

    numpy releases the GIL inside its array loops, so two threads keep two
    cores busy. Yields ``(start, stop)`` of each chunk, in order, once it is
    written (the caller may add noise to it meanwhile).
    """

    def work(start):
        stop = min(start + _CHUNK, len(images))
        chunk = images[start:stop]
        if chunk.dtype == np.uint8:
            chunk = chunk.astype(np.float32)
            chunk *= np.float32(1.0 / 255.0)
        out[start:stop] = _blur_chunk(chunk, kernels[start:stop], half)
        return start, stop

    starts = range(0, len(images), _CHUNK)
    if workers <= 1 or len(starts) == 1:
        yield from map(work, starts)
        return
    with ThreadPoolExecutor(workers) as pool:
        yield from pool.map(work, starts)


def _blur_chunk(images, kernels, half):
    # numpy's "reflect" mode is OpenCV's BORDER_REFLECT_101 (edge not repeated).
    padded = np.pad(
        images.astype(np.float32, copy=False),
        ((0, 0), (half, half), (half, half), (0, 0)),
        mode="reflect",
    )
    height, width = images.shape[1:3]
    # Horizontal pass then vertical pass, as OpenCV's separable filter does.
    # Gaussian kernels are symmetric, so taps k and -k share one multiply, and
    # the in-place updates keep the temporaries to one chunk each (in cache).
    rows = _symmetric_pass(padded, kernels, half, axis=2, length=width)
    return _symmetric_pass(rows, kernels, half, axis=1, length=height)


def _symmetric_pass(x, kernels, half, *, axis, length):
    def window(offset):
        index = [slice(None)] * 4
        index[axis] = slice(half + offset, half + offset + length)
        return x[tuple(index)]

    out = window(0) * kernels[:, half, None, None, None]
    tmp = np.empty_like(out)
    for k in range(1, half + 1):
        np.add(window(-k), window(k), out=tmp)
        tmp *= kernels[:, half + k, None, None, None]
        out += tmp
    return out


def corrupt(
    images,
    seed=None,
    *,
    kernel_size=5,
    sigma_range=(1.0, 4.0),
    noise_std=0.02,
    clip=False,
):
    """Corrupt images the study's way: random Gaussian blur, then noise.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C) or (H, W, C)
        uint8 in [0, 255] (scaled by 1/255) or float in [0, 1]. Not modified.
    seed : int, numpy.random.Generator or None, default None
        Source of randomness. The same int (or a Generator in the same state)
        gives bit-identical output; ``None`` draws fresh entropy.
    kernel_size : int, default 5
        Odd size of the square Gaussian kernel.
    sigma_range : (float, float), default (1.0, 4.0)
        Sigma is drawn uniformly from ``[low, high)`` per image.
    noise_std : float or (float, float), default 0.02
        Standard deviation of the additive Gaussian noise (0 disables it),
        or a range ``(low, high)`` to draw it from uniformly per image
        (drawn after the sigmas; a number leaves the random stream as the
        study's).
    clip : bool, default False
        Clip the result to [0, 1]. Off in the study.

    Returns
    -------
    corrupted : ndarray of float32, shape like ``images``
        Blurred and noisy images (may leave [0, 1] unless ``clip``).
    sigmas : ndarray of float64, shape (N,)
        The blur sigma used for each image (shape ``(1,)`` for one image).
    """
    low, high = check_settings(kernel_size=kernel_size, sigma_range=sigma_range, noise_std=noise_std)
    single = np.ndim(images) == 3
    x = check_images(images[None] if single else images, name="images")
    rng = np.random.default_rng(seed)
    sigmas = rng.uniform(low, high, size=x.shape[0])
    out = _corrupt_into(x, sigmas, rng, kernel_size=kernel_size, noise_std=noise_levels(noise_std, rng, len(x)))
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    return (out[0] if single else out), sigmas


def check_settings(*, kernel_size, sigma_range, noise_std):
    """Validate the corruption's settings; return ``sigma_range`` as floats.

    Shared by :func:`corrupt` and :class:`deblur.pipeline.FreshCorruption`.

    Returns
    -------
    low, high : float
    """
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, (int, np.integer)) \
            or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer; got {kernel_size}.")
    low, high = (float(v) for v in sigma_range)
    if not (0 < low <= high) or not np.isfinite(high):
        raise ValueError(f"sigma_range must satisfy 0 < low <= high; got {sigma_range}.")
    check_noise(noise_std)
    return low, high


def check_noise(noise_std):
    """Validate a noise level, or a ``(low, high)`` range of them; return it as a float or a tuple of floats."""
    if np.ndim(noise_std) == 0:
        if isinstance(noise_std, (str, bytes)) or not np.isfinite(noise_std) or noise_std < 0:
            raise ValueError(f"noise_std must be finite and >= 0; got {noise_std}.")
        return float(noise_std)
    pair = tuple(float(v) for v in np.ravel(noise_std))
    if len(pair) != 2 or not (np.all(np.isfinite(pair)) and 0 <= pair[0] <= pair[1]):
        raise ValueError(f"noise_std must be a number >= 0 or a range (low, high) with 0 <= low <= high; "
                         f"got {noise_std}.")
    return pair


def noise_levels(noise_std, rng, n):
    """The noise level of each of ``n`` images: ``noise_std`` itself, or ``n`` draws from its range.

    A number draws nothing from ``rng`` (the study's stream); a range draws
    ``n`` uniform numbers. Settings are assumed checked (:func:`check_noise`).
    """
    if np.ndim(noise_std) == 0:
        return float(noise_std)
    low, high = noise_std
    return rng.uniform(low, high, size=n)


def _corrupt_into(x, sigmas, rng, *, kernel_size, noise_std, workers=2):
    """Blur (thread pool) and add noise (drawn in order from ``rng``); settings unchecked.

    ``noise_std``: one level for all images, or an array of one per image.
    """
    half = kernel_size // 2
    if min(x.shape[1:3]) <= half:
        raise ValueError(
            f"Images of {x.shape[1]}x{x.shape[2]} are too small for a {kernel_size}x{kernel_size} "
            "kernel with reflect-101 borders."
        )
    kernels = gaussian_kernel_1d(sigmas, kernel_size).astype(np.float32)
    out = np.empty(x.shape, dtype=np.float32)
    per_image = np.ndim(noise_std) > 0
    for start, stop in _blur_chunks(x, kernels, half, out, workers=workers):
        if per_image or noise_std > 0:
            # Drawn chunk by chunk in image order: the stream, and so the
            # result, does not depend on the chunk size or the thread count.
            chunk = out[start:stop]
            scale = (np.asarray(noise_std[start:stop], np.float32)[:, None, None, None] if per_image
                     else np.float32(noise_std))
            chunk += scale * rng.standard_normal(chunk.shape, dtype=np.float32)
    return out
