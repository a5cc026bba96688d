"""Classical baselines from ``skimage.restoration``, for comparison with the networks.

The deconvolution baselines are *oracles*: given each image's true blur sigma, which the networks never see. Each
maps float images (N, H, W, C), reflect-padded against FFT edge effects, to float32 restorations channel by channel."""

from __future__ import annotations

import time

import numpy as np
from skimage.restoration import denoise_tv_chambolle, richardson_lucy, unsupervised_wiener, wiener

from ._validation import as_float_images
from .corruption import gaussian_kernel_1d
from .metrics import per_image_mse

__all__ = ["gaussian_psf", "wiener_oracle", "richardson_lucy_oracle", "unsupervised_wiener_oracle", "tv_denoise",
           "BASELINES", "tune", "run_timed"]


def gaussian_psf(sigma, kernel_size=5):
    """The study's 2-D blur kernel, float64 (kernel_size, kernel_size): outer product of OpenCV's 1-D Gaussian."""
    k = gaussian_kernel_1d([sigma], kernel_size)[0]
    return np.outer(k, k)


def _per_image(corrupted, sigmas, restore_channel, *, pad, psf=None):
    x = as_float_images(corrupted, name="corrupted", check_range=False)
    if psf is not None:
        psf = np.asarray(psf, np.float64)
        if psf.ndim != 2 or not np.isfinite(psf).all() or psf.sum() <= 0:
            raise ValueError(f"psf must be one finite 2-D kernel with a positive sum; got shape {psf.shape}.")
    elif sigmas is not None:
        sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
        if len(sigmas) != len(x):
            raise ValueError(f"Need one sigma per image: {len(sigmas)} sigmas for {len(x)} images.")
    if pad < 0 or (pad and pad >= min(x.shape[1:3])):
        raise ValueError(f"pad must be in [0, {min(x.shape[1:3]) - 1}] for these images; got {pad}.")
    out = np.empty_like(x)
    h, w = x.shape[1:3]
    for i, image in enumerate(x):
        kernel = psf if psf is not None else gaussian_psf(sigmas[i]) if sigmas is not None else None
        padded = np.pad(image.astype(np.float64), ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
        for c in range(x.shape[-1]):
            out[i, ..., c] = restore_channel(padded[..., c], kernel)[pad : pad + h, pad : pad + w]
    return out


def wiener_oracle(corrupted, sigmas=None, *, psf=None, balance=0.01, pad=8):
    """Wiener deconvolution (``skimage.restoration.wiener``) with each image's true PSF.

    The study's Gaussian of each image's ``sigmas`` (the oracle), or one ``psf`` (K, K) for all (any blur family:
    :func:`deblur.degradations.family_kernel`). ``corrupted``: float (N, H, W, C), unclipped; ``balance``: the
    regularisation (data fit against smoothness); ``pad``: reflect padding each side before the FFT (0: none)."""
    if (sigmas is None) == (psf is None):
        raise ValueError("Give the true blur once: sigmas (the study's Gaussian per image) or psf (one kernel).")
    return _per_image(corrupted, sigmas, lambda ch, k: wiener(ch, k, balance, clip=False), pad=pad, psf=psf)


def richardson_lucy_oracle(corrupted, sigmas, *, num_iter=10, pad=8):
    """Richardson-Lucy deconvolution with each image's true PSF, the input clipped to [0, 1] first (it needs >= 0).

    ``num_iter``: more sharpens more and amplifies noise more; the other arguments are :func:`wiener_oracle`'s."""
    return _per_image(corrupted, sigmas, pad=pad, restore_channel=lambda ch, psf: richardson_lucy(
        np.clip(ch, 0.0, 1.0), psf, num_iter=num_iter, clip=False))


def unsupervised_wiener_oracle(corrupted, sigmas, *, pad=8, seed=0):
    """Wiener-Hunt deconvolution with self-tuned regularisation, true PSF (``unsupervised_wiener``; slow, seeded)."""
    rng = np.random.default_rng(seed)
    return _per_image(corrupted, sigmas, lambda ch, psf: unsupervised_wiener(ch, psf, clip=False, rng=rng)[0], pad=pad)


def tv_denoise(corrupted, *, weight=0.05):
    """Denoise only (no deblurring): ``skimage.restoration.denoise_tv_chambolle`` of strength ``weight``."""
    x = as_float_images(corrupted, name="corrupted", check_range=False)
    return np.stack([denoise_tv_chambolle(im, weight=weight, channel_axis=-1) for im in x]).astype(np.float32)


#: name -> (function, whether it needs the true sigmas, tunable parameter, grid, oracle?)
BASELINES = {
    "wiener": (wiener_oracle, True, "balance", (0.001, 0.003, 0.01, 0.03, 0.1, 0.3), True),
    "richardson_lucy": (richardson_lucy_oracle, True, "num_iter", (2, 5, 10, 20, 40), True),
    "unsupervised_wiener": (unsupervised_wiener_oracle, True, None, (), True),
    "tv_denoise": (tv_denoise, False, "weight", (0.001, 0.003, 0.01, 0.02, 0.05, 0.1), False),
}


def tune(name, corrupted, clean, sigmas=None):
    """Choose a baseline's parameter by validation MSE over its grid.

    ``name``: a key of :data:`BASELINES`; ``corrupted``, ``clean``: validation images (never the test set); ``sigmas``:
    true sigmas, for the oracles. Returns ``best``, ``{parameter: value}`` with the lowest mean MSE (empty when the
    method has no parameter), and ``scores``, ``{value: validation MSE}`` for the grid."""
    try:
        fn, needs_sigma, param, grid, _ = BASELINES[name]
    except KeyError:
        raise ValueError(f"Unknown baseline {name!r}; choose one of {sorted(BASELINES)}.") from None
    if param is None:
        return {}, {}
    args = (corrupted, sigmas) if needs_sigma else (corrupted,)
    scores = {value: float(np.mean(per_image_mse(fn(*args, **{param: value}), clean))) for value in grid}
    best = min(scores, key=scores.get)
    return {param: best}, scores


def run_timed(name, corrupted, sigmas=None, **params):
    """Run a baseline; return (restored, images per second)."""
    fn, needs_sigma, _, _, _ = BASELINES[name]
    start = time.perf_counter()
    out = fn(corrupted, sigmas, **params) if needs_sigma else fn(corrupted, **params)
    return out, len(out) / (time.perf_counter() - start)
