"""The study's protocol: its recipe and ours (:data:`RECIPES`), run sizes (:data:`PROFILES`), data and training.

The study: 5x5 Gaussian blur with sigma ~ U[1, 4), then 0.02 N(0, 1) noise, no clipping; MSE, Adam 1e-3, batch 32,
20 epochs, 10 % validation; Win5-RB's learning rate times exp(-0.5) every epoch from epoch 5."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from . import corruption, data, degradations, metrics
from .pretrained import MODEL_NAMES
from .recipe import STUDY_EPOCHS, Budget, Epochs, Recipe, Seeds, Steps, make_length

__all__ = ["MODEL_NAMES", "Seeds", "Recipe", "Epochs", "Steps", "Budget", "RECIPES", "recipe", "nonblind_recipe",
           "wide_recipe", "WIDE_SIGMA_RANGE", "WIDE_NOISE_RANGE", "Profile", "PROFILES", "get_profile",
           "STUDY_REPORTED", "STUDY_EPOCHS", "QUICK_TRAIN_SECONDS", "QUICK_RECIPE", "SHIPPED_DEBLURNET", "SCRATCH_DIR",
           "load_profile_data", "realistic_test", "REALISTIC_ROWS", "family_scores", "train_model"]

#: The recipe fields that say how long a run is; setting one clears the others.
_LENGTHS = {"epochs", "steps", "hold_steps", "budget_seconds"}

#: The one git-ignored folder for scratch output (run folders, the notebook's figures and JSON); records: ``reports/``.
SCRATCH_DIR = Path("runs")

#: Test MSE the study reported on the *official* CIFAR-10 arrays (not our JPEG stand-in): not directly comparable.
STUDY_REPORTED = {"cae": {"mse": 0.00282}, "win5rb": {"mse": 0.00226}}

#: Our fixes to the study's recipe (``reports/cpu_ablation.json``): fresh corruption, flips, cosine decay; see RECIPES.
_OURS = dict(lr_schedule="cosine", corruption="fresh", flips=True)

#: Recipes by name, then model: ``"study"`` unchanged, ``"ours"`` works at CPU sizes (DeblurNet always trains with it).
RECIPES = {
    "study": {"cae": Recipe("cae"), "win5rb": Recipe("win5rb", lr_schedule="win5rb")},
    "ours": {"cae": Recipe("cae", build={"bn_momentum": 0.9}, **_OURS),
             "win5rb": Recipe("win5rb", build={"identity_init": True, "bn_momentum": 0.9}, **_OURS),
             "deblurnet": Recipe("deblurnet", **_OURS)},
}


def recipe(name, model, **changes):
    """The :class:`Recipe` ``name`` (``"study"`` or ``"ours"``) for ``model``, with fields changed.

    A model the named recipe lacks (DeblurNet under ``"study"``) gets ours. A length may be given as ``length=`` or as
    one of ``epochs``, ``steps`` (with ``hold_steps``) and ``budget_seconds``."""
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; choose one of {sorted(RECIPES)}.")
    base = RECIPES[name].get(model) or RECIPES["ours"].get(model)
    if base is None:
        raise ValueError(f"No training recipe for model {model!r}; known: {sorted(RECIPES['ours'])}.")
    flat = {k: changes.pop(k) for k in _LENGTHS if k in changes}
    if flat:
        changes["length"] = make_length(**flat)
    unknown = set(changes) - {f.name for f in fields(Recipe)}
    if unknown:
        raise ValueError(f"Unknown recipe field(s) {sorted(unknown)}; valid: {sorted(f.name for f in fields(Recipe))}.")
    return replace(base, **changes)


def nonblind_recipe(model_recipe, *, replay=None):
    """``model_recipe`` (``"fresh"`` corruption) for a model told each image's blur (``sigma_input=True``).

    With the same seed it sees the blind run's batches: the two differ only in what the model is told. ``replay`` (the
    blind run's ``TrainedRun.length``) replaces a time budget by its recorded steps and hold, alike on any machine."""
    return _fresh_variant(model_recipe, "A non-blind recipe", replay, sigma_input=True)


