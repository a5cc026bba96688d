"""Evaluation: per-image MSE, PSNR and SSIM, and the study's test-set numbers.

Metrics are computed per image (PSNR and SSIM by scikit-image) on unclipped outputs, as in the study; the reported
PSNR is the mean of per-image PSNRs, *not* the PSNR of the mean MSE (:func:`summary_with_ci` gives both)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .files import atomic_write_json
from ._validation import NOISE_SLACK, as_float_images, check_int, check_same_shape

__all__ = ["per_image_mse", "per_image_psnr", "per_image_ssim", "per_image_metrics", "mean_metrics", "predict",
           "evaluate", "save_results", "METRICS", "format_table", "grouped_metrics", "sigma_bins", "format_grouped",
           "bootstrap_ci", "psnr_from_mse", "summary_with_ci", "format_ci_table", "CI_CONFIDENCE", "CI_RESAMPLES"]

#: The confidence level and resample count of the intervals this project reports.
CI_CONFIDENCE = 0.95
CI_RESAMPLES = 1000

#: Metric names in the order they are reported; lower MSE is better, higher PSNR/SSIM.
METRICS = ("mse", "psnr", "ssim")


def _pair(restored, clean):
    restored = as_float_images(restored, name="restored", check_range=False)
    clean = as_float_images(clean, name="clean")
    check_same_shape(restored, clean, ("restored", "clean"))
    return restored, clean


def _per_image(metric, restored, clean, **kwargs):
    return np.array([metric(c, r, **kwargs) for r, c in zip(restored, clean)], dtype=np.float64)


def per_image_mse(restored, clean):
    """MSE of each image, float64 (N,): ``restored`` (N, H, W, C) in any finite range, ``clean`` uint8 or in [0, 1]."""
    restored, clean = _pair(restored, clean)
    diff = restored.astype(np.float64) - clean.astype(np.float64)
    return np.mean(diff * diff, axis=(1, 2, 3))


def per_image_psnr(restored, clean, *, data_range=1.0):
    """PSNR in dB of each image (``skimage.metrics.peak_signal_noise_ratio``), float64 (N,); ``inf`` where exact."""
    restored, clean = _pair(restored, clean)
    with np.errstate(divide="ignore"):
        return _per_image(peak_signal_noise_ratio, restored, clean, data_range=data_range)


def per_image_ssim(restored, clean, *, data_range=1.0):
    """SSIM of each image, float64 (N,): skimage's 7x7 uniform window (H, W >= 7); inputs as :func:`per_image_mse`."""
    restored, clean = _pair(restored, clean)
    if min(clean.shape[1:3]) < 7:
        raise ValueError(f"SSIM needs images of at least 7x7 pixels; got {clean.shape[1:3]}.")
    return _per_image(structural_similarity, restored, clean, data_range=data_range, channel_axis=-1)


def per_image_metrics(restored, clean, *, data_range=1.0):
    """All of :data:`METRICS` per image: ``{name: ndarray of float64, shape (N,)}``."""
    return {"mse": per_image_mse(restored, clean), "psnr": per_image_psnr(restored, clean, data_range=data_range),
            "ssim": per_image_ssim(restored, clean, data_range=data_range)}


def mean_metrics(per_image):
    """Mean (float) of each per-image metric (N,), plus ``n_images`` (for MSE: the study's pixel-wise test MSE)."""
    lengths = {len(v) for v in per_image.values()}
    if len(lengths) != 1:
        raise ValueError("All per-image metric arrays must have the same length.")
    return {**{name: float(np.mean(values)) for name, values in per_image.items()}, "n_images": lengths.pop()}


