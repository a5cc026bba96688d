"""The study's corruption: Gaussian blur with a random sigma, then Gaussian noise.

Per image: blur with a ``kernel_size`` x ``kernel_size`` Gaussian kernel whose
sigma is drawn uniformly from ``sigma_range`` (OpenCV's ``GaussianBlur`` with
its default reflect-101 border), then add ``noise_std * N(0, 1)`` per pixel and
channel. No clipping afterwards, as in the study.

The blur is vectorised over the batch: each image has its own separable
kernel, applied as ``kernel_size`` shifted multiply-adds per axis on the whole
batch, so there is no per-image Python loop and OpenCV is not needed at run
time (it is only a test-time reference).
"""

from __future__ import annotations

import numpy as np

from ._validation import as_float_images

__all__ = ["corrupt", "gaussian_kernel_1d", "gaussian_blur"]

# Images processed at once; bounds the float32 temporaries (about 12 MB each).
_CHUNK = 1024


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
    images : ndarray, shape (N, H, W, C), float32 or float64
        Images to blur.
    sigmas : array_like of float, shape (N,)
        One sigma per image, > 0.
    kernel_size : int, default 5
        Odd kernel size; H and W must exceed ``kernel_size // 2``.

    Returns
    -------
    blurred : ndarray, shape (N, H, W, C), float32
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C); got {images.shape}.")
    n, height, width, _ = images.shape
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if sigmas.shape[0] != n:
        raise ValueError(f"Need one sigma per image: {sigmas.shape[0]} sigmas for {n} images.")
    half = kernel_size // 2
    if min(height, width) <= half:
        raise ValueError(
            f"Images of {height}x{width} are too small for a {kernel_size}x{kernel_size} "
            "kernel with reflect-101 borders."
        )
    kernels = gaussian_kernel_1d(sigmas, kernel_size).astype(np.float32)
    out = np.empty(images.shape, dtype=np.float32)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        out[start:stop] = _blur_chunk(images[start:stop], kernels[start:stop], half)
    return out


def _blur_chunk(images, kernels, half):
    # numpy's "reflect" mode is OpenCV's BORDER_REFLECT_101 (edge not repeated).
    padded = np.pad(
        images.astype(np.float32, copy=False),
        ((0, 0), (half, half), (half, half), (0, 0)),
        mode="reflect",
    )
    height = images.shape[1]
    width = images.shape[2]
    weights = kernels[:, :, None, None, None]  # (n, k, 1, 1, 1)
    # Horizontal pass then vertical pass, as OpenCV's separable filter does.
    rows = sum(weights[:, k] * padded[:, :, k : k + width] for k in range(2 * half + 1))
    return sum(weights[:, k] * rows[:, k : k + height] for k in range(2 * half + 1))


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
    noise_std : float, default 0.02
        Standard deviation of the additive Gaussian noise (0 disables it).
    clip : bool, default False
        Clip the result to [0, 1]. Off in the study.

    Returns
    -------
    corrupted : ndarray of float32, shape like ``images``
        Blurred and noisy images (may leave [0, 1] unless ``clip``).
    sigmas : ndarray of float64, shape (N,)
        The blur sigma used for each image (shape ``(1,)`` for one image).
    """
    low, high = (float(v) for v in sigma_range)
    if not (0 < low <= high) or not np.isfinite(high):
        raise ValueError(f"sigma_range must satisfy 0 < low <= high; got {sigma_range}.")
    if not np.isfinite(noise_std) or noise_std < 0:
        raise ValueError(f"noise_std must be finite and >= 0; got {noise_std}.")
    single = np.ndim(images) == 3
    x = as_float_images(images[None] if single else images, name="images")
    rng = np.random.default_rng(seed)
    sigmas = rng.uniform(low, high, size=x.shape[0])
    out = gaussian_blur(x, sigmas, kernel_size=kernel_size)
    if noise_std > 0:
        for start in range(0, len(out), _CHUNK):
            chunk = out[start : start + _CHUNK]
            chunk += np.float32(noise_std) * rng.standard_normal(chunk.shape, dtype=np.float32)
    if clip:
        np.clip(out, 0.0, 1.0, out=out)
    return (out[0] if single else out), sigmas
