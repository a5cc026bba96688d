"""Figures: sample grid, loss curves, side-by-side comparison grid.

Every plotting function returns the matplotlib ``Figure`` and, given ``path``, saves it (format from the suffix)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from . import files
from .images import centre_crop
from .metrics import predict
from .training import load_run
from ._validation import as_float_images, check_int

__all__ = ["sample_grid", "loss_curves", "comparison_grid", "metric_by_group", "sweep_panels", "family_bars",
           "image_rows", "figures_from_runs", "save_figure"]


def save_figure(fig, path, *, dpi=150):
    """Save a figure atomically (format from the suffix, folders created); returns the ``pathlib.Path``."""
    formats = {f".{k}" for k in fig.canvas.get_supported_filetypes()} if fig is not None else None
    return files.atomic_save(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight"), suffixes=formats,
                             example="figure.png")


def _finish(fig, path):
    """Lay the figure out, save it to ``path`` when given, and return it."""
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path)
    return fig


def _show(ax, image, title=None):
    ax.imshow(np.clip(image, 0.0, 1.0).squeeze(), cmap="gray" if image.shape[-1] == 1 else None,
              interpolation="nearest")
    ax.set(xticks=[], yticks=[])
    if title:
        ax.set_title(title, fontsize=8)


def _pick(n, total):
    if n < 1:
        raise ValueError(f"n must be >= 1; got {n}.")
    return min(int(n), total)


def sample_grid(clean, corrupted, *, sigmas=None, n=8, path=None):
    """Clean images (uint8 or float in [0, 1]) above their corrupted versions (float, clipped for display only).

    ``n`` columns show the first ``n`` images; ``sigmas`` (N,), each image's blur sigma, go in the titles."""
    clean = as_float_images(clean, name="clean")
    corrupted = as_float_images(corrupted, name="corrupted", check_range=False)
    n = _pick(n, len(clean))
    fig, axes = plt.subplots(2, n, figsize=(1.3 * n, 3.0), squeeze=False)
    for i in range(n):
        _show(axes[0, i], clean[i], "clean" if i == 0 else None)
        title = f"σ={sigmas[i]:.2f}" if sigmas is not None else ("corrupted" if i == 0 else None)
        _show(axes[1, i], corrupted[i], title)
    fig.suptitle("Clean (top) and blurred + noisy (bottom)", fontsize=10)
    return _finish(fig, path)


def loss_curves(histories, *, log_scale=True, baseline=None, path=None):
    """Training and validation loss per epoch, one panel per model; ``baseline``: a reference line (the identity's MSE).

    ``histories``: model name -> history with ``loss`` and optionally ``val_loss`` lists (``training.load_history``)."""
    if not histories:
        raise ValueError("histories is empty; pass {model name: history}.")
    fig, axes = plt.subplots(1, len(histories), figsize=(4.2 * len(histories), 3.2), squeeze=False)
    for ax, (name, hist) in zip(axes[0], histories.items()):
        if "loss" not in hist or not len(hist["loss"]):
            raise ValueError(f"History of {name!r} has no 'loss' values.")
        epochs = np.arange(1, len(hist["loss"]) + 1)
        ax.plot(epochs, hist["loss"], "o-", label="train")
        if hist.get("val_loss"):
            ax.plot(epochs, hist["val_loss"], "s--", label="validation")
        if baseline is not None:
            ax.axhline(baseline, color="gray", lw=1, ls=":", label="identity (do nothing)")
        if log_scale:
            ax.set_yscale("log")
        ax.set(title=name, xlabel="epoch", ylabel="MSE loss")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    return _finish(fig, path)