def predict(model, images, *, batch_size=256, sigmas=None):
    """Run a model over images (N, H, W, C) in batches: float32 (N, H, W, C_out).

    ``model=None`` is the identity; inputs: float of any finite range (uint8 is scaled by 1/255). ``sigmas`` (N,): blur
    sigmas for a non-blind model (inputs ``"corrupted"``, ``"sigma"``, as :func:`deblur.models.deblurnet_nonblind`)."""
    x = as_float_images(images, name="images", check_range=False)
    if model is None:
        return x
    if sigmas is not None:
        sigmas = np.asarray(sigmas, dtype=np.float32).reshape(-1)
        if sigmas.shape != (len(x),) or not np.all(np.isfinite(sigmas)):
            raise ValueError(f"sigmas must be {len(x)} finite numbers, one per image; got shape {sigmas.shape}.")
    # Batch by batch, not model.predict: that traces a tf.function per model, which TensorFlow reports as retracing.
    call = (lambda batch: model(batch, training=False)) if hasattr(model, "predict") else model
    batches = [{"corrupted": x[i : i + batch_size], "sigma": sigmas[i : i + batch_size, None]} if sigmas is not None
               else x[i : i + batch_size] for i in range(0, len(x), batch_size)]
    return np.concatenate([np.asarray(call(batch), dtype=np.float32) for batch in batches])


def evaluate(model, corrupted, clean, *, batch_size=256, data_range=1.0, per_image=False, ci_seed=None,
             sigmas=None):
    """Test-set MSE, PSNR and SSIM of a model, or of the identity baseline (``model=None``: doing nothing).

    ``corrupted``: the test inputs (float, unclipped); ``clean``: uint8 or float in [0, 1]; ``sigmas``: for a non-blind
    model (:func:`predict`). Returns ``{"mse", "psnr", "ssim": float, "n_images": int}``, means over images, plus
    ``"per_image": {name: list}`` if ``per_image``, and ``"ci"`` (:func:`summary_with_ci`) for a ``ci_seed``."""
    corrupted = as_float_images(corrupted, name="corrupted", slack=NOISE_SLACK)
    if ci_seed is not None and len(corrupted) < 2:
        raise ValueError(f"a confidence interval needs at least 2 test images; got {len(corrupted)}. Evaluate on more.")
    restored = predict(model, corrupted, batch_size=batch_size, sigmas=sigmas)
    values = per_image_metrics(restored, clean, data_range=data_range)
    result = mean_metrics(values)
    if per_image:
        result["per_image"] = {k: v.tolist() for k, v in values.items()}
    if ci_seed is not None:
        result["ci"] = summary_with_ci(values["mse"], values["psnr"], seed=ci_seed, data_range=data_range)
    return result


def save_results(results, path, *, exclusive=False):
    """Write a results dict (numbers, arrays, nested dicts) as JSON to ``path``, atomically; returns the ``Path``.

    ``exclusive=True``: refuse (``FileExistsError``) if ``path`` exists when the file is published; never replace it."""
    atomic_write_json(path, results, exclusive=exclusive)
    return Path(path)


