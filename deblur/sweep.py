"""Degradation sweep: every method over a grid of blur strengths and noise levels, on the *same* images (one seed).

Oracles get the true sigma, the networks nothing; :func:`crossovers` says where each method beats doing nothing."""

from __future__ import annotations

import time

import numpy as np

from . import baselines, corruption, degradations, metrics, models

__all__ = ["SIGMAS", "NOISE_LEVELS", "IDENTITY", "corrupt_setting", "model_methods", "degradation_sweep", "crossovers",
           "describe_crossovers", "format_table"]

#: Blur sigmas of the default grid, from below to beyond the study's [1, 4).
SIGMAS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0)
#: Noise standard deviations of the default grid (the study's is 0.02).
NOISE_LEVELS = (0.0, 0.01, 0.02, 0.05)
#: The name of the do-nothing method (always scored).
IDENTITY = "identity"


def corrupt_setting(clean, *, sigma, noise_std, seed, family="study", angle=0.0):
    """The sweep's corruption at one setting: every image blurred alike, then seeded noise; float32, unclipped.

    ``clean``: (N, H, W, C), uint8 or float in [0, 1]. ``sigma`` (>= 0): for ``family="study"`` the sigma of the study's
    5x5 Gaussian, else the strength of :func:`deblur.degradations.family_kernel` (pixels; ``angle`` in degrees).
    ``seed`` seeds the noise (and a camera shake's trajectory)."""
    if family == "study":
        return corruption.corrupt(clean, seed=seed, sigma_range=(float(sigma),) * 2, noise_std=float(noise_std))[0]
    kernel = degradations.family_kernel(family, sigma, angle=angle, seed=seed)
    blurred = degradations.convolve(clean, kernel)
    noise = np.random.default_rng(seed).standard_normal(blurred.shape, dtype=np.float32)
    return blurred + np.float32(noise_std) * noise


def model_methods(models_by_name, *, wiener_balance=0.01, batch_size=256):
    """The sweep's methods, ``{name: f(corrupted, sigmas) -> restored}``: Wiener with the true PSF and the networks.

    ``models_by_name``: models or shipped models' names. ``wiener_balance``: Wiener's regularisation
    (``reports/baselines.json`` holds the value tuned at the study's corruption)."""
    def wiener(corrupted, blur):  # the study's sigmas (N,), or one kernel (K, K) of another family
        if np.ndim(blur) == 2:
            return baselines.wiener_oracle(corrupted, psf=blur, balance=wiener_balance)
        return baselines.wiener_oracle(corrupted, blur, balance=wiener_balance)

    out = {"wiener (oracle PSF)": wiener}
    for name, model in models_by_name.items():
        model = models.load_pretrained(model) if isinstance(model, str) else model
        out[name] = lambda c, s, model=model: metrics.predict(model, c, batch_size=batch_size)
    return out