# The wide-range corruption: blur sigma in [0.5, 6) and a noise level in [0, 0.05] per image, both uniform.
WIDE_SIGMA_RANGE = (0.5, 6.0)
WIDE_NOISE_RANGE = (0.0, 0.05)


def wide_recipe(model_recipe, *, replay=None):
    """``model_recipe`` on the wide corruption (:data:`WIDE_SIGMA_RANGE`, :data:`WIDE_NOISE_RANGE`).

    ``replay`` as in :func:`nonblind_recipe`."""
    return _fresh_variant(model_recipe, "A wide-range recipe", replay,
                          degradation=replace(model_recipe.degradation, sigma_range=WIDE_SIGMA_RANGE,
                                              noise_std=WIDE_NOISE_RANGE))


def _fresh_variant(model_recipe, what, replay, **changes):
    if model_recipe.corruption != "fresh":
        raise ValueError(f"{what} needs corruption='fresh'; {model_recipe.model}'s is {model_recipe.corruption!r}.")
    if replay and replay.get("steps"):  # take the steps (and hold) the other run recorded
        changes["length"] = Steps(int(replay["steps"]), int(replay.get("hold_steps", 0)))
    return replace(model_recipe, **changes)


@dataclass(frozen=True)
class Profile:
    """How much data a run uses, and how each model trains.

    ``n_train`` (validation included) and ``n_test``: image counts, ``None`` for all 50,000 and 10,000. ``recipe``:
    ``"study"`` or ``"ours"`` (:data:`RECIPES`); ``seed``: the base of :class:`Seeds`. ``lengths``: per model, the
    recipe fields the profile sets: its length (``{"epochs": 20}``, ``{"budget_seconds": 100}``, ``{"steps": ...}``) and
    any other. ``reduced``: smaller than the study's protocol; ``train``: False for ``pretrained`` (shipped weights).
    ``natural_images`` and ``natural_crop``: the beyond-CIFAR section's ``skimage.data`` images and centre crop."""

    name: str
    n_train: int | None
    n_test: int | None
    recipe: str = "ours"
    lengths: dict = field(default_factory=dict)
    seed: int = 0
    reduced: bool = True
    train: bool = True
    natural_images: tuple = ("astronaut", "coffee", "chelsea")
    natural_crop: int | None = None
    note: str = ""

    @property
    def seeds(self):
        return Seeds(self.seed)

    @property
    def models(self):
        """The models this profile trains, in order."""
        return list(self.lengths)

    def recipe_for(self, model):
        """The :class:`Recipe` that trains ``model`` in this profile (with the profile's seed)."""
        return recipe(self.recipe, model, **{"seed": self.seed, **self.lengths.get(model, {})})

    def banner(self):
        """A plain-text description, loud when the run is reduced."""
        if not self.train:
            return (f"Profile '{self.name}': no training; the shipped weights (see deblur.models.model_card) "
                    f"on {self.n_test or 10000} test images, seed {self.seed}.\n{self.note}")
        lengths = ", ".join(f"{m} {self.recipe_for(m).length}" for m in self.models)
        sizes = (f"{self.n_train or 50000} training images (validation held out of them), "
                 f"{self.n_test or 10000} test images, {lengths}, recipe '{self.recipe}', seed {self.seed}")
        if self.reduced:
            return (f"*** REDUCED RUN: profile '{self.name}' ***\n{sizes}.\n{self.note}\n"
                    "The study trained on 45,000 images for 20 epochs; numbers from this run are NOT the "
                    "study's and only show the pipeline working.")
        return f"Profile '{self.name}': {sizes}.\n{self.note}"


#: The quick profile's training seconds (the notebook's ``TRAIN_SECONDS``): the CAE needs most steps to beat nothing.
QUICK_TRAIN_SECONDS = {"cae": 140, "win5rb": 80, "deblurnet": 60}
#: The quick profile's batches of 8 (Win5-RB at 3x the rate): 3-4x the steps, so that every model beats doing nothing
#: on a CPU without AVX-512 (``reports/quick_recipe.json``; at 32 the CAE did not).
QUICK_RECIPE = {"cae": {"batch_size": 8}, "win5rb": {"batch_size": 8, "learning_rate": 3e-3},
                "deblurnet": {"batch_size": 8}}