def format_table(results, *, baseline="identity"):
    """A Markdown table (str) of results, one row per method.

    ``results``: method name -> metrics (``mse`` and optionally ``psnr``, ``ssim``, ``n_images``, ``images_per_s``,
    ``note``); missing values print as "–", and the images/s column appears when any method has it. ``baseline``: the
    row whose MSE the "MSE / identity" column divides by (below 1: better than doing nothing); ``None``: no column."""
    ref = results.get(baseline, {}).get("mse") if baseline else None
    speed = any("images_per_s" in m for m in results.values())
    header = ["method", "test MSE", "PSNR (dB)", "SSIM", "images"]
    if ref:
        header.insert(2, f"MSE / {baseline}")
    if speed:
        header.append("images/s")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def fmt(value, spec):
        return "–" if value is None else format(value, spec)

    for name, m in results.items():
        row = [name + (f" ({m['note']})" if m.get("note") else ""), fmt(m.get("mse"), ".5f")]
        if ref:
            row.append(fmt(None if m.get("mse") is None else m["mse"] / ref, ".2f"))
        row += [fmt(m.get("psnr"), ".2f"), fmt(m.get("ssim"), ".4f"), fmt(m.get("n_images"), "d")]
        if speed:
            row.append(fmt(m.get("images_per_s"), ".0f"))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def grouped_metrics(per_image, groups, *, labels=None):
    """Mean of each per-image metric within groups (e.g. sigma bins or classes).

    ``per_image``: ``{metric: (N,)}``, e.g. ``evaluate(..., per_image=True)["per_image"]``; ``groups``: int (N,), each
    image's group; ``labels``: each group index's name (default ``str(index)``). Returns ``{group name: {metric: mean,
    "n_images": count}}`` for each non-empty group, in index order (their count-weighted mean is the overall mean)."""
    groups = np.asarray(groups)
    lengths = {len(v) for v in per_image.values()}
    if lengths != {len(groups)}:
        raise ValueError(f"groups has {len(groups)} entries, the metrics {sorted(lengths)}.")
    out = {}
    for g in np.unique(groups):
        name = labels[int(g)] if labels is not None else str(int(g))
        out[name] = mean_metrics({k: np.asarray(v)[groups == g] for k, v in per_image.items()})
    return out


def sigma_bins(sigmas, *, bins=6, sigma_range=(1.0, 4.0)):
    """Bin index (int (N,), ``0 .. bins - 1``) and ``"[1.0, 1.5)"``-style labels of blur sigmas (equal-width bins).

    ``sigma_range`` is the corruption's ``[low, high)``; ``sigmas`` as :func:`deblur.corruption.corrupt` draws them."""
    low, high = sigma_range
    sigmas = np.asarray(sigmas, dtype=np.float64)
    if np.any(sigmas < low) or np.any(sigmas > high):
        raise ValueError(f"sigmas must lie in {list(sigma_range)}.")
    edges = np.linspace(low, high, bins + 1)
    index = np.clip(np.searchsorted(edges, sigmas, side="right") - 1, 0, bins - 1)
    labels = [f"[{a:.2f}, {b:.2f})" for a, b in zip(edges[:-1], edges[1:])]
    return index, labels


