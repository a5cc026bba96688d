"""The study's protocol in one place: seeds, recipes, run sizes, data and the training call.

Everything that makes a number in this project reproducible is defined here
once, and the notebook, the command line (``deblur train``, ``deblur
reproduce``) and the scripts in ``experiments/`` all read it from here:

- :class:`Seeds`: every seed of a run, derived from one base seed.
- :class:`Recipe`: how one model is trained (builder options, optimiser,
  schedule, corruption, and how long: epochs, a step count or a time
  budget). :data:`RECIPES` holds the study's recipe and ours.
- :class:`Profile`: how much data a run uses and each model's recipe
  (:data:`PROFILES`: ``quick``, ``pretrained``, ``full``, ``tiny``).
- :func:`load_profile_data` and :func:`train_model`: the data and the
  training call every entry point shares.

A *time budget* (``Recipe.budget_seconds``) trains for about that many
seconds, whatever the CPU, and records the number of steps it reached; a
step count (``Recipe.steps``) replays exactly that run on any machine (see
:class:`deblur.training.StepBudget`).

The study: 5x5 Gaussian blur with sigma ~ U[1, 4), then 0.02 N(0, 1) noise,
no clipping; MSE, Adam 1e-3, batch 32, 20 epochs, 10 % validation; Win5-RB's
learning rate times exp(-0.5) every epoch from epoch 5.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from . import corruption, data

#: The models of the study and ours, in the order tables list them. Spelled
#: out so that importing this module (and ``deblur --help``) does not import
#: Keras; a test checks it equals :data:`deblur.models.MODELS`.
MODEL_NAMES = ("cae", "win5rb", "deblurnet")

__all__ = [
    "MODEL_NAMES",
    "Seeds",
    "Recipe",
    "RECIPES",
    "recipe",
    "nonblind_recipe",
    "wide_recipe",
    "WIDE_SIGMA_RANGE",
    "WIDE_NOISE_RANGE",
    "Profile",
    "PROFILES",
    "get_profile",
    "STUDY_REPORTED",
    "STUDY_EPOCHS",
    "QUICK_TRAIN_SECONDS",
    "SHIPPED_DEBLURNET",
    "SCRATCH_DIR",
    "load_profile_data",
    "train_model",
    "export_pretrained",
]

#: The one git-ignored folder for scratch output: run folders, the notebook's
#: per-run figures and JSON. Committed records live in ``reports/``.
SCRATCH_DIR = Path("runs")
#: Folder of the shipped weights and model cards, inside the installed package.
PRETRAINED_DIR = Path(__file__).resolve().parent / "weights"

#: Test MSE reported by the original study, measured on the *official*
#: CIFAR-10 arrays (not the JPEG stand-in): not directly comparable with
#: numbers measured here.
STUDY_REPORTED = {"cae": {"mse": 0.00282}, "win5rb": {"mse": 0.00226}}


@dataclass(frozen=True)
class Seeds:
    """Every seed of a run, derived from one base seed.

    The values the study's runs used (and the shipped model cards name), by
    what they seed. Streams that share a value draw from generators keyed
    differently (the split, the shuffle of each epoch and the fresh
    corruption of each batch derive their own keys from ``training``), so
    none of them repeats another's numbers.

    Attributes
    ----------
    base : int
        Seed of the training subset, the weight initialisation, the
        train/validation split and the shuffling (and of the fresh
        corruption's per-batch draws).
    """

    base: int = 0

    @property
    def train_subset(self):
        """Which training images a reduced profile draws."""
        return self.base

    @property
    def init(self):
        """Weight initialisation (``models.build(..., seed=)``)."""
        return self.base

    @property
    def training(self):
        """Split, shuffle and fresh corruption inside :func:`deblur.training.train`."""
        return self.base

    @property
    def test_subset(self):
        """Which test images a profile draws."""
        return self.base + 1

    @property
    def train_corruption(self):
        """The study's corruption of the training images, done once (``corruption="fixed"``)."""
        return self.base + 10

    @property
    def test_corruption(self):
        """The corruption of the test images: the same for every model and every profile."""
        return self.base + 20

    @property
    def bootstrap(self):
        """The resampling of test images behind a confidence interval (:func:`deblur.metrics.bootstrap_ci`)."""
        return self.base + 30

    @property
    def sweep_corruption(self):
        """The noise of every setting of a degradation sweep (:func:`deblur.sweep.degradation_sweep`)."""
        return self.base + 40

    @property
    def estimator_training(self):
        """Corruption, shuffling and initialisation of a learned blur estimator (``experiments/blur_estimator.py``)."""
        return self.base + 50

    @property
    def validation_corruption(self):
        """The fixed corruption of the validation images when training corrupts afresh."""
        return [self.base, 1]

    #: Images on which the classical baselines tune their parameter (drawn
    #: from the training split, never the test set), and their corruption.
    baseline_tuning_subset = 1234
    baseline_tuning_corruption = 4321

    def as_dict(self):
        """The seeds by name, as the model cards record them."""
        names = ("train_subset", "init", "training", "test_subset", "train_corruption",
                 "test_corruption", "validation_corruption")
        return {"base": self.base, **{n: getattr(self, n) for n in names}}


@dataclass(frozen=True)
class Recipe:
    """How one model is trained.

    Defaults are the study's protocol. Exactly one of ``epochs``, ``steps``
    and ``budget_seconds`` says how long.

    Attributes
    ----------
    model : str
        A name from :data:`deblur.models.MODELS` (research scripts may name
        their own builders and pass the built model to :func:`train_model`).
    build : dict
        Builder keyword arguments (e.g. ``{"bn_momentum": 0.9}``).
    learning_rate : float
        Adam's base learning rate.
    lr_schedule : {"constant", "win5rb", "cosine"}
        ``"cosine"`` decays per epoch over ``epochs``, or per step over a
        step count or time budget.
    loss : str
    batch_size : int
    validation_split : float
    corruption : {"fixed", "fresh", "device"}
        ``"fixed"``: the study's, every training image corrupted once;
        ``"fresh"``: every batch corrupted anew as it is drawn (numpy, on
        the CPU); ``"device"``: the same corruption anew, inside the
        training step on the device that trains (see
        :func:`deblur.training.train`).
    flips : bool
        Random flips (fresh corruption only).
    epochs : int or None
    steps : int or None
        Train exactly this many steps (a replayed time budget).
    hold_steps : int
        Steps at the base learning rate before a step cosine starts (a time
        budget spends them measuring the machine's speed).
    global_clipnorm : float or None
        Clip the gradients to this global norm (None: no clipping, the
        study's; left out of :meth:`as_dict` then, so unclipped recipes
        read as before).
    sigma_input : bool
        Feed each image's blur sigma to a non-blind model (see
        :func:`deblur.training.train`); left out of :meth:`as_dict` when
        False.
    sigma_range : (float, float)
        Blur sigmas of the training corruption (the study's (1, 4) is left
        out of :meth:`as_dict`).
    noise_std : float or (float, float)
        Its noise level, or a range drawn per image (the study's 0.02 is
        left out of :meth:`as_dict`).
    budget_seconds : float or None
        Train for about this many seconds of time inside training steps
        (validation and evaluations are not counted); the run records the
        steps it reached, and replaying them (``steps=``, ``hold_steps=``)
        gives the same model on any machine.
    """

    model: str
    build: dict = field(default_factory=dict)
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    loss: str = "mse"
    batch_size: int = 32
    validation_split: float = 0.1
    corruption: str = "fixed"
    flips: bool = False
    epochs: int | None = None
    steps: int | None = None
    hold_steps: int = 0
    budget_seconds: float | None = None
    global_clipnorm: float | None = None
    sigma_input: bool = False
    sigma_range: tuple = (1.0, 4.0)
    noise_std: float | tuple = 0.02

    def __post_init__(self):
        lengths = [n for n in ("epochs", "steps", "budget_seconds") if getattr(self, n) is not None]
        if len(lengths) > 1:
            raise ValueError(f"A recipe has one length: epochs, steps or budget_seconds; got {lengths}.")
        # Ranges as tuples of floats (a JSON round trip gives lists), so that equal recipes compare equal.
        object.__setattr__(self, "sigma_range", tuple(float(v) for v in self.sigma_range))
        if np.ndim(self.noise_std) > 0:
            object.__setattr__(self, "noise_std", tuple(float(v) for v in self.noise_std))

    @property
    def length(self):
        """How long, in words: ``"20 epochs"``, ``"19,823 steps"``, ``"100 s budget"``."""
        if self.budget_seconds is not None:
            return f"{self.budget_seconds:g} s budget"
        if self.steps is not None:
            return f"{self.steps:,} steps"
        return f"{self.epochs} epochs" if self.epochs is not None else "no length set"

    def train_kwargs(self):
        """The keyword arguments of :func:`deblur.training.train` this recipe sets."""
        keys = ("learning_rate", "lr_schedule", "loss", "batch_size", "validation_split", "corruption",
                "flips", "epochs", "steps", "hold_steps", "budget_seconds", "global_clipnorm")
        kwargs = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        for name, default in _RECIPE_DEFAULTS.items():  # only what differs from the study's
            if getattr(self, name) != default:
                kwargs[name] = getattr(self, name)
        return kwargs

    def as_dict(self):
        d = asdict(self)
        if d["global_clipnorm"] is None:
            del d["global_clipnorm"]  # the shipped cards' recipes predate the field
        for name, default in _RECIPE_DEFAULTS.items():  # the shipped cards predate these fields
            if d[name] == default:
                del d[name]
        return d


#: Recipe fields added after the shipped cards were written, at the study's
#: values: a recipe mentions them only when it changes them.
_RECIPE_DEFAULTS = {"sigma_input": False, "sigma_range": (1.0, 4.0), "noise_std": 0.02}

#: Our fixes to the study's recipe (see docs/research.md and
#: ``reports/cpu_ablation.json``): corrupt every batch anew with random
#: flips, decay the learning rate with a cosine, start Win5-RB as the
#: identity (residual BatchNorm gamma = 0), and let BatchNorm's moving
#: statistics follow the weights after few steps (momentum 0.9, not 0.99).
_OURS = dict(lr_schedule="cosine", corruption="fresh", flips=True)

#: Training recipes by name, then model. ``"study"`` is the study's,
#: unchanged; ``"ours"`` is the one that works at CPU sizes. DeblurNet is not
#: in the study: it always trains with ours.
RECIPES = {
    "study": {
        "cae": Recipe("cae"),
        "win5rb": Recipe("win5rb", lr_schedule="win5rb"),
    },
    "ours": {
        "cae": Recipe("cae", build={"bn_momentum": 0.9}, **_OURS),
        "win5rb": Recipe("win5rb", build={"identity_init": True, "bn_momentum": 0.9}, **_OURS),
        "deblurnet": Recipe("deblurnet", **_OURS),
    },
}


def recipe(name, model, **changes):
    """The recipe ``name`` (``"study"`` or ``"ours"``) for ``model``, with fields changed.

    A model the named recipe does not cover (DeblurNet under ``"study"``)
    gets ours. Setting one length (``epochs``, ``steps`` or
    ``budget_seconds``) clears the others.

    Returns
    -------
    Recipe
    """
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; choose one of {sorted(RECIPES)}.")
    base = RECIPES[name].get(model) or RECIPES["ours"].get(model)
    if base is None:
        raise ValueError(f"No training recipe for model {model!r}; known: {sorted(RECIPES['ours'])}.")
    unknown = set(changes) - {f.name for f in fields(Recipe)}
    if unknown:
        raise ValueError(f"Unknown recipe field(s) {sorted(unknown)}; valid: {sorted(f.name for f in fields(Recipe))}.")
    if {"epochs", "steps", "budget_seconds"} & set(changes):
        base = replace(base, epochs=None, steps=None, budget_seconds=None)
    return replace(base, **changes)


def nonblind_recipe(model_recipe, *, replay=None):
    """``model_recipe`` for a model told each image's blur (``sigma_input=True``).

    With the same seed, the non-blind run sees the very same corrupted
    batches as the blind run of ``model_recipe`` (the sigmas are the draws
    the blind run made too), so the two differ only in what the model is told.

    Parameters
    ----------
    model_recipe : Recipe
        A ``"fresh"``-corruption recipe (ours), e.g. ``profile.recipe_for("deblurnet")``.
    replay : dict, optional
        ``TrainedRun.length`` of the blind run: a time budget is replaced by
        the step count (and hold) that run recorded, so both runs take the
        same steps at the same learning rates on any machine.

    Returns
    -------
    Recipe
    """
    if model_recipe.corruption != "fresh":
        raise ValueError(f"A non-blind recipe needs corruption='fresh'; {model_recipe.model}'s is "
                         f"{model_recipe.corruption!r}.")
    return replace(model_recipe, sigma_input=True, **_replay_changes(replay))


# The wide-range DeblurNet's corruption (issue 13; experiments/wide_range.py): blur sigma uniform
# in [0.5, 6) and a noise level uniform in [0, 0.05] per image, around the study's [1, 4) and 0.02.
WIDE_SIGMA_RANGE = (0.5, 6.0)
WIDE_NOISE_RANGE = (0.0, 0.05)


def wide_recipe(model_recipe, *, replay=None):
    """``model_recipe`` on the wide corruption (:data:`WIDE_SIGMA_RANGE`, :data:`WIDE_NOISE_RANGE`).

    Parameters
    ----------
    model_recipe : Recipe
        A ``"fresh"``-corruption recipe (ours), e.g. ``profile.recipe_for("deblurnet")``.
    replay : dict, optional
        ``TrainedRun.length`` of a run to match: a time budget is replaced by
        the step count (and hold) that run recorded, as in :func:`nonblind_recipe`.

    Returns
    -------
    Recipe
    """
    if model_recipe.corruption != "fresh":
        raise ValueError(f"A wide-range recipe needs corruption='fresh'; {model_recipe.model}'s is "
                         f"{model_recipe.corruption!r}.")
    return replace(model_recipe, sigma_range=WIDE_SIGMA_RANGE, noise_std=WIDE_NOISE_RANGE, **_replay_changes(replay))


def _replay_changes(replay):
    """The recipe changes that make a run take the steps (and hold) another run recorded."""
    if replay and replay.get("steps"):
        return {"epochs": None, "budget_seconds": None, "steps": int(replay["steps"]),
                "hold_steps": int(replay.get("hold_steps", 0))}
    return {}


@dataclass(frozen=True)
class Profile:
    """How much data a run uses, and how each model trains.

    Attributes
    ----------
    name : str
    n_train : int or None
        Training images drawn from the training split, validation included
        (``None``: all 50,000).
    n_test : int or None
        Test images (``None``: all 10,000).
    recipe : str
        ``"study"`` or ``"ours"`` (see :data:`RECIPES`).
    lengths : dict of str -> dict
        Per model, the recipe fields this profile sets: its length
        (``{"epochs": 20}``, ``{"budget_seconds": 100}``, ``{"steps": ...}``)
        and anything else it changes.
    seed : int
        The base of :class:`Seeds`.
    reduced : bool
        True when the run is smaller than the study's protocol.
    train : bool
        False for ``pretrained``: the shipped weights, no training.
    natural_images : tuple of str
        ``skimage.data`` images for the beyond-CIFAR section.
    note : str
    """

    name: str
    n_train: int | None
    n_test: int | None
    recipe: str = "ours"
    lengths: dict = field(default_factory=dict)
    seed: int = 0
    reduced: bool = True
    train: bool = True
    natural_images: tuple = ("astronaut", "coffee", "chelsea")
    note: str = ""

    @property
    def seeds(self):
        return Seeds(self.seed)

    @property
    def models(self):
        """The models this profile trains, in order."""
        return list(self.lengths)

    def recipe_for(self, model):
        """The :class:`Recipe` that trains ``model`` in this profile."""
        return recipe(self.recipe, model, **self.lengths.get(model, {}))

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


#: Training seconds per model of the quick profile (the notebook's
#: ``TRAIN_SECONDS`` replaces them). Sized so that the whole quick notebook
#: ends in under 12 minutes on the slower of our 2-core CPUs (AMD EPYC without
#: AVX-512), where one step of 32 images takes about 1 s (CAE), 4 s (Win5-RB)
#: and 0.45 s (DeblurNet); the CAE gets the most, as it needs the most steps
#: to beat doing nothing.
QUICK_TRAIN_SECONDS = {"cae": 140, "win5rb": 80, "deblurnet": 60}

#: The study's length for its two networks.
STUDY_EPOCHS = 20

#: How the shipped DeblurNet was trained: our recipe for 19,823 steps of 32
#: images (its 30-minute CPU budget) on 49,000 training images.
SHIPPED_DEBLURNET = {"steps": 19823, "hold_steps": 0, "validation_split": 0.02}

PROFILES = {
    "quick": Profile(
        name="quick",
        n_train=1200,
        n_test=1000,
        lengths={m: {"budget_seconds": QUICK_TRAIN_SECONDS[m]} for m in MODEL_NAMES},
        note="Each model trains for a budget of seconds: the whole notebook in under 15 minutes on 2 CPU cores.",
    ),
    "full": Profile(
        name="full",
        n_train=None,
        n_test=None,
        recipe="study",
        lengths={"cae": {"epochs": STUDY_EPOCHS}, "win5rb": {"epochs": STUDY_EPOCHS},
                 "deblurnet": dict(SHIPPED_DEBLURNET)},
        reduced=False,
        note="The study's protocol (and DeblurNet as shipped). GPU work: on 2 CPU cores Win5-RB alone takes days.",
    ),
    "pretrained": Profile(
        name="pretrained",
        n_train=None,
        n_test=1000,
        reduced=False,
        train=False,
        note="Loads the shipped, fully trained models: the study's comparison in minutes on a CPU.",
    ),
    "tiny": Profile(
        name="tiny",
        n_train=200,
        n_test=100,
        lengths={m: {"epochs": 1} for m in MODEL_NAMES},
        natural_images=("chelsea",),
        note="Smoke test of every step (a minute or two on a CPU).",
    ),
}


def get_profile(name="quick", *, train_seconds=None, **overrides):
    """A profile from :data:`PROFILES`, optionally changed.

    Parameters
    ----------
    name : str, default "quick"
    train_seconds : float or dict, optional
        A time budget for every trained model (a number) or per model (a
        dict): sets ``budget_seconds`` in ``lengths``.
    **overrides
        Fields of :class:`Profile` to replace (``n_train=500``); ``lengths``
        is merged per model (``lengths={"cae": {"epochs": 1}}``). Changing
        the full profile marks it reduced.

    Returns
    -------
    Profile
    """
    try:
        profile = PROFILES[name]
    except KeyError:
        raise ValueError(f"Unknown profile {name!r}; choose one of {sorted(PROFILES)}.") from None
    valid = {f.name for f in fields(Profile)}
    unknown = set(overrides) - valid
    if unknown:
        raise ValueError(f"Unknown profile field(s) {sorted(unknown)}; valid: {sorted(valid)}.")
    lengths = {m: dict(v) for m, v in profile.lengths.items()}
    if train_seconds is not None:
        per_model = train_seconds if isinstance(train_seconds, dict) else dict.fromkeys(lengths, train_seconds)
        for m, seconds in per_model.items():
            lengths[m] = {k: v for k, v in lengths.get(m, {}).items() if k not in ("epochs", "steps")}
            lengths[m]["budget_seconds"] = float(seconds)
    for m, changes in overrides.pop("lengths", {}).items():
        if {"epochs", "steps", "budget_seconds"} & set(changes):
            lengths[m] = {k: v for k, v in lengths.get(m, {}).items()
                          if k not in ("epochs", "steps", "budget_seconds")}
        lengths[m] = {**lengths.get(m, {}), **changes}
    changed = replace(profile, lengths=lengths, **overrides)
    for m in changed.models:
        changed.recipe_for(m)  # validate now, not half-way through a run
    if profile.train and not profile.reduced and changed != profile and "reduced" not in overrides:
        changed = replace(changed, reduced=True, note=f"{profile.note} (modified: reduced)")
    return changed


def load_profile_data(profile, source=None):
    """The profile's training pool and test set, with the study's fixed corruptions.

    Parameters
    ----------
    profile : Profile
    source : str or os.PathLike, optional
        CIFAR-10 source (see :func:`deblur.data.load_cifar10`).

    Returns
    -------
    dict
        ``x_test`` (uint8, (n_test, 32, 32, 3)), ``y_test``,
        ``x_test_corrupted`` (float32), ``sigma_test``; when the profile
        trains, also ``x_train`` (uint8) and ``x_train_corrupted``
        (float32: the study's corruption, done once; a ``"fresh"`` or
        ``"device"`` recipe does not use it).
    """
    seeds = profile.seeds
    (x_train, y_train), (x_test, y_test) = data.load_cifar10(source)
    x_test, y_test = data.subset(x_test, y_test, profile.n_test, seed=seeds.test_subset)
    out = {"x_test": x_test, "y_test": y_test}
    out["x_test_corrupted"], out["sigma_test"] = corruption.corrupt(x_test, seed=seeds.test_corruption)
    if profile.train:
        x_train, _ = data.subset(x_train, y_train, profile.n_train, seed=seeds.train_subset)
        out["x_train"] = x_train
        out["x_train_corrupted"], _ = corruption.corrupt(x_train, seed=seeds.train_corruption)
    return out


def train_model(model_recipe, x_train, x_train_corrupted=None, *, run_dir, seed=0, verbose="auto",
                callbacks=(), model=None):
    """Train one model with a recipe, in its run folder (resumes it).

    Parameters
    ----------
    model_recipe : Recipe
        E.g. ``profile.recipe_for("cae")`` or ``recipe("ours", "deblurnet",
        budget_seconds=60)``.
    x_train : ndarray, shape (N, 32, 32, 3), uint8
        The training pool (validation is held out of it).
    x_train_corrupted : ndarray, optional
        The study's fixed corruption of ``x_train`` (``"fixed"`` recipes);
        default: corrupted here with ``Seeds(seed).train_corruption``.
    run_dir : str or os.PathLike
    seed : int, default 0
        The base of :class:`Seeds`.
    verbose : "auto", 0, 1 or 2
        Keras's progress display.
    callbacks : sequence of keras.callbacks.Callback
    model : keras.Model, optional
        A model to train instead of ``models.build(recipe.model,
        **recipe.build)`` (research candidates outside :mod:`deblur.models`;
        build it with ``seed=Seeds(seed).init``).

    Returns
    -------
    deblur.training.TrainedRun
    """
    from . import models, training  # Keras only now; training imports this module's Seeds

    seeds = Seeds(seed)
    if model_recipe.corruption == "fixed" and x_train_corrupted is None:
        x_train_corrupted, _ = corruption.corrupt(x_train, seed=seeds.train_corruption)
    if model_recipe.corruption != "fixed":
        x_train_corrupted = None
    if model is None:
        model = models.build(model_recipe.model, seed=seeds.init, **model_recipe.build)
    return training.train(model, x_train, x_train_corrupted, run_dir=run_dir, seed=seeds.training,
                          verbose=verbose, callbacks=callbacks, **model_recipe.train_kwargs())


def export_pretrained(run_dir, *, recipe, evaluation, command, data_source, data_sha256=None, seed=0,
                      out_dir=None, name=None):
    """Ship a finished run: its weights and a model card, into the package.

    The card says how to make the model again (``training.command``, the
    :class:`Recipe` and the :class:`Seeds`), what it was trained on, on
    which machine, and what it scores on the test images.

    Parameters
    ----------
    run_dir : str or os.PathLike
        A completed run folder (``model.keras``, ``config.json``, ``history.json``).
    recipe : Recipe
        The recipe the run was trained with.
    evaluation : dict
        ``{"test": metrics, "identity": metrics}`` on the test images.
    command : str
        The command that trained the run, as typed.
    data_source : str
        What the data were (:func:`deblur.data.describe_source`).
    data_sha256 : str, optional
        sha256 of the data archive.
    seed : int, default 0
        The base of the run's :class:`Seeds`.
    out_dir : path, optional
        Default ``deblur/weights`` (:data:`deblur.models.PRETRAINED_DIR`).
    name : str, optional
        The shipped name (files ``<name>.weights.h5`` and ``<name>.json``);
        default ``recipe.model``. A variant of an architecture (the
        wide-range DeblurNet) ships under its own name, beside the original.

    Returns
    -------
    dict
        The model card that was written.
    """
    import hashlib

    from . import models, records, training

    run_dir = Path(run_dir)
    out_dir = Path(out_dir or models.PRETRAINED_DIR)
    name = name or recipe.model
    records.check_outputs([out_dir / f"{name}.weights.h5", out_dir / f"{name}.json"], [run_dir])
    config = records.read_json(run_dir / training.CONFIG_FILE)
    run = training.load_run(run_dir)
    # The shipped file holds the weights only (no optimizer state), in the
    # builder's exact architecture: about a third of the checkpoint.
    model = models.build(recipe.model, **recipe.build)
    model.set_weights(run.model.get_weights())
    weights_file = out_dir / f"{name}.weights.h5"
    records.atomic_save(weights_file, model.save_weights, suffixes={".h5"})
    history = records.read_json(run_dir / training.HISTORY_FILE)
    gflops = models.gflops_per_image(model)
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
            **{k: config[k] for k in ("loss", "learning_rate", "lr_schedule", "batch_size", "validation_split",
                                      "corruption", "flips", "n_train", "n_val")},
            "optimizer": "Adam",
        },
        "data": {
            "source": data_source,
            "archive_sha256": data_sha256,
            "train_arrays_sha256": config["data_sha256"],
            "corruption": describe_corruption(recipe),
        },
        "seeds": Seeds(seed).as_dict(),
        "images_seen": images_seen,
        "training_compute_gflop": round(images_seen * gflops, 1),
        "training": {
            **records.provenance(command),
            "backend": config.get("backend"),
            "keras_version": config.get("keras_version"),
            "hardware": records.machine_info(),
            "wall_seconds": round(sum(e["seconds"] for e in history["epochs"]), 1),
        },
        "history": {k: [e.get(k) for e in history["epochs"]]
                    for k in ("loss", "val_loss", "learning_rate", "seconds")},
        "test_metrics": evaluation["test"],
        "identity_metrics": evaluation["identity"],
    }
    del card["training"]["machine"]  # named "hardware" in the cards
    records.atomic_write_json(out_dir / f"{name}.json", card)
    return card


def describe_corruption(model_recipe):
    """The training corruption of a recipe, in words (a model card's ``data.corruption``)."""
    low, high = model_recipe.sigma_range
    noise = model_recipe.noise_std
    noise = (f"{noise:g} N(0,1)" if np.ndim(noise) == 0
             else f"s N(0,1), s ~ U[{noise[0]:g}, {noise[1]:g}] per image")
    return f"5x5 Gaussian blur, sigma ~ U[{low:g}, {high:g}), reflect-101; + {noise}; no clipping"


def _is_study_protocol(model_recipe):
    """True for the study's recipe, unchanged, for the study's :data:`STUDY_EPOCHS`."""
    study_recipe = RECIPES["study"].get(model_recipe.model)
    return (study_recipe is not None and model_recipe.epochs == STUDY_EPOCHS
            and replace(model_recipe, epochs=None) == study_recipe)