#: How the shipped DeblurNet was trained: our recipe, 19,823 steps of 32 images (30 CPU minutes), 49,000 images.
SHIPPED_DEBLURNET = {"steps": 19823, "hold_steps": 0, "validation_split": 0.02}

PROFILES = {
    "quick": Profile(
        name="quick", n_train=1200, n_test=1000,
        lengths={m: {"budget_seconds": QUICK_TRAIN_SECONDS[m], **QUICK_RECIPE[m]} for m in MODEL_NAMES},
        note="Each model trains for a budget of seconds: the whole notebook in under 15 minutes on 2 CPU cores."),
    "full": Profile(
        name="full", n_train=None, n_test=None, recipe="study", reduced=False,
        lengths={"cae": {"epochs": STUDY_EPOCHS}, "win5rb": {"epochs": STUDY_EPOCHS},
                 "deblurnet": dict(SHIPPED_DEBLURNET)},
        note="The study's protocol (and DeblurNet as shipped). GPU work: on 2 CPU cores Win5-RB alone takes days."),
    "pretrained": Profile(
        name="pretrained", n_train=None, n_test=1000, reduced=False, train=False,
        note="Loads the shipped, fully trained models: the study's comparison in minutes on a CPU."),
    "tiny": Profile(
        name="tiny", n_train=200, n_test=100, lengths={m: {"epochs": 1} for m in MODEL_NAMES},
        natural_images=("chelsea",), natural_crop=96, note="Smoke test of every step (a minute or two on a CPU)."),
}


def get_profile(name="quick", *, train_seconds=None, **overrides):
    """A :class:`Profile` from :data:`PROFILES`, optionally changed.

    ``train_seconds``: a time budget (``budget_seconds``) for every trained model (a number) or per model (a dict).
    ``overrides``: :class:`Profile` fields to replace (``n_train=500``); ``lengths`` is merged per model
    (``lengths={"cae": {"epochs": 1}}``). Changing the full profile marks it reduced."""
    try:
        profile = PROFILES[name]
    except KeyError:
        raise ValueError(f"Unknown profile {name!r}; choose one of {sorted(PROFILES)}.") from None
    valid = {f.name for f in fields(Profile)}
    unknown = set(overrides) - valid
    if unknown:
        raise ValueError(f"Unknown profile field(s) {sorted(unknown)}; valid: {sorted(valid)}.")
    lengths = {m: dict(v) for m, v in profile.lengths.items()}
    changes = []
    if train_seconds is not None:
        per_model = train_seconds if isinstance(train_seconds, dict) else dict.fromkeys(lengths, train_seconds)
        changes += [(m, {"budget_seconds": float(seconds)}) for m, seconds in per_model.items()]
    for m, change in [*changes, *overrides.pop("lengths", {}).items()]:
        kept = lengths.get(m, {})
        if _LENGTHS & set(change):  # a new length replaces the old
            kept = {k: v for k, v in kept.items() if k not in _LENGTHS}
        lengths[m] = {**kept, **change}
    changed = replace(profile, lengths=lengths, **overrides)
    for m in changed.models:
        changed.recipe_for(m)  # validate now, not half-way through a run
    if profile.train and not profile.reduced and changed != profile and "reduced" not in overrides:
        changed = replace(changed, reduced=True, note=f"{profile.note} (modified: reduced)")
    return changed