def format_grouped(tables, *, metric="mse", group_header="group"):
    """A Markdown table (str) of one metric: a row per group, a column per method.

    ``tables`` maps method names to :func:`grouped_metrics` outputs; ``group_header`` heads the first column."""
    methods = list(tables)
    if not methods:
        raise ValueError("tables is empty.")
    spec = ".5f" if metric == "mse" else ".3f"
    lines = [f"| {group_header} | images | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 2)]
    for g in tables[methods[0]]:
        cells = [format(tables[m][g][metric], spec) if g in tables[m] else "–" for m in methods]
        lines.append(f"| {g} | {tables[methods[0]][g]['n_images']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bootstrap_ci(per_image_values, *, seed, statistic=np.mean, n_resamples=CI_RESAMPLES, confidence=CI_CONFIDENCE):
    """Percentile-bootstrap confidence interval ``(low, high)`` of a statistic over images.

    Resamples the images with replacement (``scipy.stats.bootstrap``; percentile, as BCa needs N x N memory): how much
    the number would move on another test set of the same size, not over training seeds. ``per_image_values``: finite,
    N >= 2; ``seed``: e.g. ``deblur.study.Seeds(...).bootstrap``; ``statistic(values, axis=-1)``: the statistic."""
    from scipy.stats import bootstrap
    values = np.asarray(per_image_values, dtype=np.float64)
    if values.ndim != 1 or len(values) < 2:
        raise ValueError(f"per_image_values must be 1-D with at least 2 values; got shape {values.shape}.")
    if not np.all(np.isfinite(values)):
        raise ValueError("per_image_values holds NaN or inf (an exactly restored image has PSNR inf); "
                         "bootstrap the MSE instead and convert with psnr_from_mse.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence}.")
    check_int(n_resamples, "n_resamples")
    result = bootstrap((values,), statistic, n_resamples=int(n_resamples), confidence_level=confidence,
                       method="percentile", rng=np.random.default_rng(seed), vectorized=True)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def psnr_from_mse(mse, *, data_range=1.0):
    """PSNR in dB (float, or float64 array) of a mean squared error (> 0): ``10 log10(data_range**2 / mse)``."""
    mse = np.asarray(mse, dtype=np.float64)
    if np.any(mse <= 0):
        raise ValueError("mse must be > 0 to convert to PSNR.")
    out = 10.0 * np.log10(data_range ** 2 / mse)
    return float(out) if out.ndim == 0 else out


def summary_with_ci(per_image_mse, per_image_psnr, *, seed, n_resamples=CI_RESAMPLES, confidence=CI_CONFIDENCE,
                    data_range=1.0):
    """The headline numbers of one method, each with a bootstrap confidence interval.

    Two PSNRs: ``mean_psnr`` (what :func:`evaluate` reports as ``psnr``) and ``psnr_of_mean_mse`` (lower, as -log is
    convex), whose interval is the MSE's mapped through :func:`psnr_from_mse` (exact: monotone). Both metrics are
    resampled with the same images (``seed``). Returns a dict: ``mse``, ``mean_psnr``, ``psnr_of_mean_mse``, each with a
    ``[low, high]`` ``*_ci``, ``n_images``, and the ``bootstrap`` settings."""
    mse = np.asarray(per_image_mse, dtype=np.float64)
    psnr = np.asarray(per_image_psnr, dtype=np.float64)
    if mse.shape != psnr.shape:
        raise ValueError(f"per_image_mse {mse.shape} and per_image_psnr {psnr.shape} must have the same shape.")
    options = dict(n_resamples=n_resamples, confidence=confidence)
    mse_low, mse_high = bootstrap_ci(mse, seed=seed, **options)
    return {"mse": float(mse.mean()), "mse_ci": [mse_low, mse_high],
            "mean_psnr": float(psnr.mean()), "mean_psnr_ci": list(bootstrap_ci(psnr, seed=seed, **options)),
            "psnr_of_mean_mse": psnr_from_mse(mse.mean(), data_range=data_range),
            "psnr_of_mean_mse_ci": [psnr_from_mse(mse_high, data_range=data_range),
                                    psnr_from_mse(mse_low, data_range=data_range)],
            "n_images": int(len(mse)),
            "bootstrap": {"confidence": confidence, "n_resamples": int(n_resamples),
                          "seed": seed if isinstance(seed, (int, np.integer)) else None, "method": "percentile"}}


def format_ci_table(summaries):
    """A Markdown table (str) of ``{method: summary_with_ci(...)}``, one row per method."""
    if not summaries:
        raise ValueError("summaries is empty; pass {method: summary_with_ci(...)}.")
    first = next(iter(summaries.values()))
    level = f"{first['bootstrap']['confidence']:.0%} CI"
    lines = [f"| method | test MSE [{level}] | mean of per-image PSNRs (dB) [{level}] | "
             f"PSNR of the mean MSE (dB) [{level}] | images |", "|---|---|---|---|---|"]
    for name, s in summaries.items():
        lines.append(f"| {name} | {s['mse']:.5f} [{s['mse_ci'][0]:.5f}, {s['mse_ci'][1]:.5f}] | "
                     f"{s['mean_psnr']:.2f} [{s['mean_psnr_ci'][0]:.2f}, {s['mean_psnr_ci'][1]:.2f}] | "
                     f"{s['psnr_of_mean_mse']:.2f} [{s['psnr_of_mean_mse_ci'][0]:.2f}, "
                     f"{s['psnr_of_mean_mse_ci'][1]:.2f}] | {s['n_images']:,} |")
    return "\n".join(lines)
