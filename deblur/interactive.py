"""Try the corruption and the restorers by hand: one image, one blur, every method side by side.

:func:`compare` corrupts with any blur family at any strength and restores with the true-PSF Wiener filter and every
shipped network; :func:`explorer` wraps it in ipywidgets sliders (without a live kernel: one static figure)."""

from __future__ import annotations

import numpy as np

from . import baselines, data, degradations, inference, machine, metrics, sweep
from . import models as model_zoo
from ._validation import to_float32
from .natural import NATURAL_IMAGES, load_natural_images

__all__ = ["compare", "example_images", "explorer", "MAX_SIDE"]

#: Photographs are cropped to at most this many pixels a side (the sliders stay responsive on a CPU).
MAX_SIDE = 256


def compare(image, *, sigma=2.0, noise_std=0.02, models=None, seed=0, wiener_balance=0.01, family="study", angle=0.0):
    """Corrupt ``image`` at one setting and restore it with the Wiener oracle and each model.

    ``image``: (H, W, 3), uint8 or float in [0, 1], at least 3x3. ``sigma``: the study's blur sigma (it draws it from
    [1, 4); any positive value works) or, for another ``family``, in pixels the shake's extent, the motion's length, the
    defocus radius or the untruncated Gaussian's sigma (``angle`` in degrees). ``models``: restorers by label (None:
    every shipped network). ``seed``: of the noise (and a shake's path), as :func:`deblur.sweep.corrupt_setting` takes
    it; ``wiener_balance``: the Wiener filter's regularisation (tuned on CIFAR validation images).

    Returns ``{label: {"image": float32 (H, W, 3) in [0, 1], "mse": float, "psnr": float}}`` for ``"clean"`` (scoring 0
    and inf), ``"corrupted"`` (clipped to [0, 1], as a saved photo would be), ``"wiener (true PSF)"`` and each model."""
    if not np.isfinite(sigma) or sigma <= 0 and family == "study":
        raise ValueError(f"sigma must be positive; got {sigma}.")
    clean = np.asarray(image)
    if clean.ndim != 3 or clean.shape[-1] != 3:
        raise ValueError(f"image must be one RGB image (H, W, 3); got shape {clean.shape}.")
    clean = to_float32(clean)  # uint8 scaled to [0, 1], or float as float32
    noisy = np.clip(sweep.corrupt_setting(clean[None], sigma=sigma, noise_std=noise_std, seed=seed, family=family,
                                          angle=angle)[0], 0.0, 1.0)
    blur = ({"sigmas": [sigma]} if family == "study"
            else {"psf": degradations.family_kernel(family, sigma, angle=angle, seed=seed)})
    if models is None:
        models = {name: name for name in model_zoo.pretrained_names()}
    pad = min(8, min(clean.shape[:2]) - 1)
    outputs = {"clean": clean, "corrupted": noisy,
               "wiener (true PSF)": np.clip(baselines.wiener_oracle(noisy[None], **blur, balance=wiener_balance,
                                                                    pad=pad)[0], 0, 1)}
    for label, model in models.items():
        outputs[label] = inference.restore(model, noisy, progress=False)
    result = {}
    for label, out in outputs.items():
        out = np.asarray(out, np.float32)
        result[label] = {"image": out, "mse": float(metrics.per_image_mse(out[None], clean[None])[0]),
                         "psnr": float(metrics.per_image_psnr(out[None], clean[None])[0])}
    return result


def example_images(*, n_cifar=3, data_source=None):
    """Images to try, ``{name: uint8 (H, W, 3)}``: scikit-image photographs (cropped to :data:`MAX_SIDE`) and CIFAR-10.

    ``n_cifar`` CIFAR-10 test images are included (0: none; none when the data cannot be loaded, e.g. offline), from
    ``data_source`` (see :func:`deblur.data.load_cifar10`)."""
    images = load_natural_images(NATURAL_IMAGES, crop=MAX_SIDE)
    if n_cifar:
        try:
            _, (x_test, _) = data.load_cifar10(data_source, progress=False)
        except Exception:  # noqa: BLE001 - the photographs are enough to explore with
            x_test = np.zeros((0, 32, 32, 3), np.uint8)
        for i in range(min(n_cifar, len(x_test))):
            images[f"CIFAR-10 test {i}"] = x_test[i]
    return images


def _figure(result, *, sigma, noise_std, family="study", angle=0.0):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(result), figsize=(2.6 * len(result), 3.0), squeeze=False)
    for ax, (label, r) in zip(axes[0], result.items()):
        ax.imshow(r["image"], interpolation="nearest")
        ax.set_title(label if label == "clean" else f"{label}\nMSE {r['mse']:.5f}, {r['psnr']:.2f} dB", fontsize=8)
        ax.axis("off")
    blur = f"blur sigma {sigma:g}" if family == "study" else f"{family} blur, strength {sigma:g} px, angle {angle:g}"
    fig.suptitle(f"{blur}, noise std {noise_std:g}", fontsize=9)
    fig.tight_layout()
    return fig


def explorer(images=None, *, models=None, sigma=2.0, noise_std=0.02, seed=0, interactive=None, family="study",
             angle=0.0):
    """Sliders for the blur (family, strength 0.5..25 px, angle), noise and image; every method side by side.

    ``images``: to choose from (default :func:`example_images`); ``models``: as in :func:`compare` (default: every
    shipped network, restored as ``deblur restore`` does, guard included; loaded at each redraw). The other settings
    start the sliders (and make the static figure), as in :func:`compare`. ``interactive=None`` detects a live Jupyter
    kernel; ``False`` forces the static figure (headless runs, papermill). Returns the ipywidgets box or the Figure."""
    images = example_images() if images is None else images
    first = next(iter(images))
    if not (machine.frontend() == "jupyter" if interactive is None else interactive):  # a person in a live kernel
        setting = dict(sigma=sigma, noise_std=noise_std, family=family, angle=angle)
        return _figure(compare(images[first], models=models, seed=seed, **setting), **setting)
    import ipywidgets as widgets
    import matplotlib.pyplot as plt
    out = widgets.Output()

    def draw(image, family, sigma, angle, noise_std):
        with out:
            out.clear_output(wait=True)
            setting = dict(sigma=sigma, noise_std=noise_std, family=family, angle=angle)
            _figure(compare(images[image], models=models, seed=seed, **setting), **setting)
            plt.show()

    controls = {
        "image": widgets.Dropdown(options=list(images), value=first, description="image"),
        "family": widgets.Dropdown(options=["study", *degradations.FAMILIES], value=family, description="blur"),
        "sigma": widgets.FloatSlider(value=sigma, min=0.5, max=25.0, step=0.25, description="strength (px)",
                                     continuous_update=False),
        "angle": widgets.FloatSlider(value=angle, min=0.0, max=180.0, step=5.0, description="angle (deg)",
                                     continuous_update=False),
        "noise_std": widgets.FloatSlider(value=noise_std, min=0.0, max=0.1, step=0.005, description="noise std",
                                         readout_format=".3f", continuous_update=False),
    }
    widgets.interactive_output(draw, controls)
    return widgets.VBox([widgets.HBox(list(controls.values())), out])