def degradation_sweep(methods, clean, *, sigmas=SIGMAS, noise_levels=NOISE_LEVELS, seed, progress=None,
                      family="study", angle=0.0):
    """Test MSE and PSNR of every method at every (sigma, noise) setting, on the same images.

    ``methods``: ``name -> f(corrupted, blur) -> restored`` (:func:`model_methods`; ``blur``: the true one, each image's
    sigma for the study's family, else the kernel); the identity is added first as :data:`IDENTITY`. ``clean``: uint8 or
    float in [0, 1]. ``sigmas``, ``noise_levels``: each >= 0 (sigma 0: no blur); for another ``family``
    (:func:`corrupt_setting`) ``sigmas`` are its strengths. ``seed``: the noise's (``Seeds(...).sweep_corruption``).
    ``progress`` is called with each row as it is scored (e.g. ``print``).

    Returns one dict per setting and method: ``method``, ``sigma`` (the strength), ``noise_std``, ``mse`` and ``psnr``
    (per-image means), ``psnr_of_mean_mse``, ``n_images``, ``seconds``, and ``family`` when not the study's."""
    if not isinstance(methods, dict) or IDENTITY in methods:
        raise ValueError(f"methods must be a dict of name -> f(corrupted, sigmas), without {IDENTITY!r} "
                         "(the sweep adds it).")
    sigmas = [float(s) for s in sigmas]
    noise_levels = [float(n) for n in noise_levels]
    if not sigmas or min(sigmas) < 0 or not noise_levels or min(noise_levels) < 0:
        raise ValueError(f"sigmas and noise_levels must be >= 0 (sigma 0: no blur), neither empty; got {sigmas}, "
                         f"{noise_levels}.")
    clean = np.asarray(clean)
    everything = {IDENTITY: lambda c, s: c, **methods}
    rows = []
    for noise_std in noise_levels:
        for sigma in sigmas:
            corrupted = corrupt_setting(clean, sigma=sigma, noise_std=noise_std, seed=seed, family=family,
                                        angle=angle)
            true_blur = (np.full(len(clean), sigma) if family == "study"
                         else degradations.family_kernel(family, sigma, angle=angle, seed=seed))
            for name, method in everything.items():
                start = time.perf_counter()
                restored = method(corrupted, true_blur)
                seconds = time.perf_counter() - start
                mse = metrics.per_image_mse(restored, clean)
                row = {"method": name, "sigma": sigma, "noise_std": noise_std, "mse": float(mse.mean()),
                       "psnr": float(metrics.per_image_psnr(restored, clean).mean()),
                       "psnr_of_mean_mse": metrics.psnr_from_mse(mse.mean()) if mse.mean() > 0 else float("inf"),
                       "n_images": int(len(clean)), "seconds": seconds}
                if family != "study":
                    row["family"] = family
                rows.append(row)
                if progress is not None:
                    progress(row)
    return rows


def crossovers(rows):
    """Where each method beats doing nothing: ``{method: {noise_std: {"beats": [sigma, ...], "loses": [...]}}}``."""
    identity = {(r["sigma"], r["noise_std"]): r["mse"] for r in rows if r["method"] == IDENTITY}
    out = {}
    for r in rows:
        if r["method"] == IDENTITY:
            continue
        cell = out.setdefault(r["method"], {}).setdefault(r["noise_std"], {"beats": [], "loses": []})
        cell["beats" if r["mse"] < identity[r["sigma"], r["noise_std"]] else "loses"].append(r["sigma"])
    return out


def describe_crossovers(rows):
    """:func:`crossovers` in words: a list of one sentence (str) per method."""
    lines = []
    for method, by_noise in crossovers(rows).items():
        parts = []
        for noise_std, cell in by_noise.items():
            loses = sorted(cell["loses"])
            where = ("at every sigma" if not loses else "at no sigma" if not cell["beats"]
                     else "except at sigma " + ", ".join(f"{s:g}" for s in loses))
            parts.append(f"noise {noise_std:g}: {where}")
        lines.append(f"{method} beats doing nothing at " + "; ".join(parts) + ".")
    return lines


def format_table(rows, *, metric="psnr"):
    """:func:`degradation_sweep` rows as Markdown: a line per (noise, sigma), a column per method.

    ``metric``: ``"psnr"`` (dB, ``inf`` for an unchanged sharp image) or ``"mse"``."""
    cells, methods = {}, list(dict.fromkeys(r["method"] for r in rows))
    for r in rows:
        cells.setdefault((r["noise_std"], r["sigma"]), {})[r["method"]] = r[metric]
    fmt = "{:.2f}" if metric == "psnr" else "{:.5f}"
    lines = ["| noise | sigma | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    lines += [f"| {noise:g} | {sigma:g} | " + " | ".join(fmt.format(cell[m]) for m in methods) + " |"
              for (noise, sigma), cell in cells.items()]
    return "\n".join(lines)