def load_profile_data(profile, source=None):
    """The profile's training pool and test set, with the study's fixed corruptions (``source``: see ``load_cifar10``).

    A dict: ``x_test`` (uint8, (n_test, 32, 32, 3)), ``y_test``, ``x_test_corrupted`` (float32), ``sigma_test``; if the
    profile trains, also ``x_train`` (uint8) and ``x_train_corrupted`` (float32, for ``"fixed"`` recipes)."""
    seeds = profile.seeds
    (x_train, y_train), (x_test, y_test) = data.load_cifar10(source)
    x_test, y_test = data.subset(x_test, y_test, profile.n_test, seed=seeds.test_subset)
    out = {"x_test": x_test, "y_test": y_test}
    out["x_test_corrupted"], out["sigma_test"] = corruption.corrupt(x_test, seed=seeds.test_corruption)
    if profile.train:
        out["x_train"], _ = data.subset(x_train, y_train, profile.n_train, seed=seeds.train_subset)
        out["x_train_corrupted"], _ = corruption.corrupt(out["x_train"], seed=seeds.train_corruption)
    return out


def realistic_test(x_test, seeds=Seeds(0), degradation=degradations.REALISTIC_CIFAR):
    """The study's fixed realistic test set: ``x_test`` degraded by ``degradation`` with ``seeds.realistic_test``.

    ``(corrupted, draws)``: float32 (N, H, W, C) and :class:`deblur.degradations.Draws`, bit-identical per seed."""
    return degradation(x_test, seed=seeds.realistic_test)


#: The rows of a per-family table: each blur family, the JPEG-compressed images of every family, and all images.
REALISTIC_ROWS = (*degradations.FAMILIES, "jpeg", "all")


def family_scores(restored, clean, draws, *, seed=Seeds(0).bootstrap):
    """Per row of :data:`REALISTIC_ROWS`: test MSE and mean per-image PSNR with 95 % bootstrap intervals, and ``n``.

    ``restored``: the outputs for :func:`realistic_test`'s images (float in [0, 1]); ``clean``: those images (uint8 or
    float); ``draws``: its :class:`deblur.degradations.Draws`, which say each image's family."""
    per_image = metrics.per_image_metrics(restored, clean)
    names = draws.names
    masks = {**{family: names == family for family in degradations.FAMILIES},
             "jpeg": draws.jpeg_quality > 0, "all": np.ones(len(names), bool)}
    out = {}
    for row, mask in masks.items():
        mse, psnr = per_image["mse"][mask], per_image["psnr"][mask]
        out[row] = {"n": int(mask.sum()), "mse": None, "psnr": None, "mse_ci95": None, "psnr_ci95": None}
        if mask.any():  # a family no image drew has no score (None), not a made-up one; one image, no interval
            out[row].update(mse=float(mse.mean()), psnr=float(psnr.mean()))
        if mask.sum() >= 2:
            out[row].update(mse_ci95=list(metrics.bootstrap_ci(mse, seed=seed)),
                            psnr_ci95=list(metrics.bootstrap_ci(psnr, seed=seed)))
    return out


def train_model(model_recipe, x_train, x_train_corrupted=None, *, run_dir, verbose="auto", callbacks=(), model=None,
                workers=1):
    """Build the recipe's model and train it in its run folder (a rerun resumes it): a ``deblur.training.TrainedRun``.

    ``model_recipe`` (e.g. ``profile.recipe_for("cae")``): its ``seed`` seeds everything. ``x_train``: uint8
    (N, 32, 32, 3), validation held out. ``x_train_corrupted``: its fixed corruption, for ``"fixed"`` recipes only
    (default: :func:`deblur.training.train` makes it). ``model``: one to train instead (build it with
    ``seed=Seeds(recipe.seed).init``). ``verbose``, ``workers``: as :func:`deblur.training.train`'s."""
    from . import models, training  # Keras loads here, not with the protocol (``deblur --help`` stays fast)
    training.distributed.initialize()  # one of several processes, when the environment says so (before building)
    if model is None:
        model = models.build(model_recipe.model, seed=Seeds(model_recipe.seed).init, **model_recipe.build)
    if model_recipe.corruption != "fixed":
        x_train_corrupted = None
    return training.train(model, x_train, model_recipe, run_dir=run_dir, x_corrupted=x_train_corrupted,
                          verbose=verbose, callbacks=callbacks, workers=workers)
