"""Run sizes ("profiles") for the notebook, the study's settings and reported numbers.

A profile says how much data and how many epochs an experiment uses:

- ``quick`` (default): a reduced run sized to finish the whole notebook in
  under 15 minutes on 2 CPU cores. Its numbers show the pipeline working, not
  the study's quality.
- ``full``: the study's protocol (45,000 train / 5,000 validation images,
  all 10,000 test images, 20 epochs each). GPU work.
- ``pretrained``: no training; the shipped weights (trained with the full
  protocol) evaluated on 1,000 test images, minutes on a CPU.
- ``tiny``: a few hundred images and one epoch, for the tests.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field, replace

__all__ = [
    "Profile",
    "PROFILES",
    "get_profile",
    "STUDY_TRAINING",
    "RECIPES",
    "STUDY_REPORTED",
    "machine_info",
]

#: The study's per-model training settings (on top of MSE, Adam 1e-3, batch 32).
STUDY_TRAINING = {
    "cae": {"lr_schedule": "constant"},
    "win5rb": {"lr_schedule": "win5rb"},
}

#: Our fixes to the study's recipe, per model (see the README's "A CPU recipe
#: that works" and ``reports/cpu_ablation.json``): corrupt every batch anew
#: with random flips, decay the learning rate with a cosine, start Win5-RB as
#: the identity (residual BatchNorm gamma = 0), and let the BatchNorm moving
#: statistics follow the weights after few steps (momentum 0.9, not 0.99).
_OURS_TRAIN = {"lr_schedule": "cosine", "corruption": "fresh", "flips": True}

#: Training recipes: recipe -> model -> {"build": builder kwargs, "train":
#: :func:`deblur.training.train` kwargs}. ``"study"`` is the study's recipe,
#: unchanged (the ``full`` profile's); ``"ours"`` is the fixed one the CPU
#: profiles use. DeblurNet is not in the study: it always trains with ours.
RECIPES = {
    "study": {
        "cae": {"build": {}, "train": dict(STUDY_TRAINING["cae"])},
        "win5rb": {"build": {}, "train": dict(STUDY_TRAINING["win5rb"])},
    },
    "ours": {
        "cae": {"build": {"bn_momentum": 0.9}, "train": dict(_OURS_TRAIN)},
        "win5rb": {"build": {"identity_init": True, "bn_momentum": 0.9}, "train": dict(_OURS_TRAIN)},
        "deblurnet": {"build": {}, "train": dict(_OURS_TRAIN)},
    },
}

#: Test MSE reported by the original study, measured on the *official*
#: CIFAR-10 arrays (not the JPEG stand-in): not directly comparable with
#: numbers measured here.
STUDY_REPORTED = {"cae": {"mse": 0.00282}, "win5rb": {"mse": 0.00226}}


@dataclass(frozen=True)
class Profile:
    """How much data and training an experiment uses.

    Attributes
    ----------
    name : str
    n_train : int or None
        Training images drawn from the training split, validation included
        (``None``: all 50,000).
    n_test : int or None
        Test images (``None``: all 10,000).
    epochs : dict of str -> int
        Epochs per model name.
    batch_size : int
    validation_split : float
    seed : int
        Seed of the subset draw, the corruption, the weight init and the
        shuffling (each derives its own stream from it).
    reduced : bool
        True when the run is smaller than the study's protocol.
    natural_images : tuple of str
        ``skimage.data`` images for the beyond-CIFAR section.
    train : bool
        False for the ``pretrained`` profile: load the shipped weights
        instead of training.
    recipe : str
        ``"study"`` (the study's training recipe, unchanged) or ``"ours"``
        (the fixes that make short CPU runs work); see :data:`RECIPES`.
    note : str
        One line saying what the profile is for.
    """

    name: str
    n_train: int | None
    n_test: int | None
    epochs: dict = field(default_factory=dict)
    batch_size: int = 32
    validation_split: float = 0.1
    seed: int = 0
    reduced: bool = True
    natural_images: tuple = ("astronaut", "coffee", "chelsea")
    train: bool = True
    recipe: str = "ours"
    note: str = ""

    def recipe_for(self, model_name):
        """Builder and training keyword arguments of ``model_name`` in this profile.

        Returns
        -------
        build_kwargs, train_kwargs : dict, dict
        """
        table = RECIPES[self.recipe]
        entry = table.get(model_name) or RECIPES["ours"].get(model_name)
        if entry is None:
            raise ValueError(f"No training recipe for model {model_name!r}; known: {sorted(RECIPES['ours'])}.")
        return dict(entry["build"]), dict(entry["train"])

    def banner(self):
        """A plain-text description, loud when the run is reduced."""
        if not self.train:
            return (
                f"Profile '{self.name}': no training; the shipped weights (the study's protocol, "
                f"see deblur.models.model_card) on {self.n_test or 10000} test images, seed {self.seed}.\n"
                f"{self.note}"
            )
        sizes = (
            f"{self.n_train or 50000} training images ({self.validation_split:.0%} held out "
            f"for validation), {self.n_test or 10000} test images, epochs {self.epochs}, "
            f"batch {self.batch_size}, seed {self.seed}, recipe '{self.recipe}'"
        )
        if self.reduced:
            return (
                f"*** REDUCED RUN: profile '{self.name}' ***\n{sizes}.\n{self.note}\n"
                "The study trained on 45,000 images for 20 epochs; numbers from this run are "
                "NOT the study's and only show the pipeline working."
            )
        return f"Profile '{self.name}': {sizes}.\n{self.note}"


PROFILES = {
    "quick": Profile(
        name="quick",
        n_train=1200,
        n_test=1000,
        epochs={"cae": 6, "win5rb": 2, "deblurnet": 30},
        note="Sized for a laptop CPU: the whole notebook in under 15 minutes on 2 cores.",
    ),
    "full": Profile(
        name="full",
        n_train=None,
        n_test=None,
        epochs={"cae": 20, "win5rb": 20, "deblurnet": 20},
        reduced=False,
        recipe="study",
        note="The study's protocol. GPU work: on 2 CPU cores Win5-RB alone would take days.",
    ),
    "pretrained": Profile(
        name="pretrained",
        n_train=None,
        n_test=1000,
        epochs={},
        reduced=False,
        train=False,
        note="Loads the shipped, fully trained models: the study's comparison in minutes on a CPU.",
    ),
    "tiny": Profile(
        name="tiny",
        n_train=200,
        n_test=100,
        epochs={"cae": 1, "win5rb": 1, "deblurnet": 1},
        natural_images=("chelsea",),
        note="Smoke test of every step (a minute or two on a CPU).",
    ),
}


def get_profile(name="quick", **overrides):
    """A profile from :data:`PROFILES`, optionally with fields replaced.

    Parameters
    ----------
    name : str, default "quick"
        ``"quick"``, ``"full"`` or ``"tiny"``.
    **overrides
        Fields of :class:`Profile` to change, e.g. ``n_train=500`` or
        ``epochs={"cae": 1, "win5rb": 1}``. Overriding sizes or epochs of the
        full profile marks the result as reduced.

    Returns
    -------
    Profile
    """
    try:
        profile = PROFILES[name]
    except KeyError:
        raise ValueError(f"Unknown profile {name!r}; choose one of {sorted(PROFILES)}.") from None
    unknown = set(overrides) - set(Profile.__dataclass_fields__)
    if unknown:
        raise ValueError(
            f"Unknown profile field(s) {sorted(unknown)}; valid: {sorted(Profile.__dataclass_fields__)}."
        )
    if "epochs" in overrides:
        overrides["epochs"] = {**profile.epochs, **overrides["epochs"]}
    changed = replace(profile, **overrides)
    if profile.train and not profile.reduced and changed != profile and "reduced" not in overrides:
        changed = replace(changed, reduced=True, note=f"{profile.note} (modified: reduced)")
    return changed


def machine_info():
    """Where a run happened: host, CPU, cores, Python, Keras and its backend.

    Returns
    -------
    dict of str -> str or int
    """
    info = {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        import keras

        info["keras"] = keras.__version__
        info["backend"] = keras.backend.backend()
    except ImportError:  # pragma: no cover - keras is a dependency
        return info
    info["devices"] = _accelerators(info["backend"])
    return info


def _accelerators(backend):
    """Names of the backend's accelerators (GPUs/TPUs); empty on a CPU-only run."""
    try:
        if backend == "jax":
            import jax

            return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_physical_devices("GPU")]
        if backend == "torch":
            import torch

            n = torch.cuda.device_count()
            return [torch.cuda.get_device_name(i) for i in range(n)]
    except Exception:  # noqa: BLE001 - informational only; never fail a run over it
        pass
    return []


def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
