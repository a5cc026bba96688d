"""The configuration of a training run: one :class:`Recipe`, and the :class:`Seeds` it derives.

A recipe says everything about *how* a model is trained; a run folder's ``config.json`` and a model card hold it
(:meth:`Recipe.as_dict`, :meth:`Recipe.from_dict`). Importing this module does not import Keras."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numpy as np

from ._validation import check_int
from .degradations import Realistic, Study, degradation_from_dict
from .machine import PRECISIONS

__all__ = ["Recipe", "Seeds", "Epochs", "Steps", "Budget", "make_length", "length_from_dict", "CORRUPTIONS",
           "LR_SCHEDULES", "STUDY_EPOCHS"]

#: The ways a recipe corrupts the training images.
CORRUPTIONS = ("fixed", "fresh", "device")
#: The learning-rate schedules a recipe may name (see :mod:`deblur.training.schedule`).
LR_SCHEDULES = ("constant", "win5rb", "cosine")
#: The study's length, used when a recipe sets none.
STUDY_EPOCHS = 20
#: Fields older records held flat before ``Recipe.degradation`` (now :class:`deblur.degradations.Study`'s).
LEGACY_DEGRADATION_FIELDS = ("sigma_range", "noise_std", "sharp_fraction", "zoom_fraction", "zoom_range")
#: Fields older records held flat before ``Recipe.length`` (now :class:`Epochs`, :class:`Steps`, :class:`Budget`).
LEGACY_LENGTH_FIELDS = ("epochs", "steps", "hold_steps", "budget_seconds")


@dataclass(frozen=True)
class Epochs:
    """Train for ``epochs`` passes over the training images (the study: 20)."""

    epochs: int = STUDY_EPOCHS

    def __post_init__(self):
        check_int(self.epochs, "epochs", minimum=1)

    def __str__(self):
        return f"{self.epochs} epochs"


@dataclass(frozen=True)
class Steps:
    """Train for ``steps`` batches; a cosine schedule holds its base rate for ``hold_steps`` (a replayed budget's)."""

    steps: int
    hold_steps: int = 0

    def __post_init__(self):
        check_int(self.steps, "steps", minimum=1)
        check_int(self.hold_steps, "hold_steps", minimum=0)
        if self.hold_steps >= self.steps:
            raise ValueError(f"hold_steps must be below steps; got {self.hold_steps!r} of {self.steps!r}.")

    def __str__(self):
        return f"{self.steps:,} steps"


@dataclass(frozen=True)
class Budget:
    """Train for about ``budget_seconds``: the speed over the first tenth fixes the step count, which is recorded."""

    budget_seconds: float

    def __post_init__(self):
        if not (np.isfinite(self.budget_seconds) and self.budget_seconds > 0):
            raise ValueError(f"budget_seconds must be > 0; got {self.budget_seconds!r}.")

    def __str__(self):
        return f"{self.budget_seconds:g} s budget"


def length_from_dict(d):
    """The length its ``as_dict`` wrote (its keys are its tag), e.g. ``{"budget_seconds": 120.0}``.

    >>> length_from_dict({"steps": 500})
    Steps(steps=500, hold_steps=0)"""
    for cls in (Epochs, Steps, Budget):
        names = [f.name for f in fields(cls)]
        if names[0] in d and set(d) <= set(names):
            return cls(**d)
    raise ValueError(f"A length is {{'epochs': E}}, {{'steps': S, 'hold_steps': H}} or {{'budget_seconds': B}}; "
                     f"got {d!r}.")


def make_length(*, epochs=None, steps=None, hold_steps=0, budget_seconds=None):
    """The one length these keywords name (at most one of them; none: the study's 20 epochs)."""
    given = {k: v for k, v in (("epochs", epochs), ("steps", steps), ("budget_seconds", budget_seconds))
             if v is not None}
    if len(given) > 1:
        raise ValueError(f"A recipe has one length: epochs, steps or budget_seconds; got {sorted(given)}.")
    if hold_steps and "steps" not in given:
        raise ValueError("hold_steps replays a time budget: give it with steps.")
    if "steps" in given:
        given["hold_steps"] = hold_steps
    return length_from_dict(given) if given else Epochs()


def _derived(offset, doc):
    """A seed ``base + offset``, read-only."""
    return property(lambda self: self.base + offset, doc=doc)


@dataclass(frozen=True)
class Seeds:
    """Every seed of a run, derived from one base seed; streams sharing a value (``training``) derive their own keys."""

    base: int = 0

    train_subset = _derived(0, "Which training images a reduced profile draws.")
    init = _derived(0, "Weight initialisation (``models.build(..., seed=)``).")
    training = _derived(0, "Split, shuffle and fresh corruption inside :func:`deblur.training.train`.")
    test_subset = _derived(1, "Which test images a profile draws.")
    train_corruption = _derived(10, "The study's corruption of the training images, done once (``\"fixed\"``).")
    test_corruption = _derived(20, "The corruption of the test images: the same for every model and profile.")
    bootstrap = _derived(30, "The resampling behind a confidence interval (:func:`deblur.metrics.bootstrap_ci`).")
    sweep_corruption = _derived(40, "The noise of a degradation sweep (:func:`deblur.sweep.degradation_sweep`).")
    estimator_training = _derived(50, "A learned blur estimator's data and init (``experiments/blur_estimator.py``).")
    realistic_test = _derived(60, "The realistic degradation of the test images (:func:`deblur.study.realistic_test`).")

    @property
    def validation_corruption(self):
        """The fixed corruption of the validation images when training corrupts afresh."""
        return [self.base, 1]

    #: Images on which the classical baselines tune their parameter (from the training split), and their corruption.
    baseline_tuning_subset = 1234
    baseline_tuning_corruption = 4321

    def as_dict(self):
        """The seeds by name, as the model cards record them."""
        names = ("train_subset", "init", "training", "test_subset", "train_corruption",
                 "test_corruption", "validation_corruption")  # the cards' keys: realistic_test is the study's own
        return {"base": self.base, **{n: getattr(self, n) for n in names}}


@dataclass(frozen=True)
class Recipe:
    """How one model is trained: the whole configuration of a run, every field checked.

    Defaults are the study's protocol: MSE, Adam 1e-3, batch 32, 10 % validation, training images corrupted once, 20
    epochs. ``model`` and ``build`` name the builder (:data:`deblur.models.MODELS`, or a research script's) and its
    keyword arguments; ``loss`` is a Keras loss name or a registered one's (``"package>name"``,
    :func:`deblur.training.make_loss`); ``seed`` is the base of the run's :class:`Seeds`.

    ``learning_rate``, ``beta_2``: Adam's base rate and second-moment decay (NAFNet trains with 0.9); ``weight_decay``:
    decoupled (AdamW's; 0: none); ``ema_momentum``: end with a moving average of the weights of this momentum (e.g.
    0.999; Keras's ``use_ema``); ``global_clipnorm``: clip gradients to this global norm (None for these two: the last
    weights, no clipping, as the study). ``lr_schedule``: ``"constant"``, ``"win5rb"`` (the study's: times ``exp(-0.5)``
    per epoch from epoch 5) or ``"cosine"`` (decays per epoch over ``epochs``, or per step over a step count or time
    budget). ``length``: ``Epochs(20)`` (the default), ``Steps(steps, hold_steps=0)`` or ``Budget(seconds)`` (the run
    records the steps reached; replay them as ``Steps``). ``precision`` (``"auto"``, ``"float32"`` or ``"bfloat16"``) of
    the training arithmetic (:func:`deblur.models.set_precision`): ``"auto"`` is bfloat16 on a CPU that computes it
    natively, float32 elsewhere; the run's history records which. Saved models compute in float32.

    ``validation_split``: the random fraction of images held out, in [0, 1). ``corruption``: ``"fixed"`` (the study's:
    every training image corrupted once, ``Seeds(seed).train_corruption``), ``"fresh"`` (every batch anew as it is
    drawn, on the CPU) or ``"device"`` (the same, inside the training step). ``flips``: random horizontal and vertical
    flips (not ``"fixed"``). ``sigma_input``: feed each image's blur sigma to a non-blind model (``"fresh"`` and
    ``Study`` only; inputs ``corrupted``, ``sigma``). ``degradation``: the study's Gaussian (``Study()``, the default;
    wider ranges, sharp and magnified shares as its fields) or :class:`deblur.degradations.Realistic` (camera shake,
    motion, defocus, Gaussians, noise, JPEG; on the CPU, ``"fresh"`` or ``"fixed"``)."""

    model: str
    build: dict = field(default_factory=dict)
    learning_rate: float = 1e-3
    beta_2: float = 0.999
    weight_decay: float = 0.0
    ema_momentum: float | None = None
    lr_schedule: str = "constant"
    loss: str = "mse"
    batch_size: int = 32
    validation_split: float = 0.1
    corruption: str = "fixed"
    flips: bool = False
    length: Epochs | Steps | Budget = field(default_factory=Epochs)
    global_clipnorm: float | None = None
    sigma_input: bool = False
    degradation: Study | Realistic = field(default_factory=Study)
    precision: str = "auto"
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.degradation, dict):  # a JSON round trip
            object.__setattr__(self, "degradation", degradation_from_dict(self.degradation))
        if isinstance(self.length, dict):
            object.__setattr__(self, "length", length_from_dict(self.length))
        if not isinstance(self.length, (Epochs, Steps, Budget)):
            raise ValueError(f"length must be a deblur.recipe.Epochs, Steps or Budget; got "
                             f"{type(self.length).__name__}.")
        if not isinstance(self.degradation, (Study, Realistic)):
            raise ValueError(f"degradation must be a deblur.degradations.Study or Realistic; got "
                             f"{type(self.degradation).__name__}.")
        self._check()
        self._check_degradation()

    def _check_degradation(self):
        d = self.degradation
        if isinstance(d, Realistic):
            if self.corruption == "device" or self.sigma_input:
                raise ValueError("A Realistic degradation is drawn on the CPU (JPEG has no keras.ops codec) and has "
                                 "no single sigma: use corruption='fresh' or 'fixed', sigma_input=False.")
            return
        if self.sigma_input and self.corruption != "fresh":
            raise ValueError(f"sigma_input=True needs corruption='fresh' (it feeds the sigmas it draws); "
                             f"got corruption={self.corruption!r}.")
        if d.zoom_fraction > 0 and self.corruption != "fresh":
            raise ValueError(f"zoom_fraction > 0 needs corruption='fresh' (it magnifies the clean images as batches "
                             f"are drawn); got corruption={self.corruption!r}.")
        if self.corruption == "device" and np.ndim(d.noise_std) > 0:
            raise ValueError(f"noise_std={d.noise_std!r} is a range, drawn per image by corruption='fresh' "
                             "or 'fixed'; corruption='device' takes one number.")

    def _check(self):
        check_int(self.batch_size, "batch_size", minimum=1)
        check_int(self.seed, "seed", minimum=0)
        for name in ("learning_rate", "global_clipnorm"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0; got {value!r}.")
        if not 0.0 <= self.validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1); got {self.validation_split}.")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"Unknown lr_schedule {self.lr_schedule!r}; choose one of {list(LR_SCHEDULES)}.")
        for name in ("beta_2", "ema_momentum"):
            value = getattr(self, name)
            if value is not None and not 0 < value < 1:
                raise ValueError(f"{name} must be in (0, 1); got {value!r}.")
        if not (np.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0; got {self.weight_decay!r}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {list(PRECISIONS)}; got {self.precision!r}.")
        if self.corruption not in CORRUPTIONS:
            raise ValueError(f"corruption must be one of {list(CORRUPTIONS)}; got {self.corruption!r}.")
        if self.flips and self.corruption == "fixed":
            raise ValueError("flips=True needs corruption='fresh' or 'device' (fixed pairs are not flipped).")

    def as_dict(self):
        """Every field, JSON-ready: what ``config.json`` and a model card's ``recipe`` hold."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**d, "build": dict(self.build), "degradation": self.degradation.as_dict(),
                "length": asdict(self.length)}

    @classmethod
    def from_dict(cls, d):
        """The recipe :meth:`as_dict` wrote; an unknown field is an error that names it.

        Older records' flat degradation and length fields (:data:`LEGACY_DEGRADATION_FIELDS`,
        :data:`LEGACY_LENGTH_FIELDS`) read as the ``Study`` and length they describe."""
        d = dict(d)
        flat = {name: d.pop(name) for name in LEGACY_LENGTH_FIELDS if name in d}
        if flat and "length" in d:
            raise ValueError(f"A recipe with a length cannot also set {sorted(flat)}.")
        if flat:
            d["length"] = make_length(**{k: v for k, v in flat.items() if v is not None})
        legacy = {name: d.pop(name) for name in LEGACY_DEGRADATION_FIELDS if name in d}
        if legacy and (d.get("degradation") or {}).get("kind", "study") == "study":
            d["degradation"] = Study(**legacy).as_dict()
        elif legacy and Study(**legacy) != Study():  # a realistic run of the transition: flat fields at defaults
            raise ValueError(f"A recipe with a realistic degradation cannot also set {sorted(legacy)}.")
        valid = {f.name for f in fields(cls)}
        if set(d) - valid:
            raise ValueError(f"Unknown recipe field(s) {sorted(set(d) - valid)}; valid: {sorted(valid)}.")
        return cls(**d)