def comparison_grid(clean, corrupted, restorations, *, n=6, path=None):
    """Side by side: rows of corrupted, original and each model's restoration, per-image MSE in the titles.

    ``clean``, ``corrupted``: (N, H, W, C), uint8 or float in [0, 1], the network inputs; ``restorations``: model name
    -> restored images like them (float, clipped for display only); ``n``: images (columns)."""
    clean = as_float_images(clean, name="clean")
    corrupted = as_float_images(corrupted, name="corrupted", check_range=False)
    rows = {"corrupted": corrupted, "original": clean}
    for name, images in restorations.items():
        images = as_float_images(images, name=f"restorations[{name!r}]", check_range=False)
        if images.shape[0] < min(n, len(clean)) or images.shape[1:] != clean.shape[1:]:
            raise ValueError(f"restorations[{name!r}] has shape {images.shape}; expected images like clean "
                             f"{clean.shape}.")
        rows[name] = images
    n = _pick(n, len(clean))
    fig, axes = plt.subplots(len(rows), n, figsize=(1.4 * n, 1.5 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for i in range(n):
            title = None if label == "original" else f"MSE {np.mean((images[i] - clean[i]) ** 2):.4f}"
            _show(axes[r, i], images[i], title)
        axes[r, 0].set_ylabel(label, fontsize=9)
    return _finish(fig, path)


def figures_from_runs(run_dirs, clean, corrupted, *, out_dir, n=6, baseline=None):
    """Redraw loss curves and the comparison grid from saved run folders; returns ``{name: pathlib.Path}``.

    ``run_dirs``: model name -> run folder; ``clean``, ``corrupted``: test images (the first ``n`` are shown);
    ``out_dir`` gets ``loss_curves.png`` and ``comparison.png``; ``baseline``: the loss curves' identity MSE line."""
    out_dir = Path(out_dir)
    paths = {"loss_curves": out_dir / "loss_curves.png", "comparison": out_dir / "comparison.png"}
    files.check_outputs(paths.values(), run_dirs.values())  # never into a run folder
    runs = {name: load_run(d) for name, d in run_dirs.items()}
    k = _pick(n, len(clean))
    restorations = {name: predict(run.model, corrupted[:k]) for name, run in runs.items()}
    plt.close(loss_curves({name: run.history for name, run in runs.items()}, baseline=baseline,
                          path=paths["loss_curves"]))
    plt.close(comparison_grid(clean[:k], corrupted[:k], restorations, n=k, path=paths["comparison"]))
    return paths


#: Axis labels of the metrics (also used by tools/figures.py).
METRIC_LABELS = {"mse": "test MSE", "psnr": "PSNR (dB)", "ssim": "SSIM", "mae": "mean absolute error"}


def metric_by_group(tables, *, metric="mse", xlabel="blur sigma", log_scale=False, path=None):
    """One line per method: a metric's mean in each group (e.g. sigma bin).

    ``tables``: method name -> :func:`deblur.metrics.grouped_metrics` output (group label -> metrics), same groups."""
    if not tables:
        raise ValueError("tables is empty; pass {method: grouped metrics}.")
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for name, table in tables.items():
        groups = list(table)
        ax.plot(range(len(groups)), [table[g][metric] for g in groups], "o-", label=name)
    ax.set_xticks(range(len(groups)), groups, rotation=30, ha="right", fontsize=8)
    ax.set(xlabel=xlabel, ylabel=METRIC_LABELS.get(metric, metric))
    if log_scale:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    return _finish(fig, path)


def sweep_panels(rows, *, metric="psnr", train_sigma_range=(1.0, 4.0), train_noise=0.02, path=None):
    """A degradation sweep: the metric against blur sigma, one panel per noise level, a line per method.

    ``rows``: from :func:`deblur.sweep.degradation_sweep`; ``metric``: ``"psnr"``, ``"mse"`` or ``"psnr_of_mean_mse"``.
    The training sigmas (``train_sigma_range``) are shaded and the training noise level's panel says so in its title."""
    if not rows:
        raise ValueError("rows is empty; pass deblur.sweep.degradation_sweep(...)'s output.")
    if metric not in rows[0]:
        raise ValueError(f"metric {metric!r} is not in the rows; choose one of psnr, mse, psnr_of_mean_mse.")
    noise_levels = sorted({r["noise_std"] for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = plt.subplots(1, len(noise_levels), figsize=(3.2 * len(noise_levels), 3.2), sharey=True, squeeze=False)
    for ax, noise_std in zip(axes[0], noise_levels):
        ax.axvspan(*train_sigma_range, color="0.92", zorder=0)
        for name in methods:
            mine = sorted((r["sigma"], r[metric]) for r in rows if r["method"] == name and r["noise_std"] == noise_std)
            style = "k--" if name == "identity" else "o-"
            ax.plot(*zip(*mine), style, label=name, markersize=3)
        trained = " (training noise)" if np.isclose(noise_std, train_noise) else ""
        ax.set_title(f"noise {noise_std:g}{trained}", fontsize=9)
        ax.set_xlabel("blur sigma (grey: training range)", fontsize=8)
        if metric == "mse":
            ax.set_yscale("log")
    axes[0][0].set_ylabel({"mse": "test MSE", "psnr": "mean PSNR (dB)",
                           "psnr_of_mean_mse": "PSNR of the mean MSE (dB)"}[metric])
    axes[0][-1].legend(fontsize=7)
    return _finish(fig, path)


def family_bars(methods, *, rows, baseline="identity", path=None):
    """PSNR gain over doing nothing per blur family: a group of bars per family, a bar per method, with intervals.

    ``methods``: method -> :func:`deblur.study.family_scores`, ``baseline`` included; ``rows``: the families to draw."""
    if baseline not in methods:
        raise ValueError(f"methods must hold the baseline {baseline!r}; got {list(methods)}.")
    others = [m for m in methods if m != baseline]
    if not others or not rows:
        raise ValueError("Need at least one method beside the baseline and one row.")
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows) * (1 + len(others) / 4)), 3.6))
    width = 0.8 / len(others)
    for i, name in enumerate(others):
        gains = np.array([methods[name][r]["psnr"] - methods[baseline][r]["psnr"] for r in rows])
        spread = np.array([methods[name][r]["psnr_ci95"] or [methods[name][r]["psnr"]] * 2 for r in rows]) - np.array(
            [methods[name][r]["psnr"] for r in rows])[:, None]  # no interval (one image): no error bar
        ax.bar(np.arange(len(rows)) + (i - (len(others) - 1) / 2) * width, gains, width, label=name,
               yerr=np.abs(spread.T), capsize=2, hatch="//" if "realistic" in name else None)
    ax.axhline(0, color="k", linewidth=0.8)
    ax.set_xticks(range(len(rows)), rows)
    ax.set(ylabel=f"PSNR gain over {baseline} (dB)")
    ax.legend(fontsize=7, ncol=2)
    return _finish(fig, path)


def image_rows(rows, *, path=None, scale=2.2, crop=None):
    """A grid of images of any sizes: one row per item, one column per label.

    ``rows``: row name -> {column label -> image (H, W, C), float, clipped to [0, 1] for display}, the same labels.
    ``scale``: inches per panel; ``crop``: show only the central ``crop`` x ``crop`` pixels, so details stay visible."""
    if not rows:
        raise ValueError("rows is empty.")
    if crop is not None:
        check_int(crop, "crop")
    labels = list(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), len(labels), figsize=(scale * len(labels), scale * len(rows)), squeeze=False)
    for r, (name, images) in enumerate(rows.items()):
        for c, label in enumerate(labels):
            image = np.asarray(images[label], dtype=np.float32)
            _show(axes[r, c], image if crop is None else centre_crop(image, crop), label if r == 0 else None)
        axes[r, 0].set_ylabel(name, fontsize=9)
    return _finish(fig, path)
