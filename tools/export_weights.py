"""Ship a finished run as the package's weights and model card (repository maintenance, not installed).

Used by ``tools/reproduce.py --export`` and the experiments that may ship a
model (``experiments/wide_range.py export``). It writes into ``deblur/weights/``
by default, which is why it lives here and not in the package.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script or imported by one
    sys.path.insert(0, str(ROOT))

from deblur import files, models, study, training  # noqa: E402
from deblur.machine import machine_info  # noqa: E402
from deblur.degradations import Realistic  # noqa: E402
from deblur.recipe import Recipe, Seeds  # noqa: E402
from tools import records  # noqa: E402

__all__ = ["export_pretrained", "describe_corruption", "archive_sha256"]


def archive_sha256(source):
    """sha256 of a data archive given as ``--data`` (None for a folder, or the download)."""
    archive = Path(source) if source else None
    return hashlib.sha256(archive.read_bytes()).hexdigest() if archive and archive.is_file() else None


def export_pretrained(run_dir, *, evaluation, command, data_source, recipe=None, data_sha256=None, out_dir=None,
                      name=None, extra=None):
    """Ship a finished run: its weights and a model card, into the package.

    The card says how to make the model again (``training.command``, the
    recipe and the seeds), what it was trained on, on which machine, and what
    it scores on the test images.

    Parameters
    ----------
    run_dir : str or os.PathLike
        A completed run folder (``model.keras``, ``config.json``, ``history.json``).
    recipe : deblur.recipe.Recipe, optional
        The recipe the run should have been trained with: refused unless it is
        the run's ``config.json``. Default: the run's own.
    evaluation : dict
        ``{"test": metrics, "identity": metrics}`` on the test images.
    command : str
        The command that trained the run, as typed.
    data_source : str
        What the data were (:func:`deblur.data.describe_source`).
    data_sha256 : str, optional
        sha256 of the data archive.
    out_dir : path, optional
        Default ``deblur/weights`` (:data:`deblur.pretrained.PRETRAINED_DIR`).
    name : str, optional
        The shipped name (files ``<name>.weights.h5`` and ``<name>.json``);
        default ``recipe.model``.
    extra : dict, optional
        More of the card (e.g. where a model's frozen parts come from).

    Returns
    -------
    dict
        The model card that was written.
    """
    run_dir = Path(run_dir)
    saved = Recipe.from_dict(files.read_json(run_dir / training.CONFIG_FILE))
    if recipe is not None and recipe != saved:
        raise ValueError(f"{run_dir} was trained with another recipe than the one given; nothing was written.")
    recipe = saved
    out_dir = Path(out_dir or models.PRETRAINED_DIR)
    name = name or recipe.model
    files.check_outputs([out_dir / f"{name}.weights.h5", out_dir / f"{name}.json"], [run_dir])
    history = files.read_json(run_dir / training.HISTORY_FILE)
    run = training.load_run(run_dir)
    # The shipped file holds the weights only (no optimizer state), in the
    # builder's exact architecture: about a third of the checkpoint.
    model = models.build(recipe.model, **recipe.build)
    model.set_weights(run.model.get_weights())
    weights_file = out_dir / f"{name}.weights.h5"
    files.atomic_save(weights_file, model.save_weights, suffixes={".h5"})
    images_seen = run.steps * recipe.batch_size
    card = {
        "name": name,
        "architecture": recipe.model,
        "parameters": model.count_params(),
        "weights_file": weights_file.name,
        "weights_sha256": hashlib.sha256(weights_file.read_bytes()).hexdigest(),
        "recipe": recipe.as_dict(),
        "protocol": {
            "description": "the study's protocol" if _is_study_protocol(recipe) else "our recipe",
            "epochs_run": len(history["epochs"]),
            "steps": run.steps,
            **{k: getattr(recipe, k) for k in ("loss", "learning_rate", "lr_schedule", "batch_size",
                                               "validation_split", "corruption", "flips")},
            "n_train": history["data"]["n_train"],
            "n_val": history["data"]["n_val"],
            "optimizer": "AdamW" if recipe.weight_decay else "Adam",
        },
        "data": {
            "source": data_source,
            "archive_sha256": data_sha256,
            "train_arrays_sha256": history["data"]["sha256"],
            "corruption": describe_corruption(recipe),
        },
        "seeds": Seeds(recipe.seed).as_dict(),
        "images_seen": images_seen,
        "training_compute_gflop": round(images_seen * models.gflops_per_image(model), 1),
        "training": {
            "command": command,
            "date": records.today(),
            "backend": history.get("backend"),
            "keras_version": history.get("keras_version"),
            "hardware": machine_info(),
            "wall_seconds": round(sum(e["seconds"] for e in history["epochs"]), 1),
            # the training arithmetic ("float32+bfloat16": a run resumed on another CPU type)
            "precision": "+".join(sorted({e.get("precision", "float32") for e in history["epochs"]})),
        },
        "history": {k: [e.get(k) for e in history["epochs"]] for k in ("loss", "val_loss", "learning_rate", "seconds")},
        "test_metrics": evaluation["test"],
        "identity_metrics": evaluation["identity"],
        **(extra or {}),
    }
    files.atomic_write_json(out_dir / f"{name}.json", card)
    return card


def describe_corruption(model_recipe):
    """The training corruption of a recipe, in words (a model card's ``data.corruption``)."""
    d = model_recipe.degradation
    if isinstance(d, Realistic):
        families = ", ".join(f"{name} {p:.0%}" for name, p in d.families.items() if p)
        return (f"realistic family ({families}; kernels on {d.kernel_size}x{d.kernel_size}: shake extent "
                f"U[{d.shake_extent[0]:g}, {d.shake_extent[1]:g}] px, motion U[{d.motion_length[0]:g}, "
                f"{d.motion_length[1]:g}] px, defocus radius U[{d.defocus_radius[0]:g}, {d.defocus_radius[1]:g}] px, "
                f"Gaussian sigma U[{d.gaussian_sigma[0]:g}, {d.gaussian_sigma[1]:g}] px), reflect-101; + s N(0,1), s ~ "
                f"U[{d.noise_std[0]:g}, {d.noise_std[1]:g}]; shot noise on {d.poisson:.0%}; JPEG q "
                f"{d.jpeg_quality[0]}-{d.jpeg_quality[1]} on {d.jpeg:.0%}; no clipping but by JPEG")
    low, high = d.sigma_range
    noise = d.noise_std
    noise = (f"{noise:g} N(0,1)" if np.ndim(noise) == 0
             else f"s N(0,1), s ~ U[{noise[0]:g}, {noise[1]:g}] per image")
    sharp = f"{d.sharp_fraction:.0%} of images unblurred (sigma 0), the others " if d.sharp_fraction else ""
    zoom = (f"{d.zoom_fraction:.0%} of clean images first magnified by U[{d.zoom_range[0]:g}, {d.zoom_range[1]:g}) "
            "(cubic, a random crop of the image's size; the target too); " if d.zoom_fraction else "")
    return f"{zoom}{sharp}5x5 Gaussian blur, sigma ~ U[{low:g}, {high:g}), reflect-101; + {noise}; no clipping"


def _is_study_protocol(model_recipe):
    """True for the study's recipe, unchanged, for the study's 20 epochs."""
    study_recipe = study.RECIPES["study"].get(model_recipe.model)
    return study_recipe is not None and model_recipe == study_recipe
