"""Beyond CIFAR: the models on larger natural images bundled with scikit-image.

The images (``skimage.data``) are corrupted the study's way, restored with :func:`deblur.restore` (full size, no
tiling), and scored beside the identity baseline and the Wiener oracle (true PSF, reflect padding)."""

from __future__ import annotations

import numpy as np
from skimage import data as skdata

from ._validation import to_float32
from .baselines import wiener_oracle
from .corruption import corrupt
from .images import centre_crop
from .inference import Restorer, as_any_size_model
from .metrics import format_grouped, per_image_metrics

__all__ = ["NATURAL_IMAGES", "load_natural_images", "benchmark", "format_scores"]

#: Default skimage.data images: a portrait, a still life, a cat.
NATURAL_IMAGES = ("astronaut", "coffee", "chelsea")


def load_natural_images(names=NATURAL_IMAGES, *, crop=None):
    """Natural RGB images shipped with scikit-image: ``{name: ndarray of uint8, shape (H, W, 3)}``.

    ``names``: ``skimage.data`` functions returning RGB images; ``crop``: keep each centre, at most that many a side."""
    out = {}
    for name in names:
        loader = getattr(skdata, name, None)
        if loader is None or not callable(loader):
            raise ValueError(f"skimage.data has no image {name!r}.")
        image = np.asarray(loader())
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise ValueError(f"skimage.data.{name} is not an RGB uint8 image ({image.shape}, {image.dtype}).")
        out[name] = image if crop is None else centre_crop(image, crop)
    return out


def benchmark(images, models, *, seed=0, wiener_balance=0.01):
    """Corrupt each image (``i`` with seed ``seed + i``), restore it with every model, and score everything.

    ``images``: clean uint8 (H, W, 3) of any size; ``models``: models or shipped names (:func:`deblur.restore`);
    ``wiener_balance``: the Wiener oracle's (tuned on CIFAR validation images). Returns ``scores``, image name ->
    method (``identity``, ``wiener (oracle PSF)``, each model) -> ``{"mse", "psnr", "ssim"}``, and ``restorations``,
    image name -> ``corrupted``, ``original`` and every method's output (float in [0, 1] for display)."""
    # Made once, not per image; models loaded here as Keras models, so no do-no-harm guard: the networks themselves.
    restorers = {name: Restorer(as_any_size_model(model), precision="float32") for name, model in models.items()}
    scores, restorations = {}, {}
    for i, (name, image) in enumerate(images.items()):
        clean = to_float32(image)[None]
        corrupted, sigmas = corrupt(clean, seed=seed + i)
        outputs = {"identity": corrupted,
                   "wiener (oracle PSF)": wiener_oracle(corrupted, sigmas, balance=wiener_balance)}
        for model_name, restorer in restorers.items():
            outputs[model_name] = restorer(corrupted)  # clipped to [0, 1] on the way out
        scores[name] = {method: {k: float(v[0]) for k, v in per_image_metrics(out, clean).items()}
                        for method, out in outputs.items()}
        scores[name]["sigma"] = float(sigmas[0])
        restorations[name] = {"corrupted": corrupted[0], "original": clean[0]}
        restorations[name].update({m: out[0] for m, out in outputs.items() if m != "identity"})
    return scores, restorations


def format_scores(scores, *, metric="mse"):
    """A Markdown table of :func:`benchmark` scores: a row per image, a column per method."""
    first = next(iter(scores.values()))
    methods = [m for m in first if m != "sigma"]
    tables = {m: {img: {**per[m], "n_images": 1} for img, per in scores.items()} for m in methods}
    return format_grouped(tables, metric=metric, group_header=f"image ({metric})")
