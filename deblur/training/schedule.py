"""Learning-rate schedules and the run's length: epochs, a step count, or a time budget."""

from __future__ import annotations

import dataclasses
import math
import time

import keras

__all__ = ["constant_lr_schedule", "win5rb_lr_schedule", "cosine_lr_schedule", "StepBudget", "run_length",
           "schedule_callbacks"]


def constant_lr_schedule(epoch, base_lr):
    """The study's default: the learning rate stays ``base_lr``."""
    return float(base_lr)


def win5rb_lr_schedule(epoch, base_lr):
    """The study's Win5-RB schedule: ``base_lr * exp(-0.5 * max(0, epoch - 4))`` for a zero-based ``epoch``.

    The closed form of the study's ``lr if epoch < 5 else lr * exp(-0.5)``, applied every epoch.

    Examples
    --------
    >>> round(win5rb_lr_schedule(6, 1e-3), 6)
    0.000368
    """
    return float(base_lr) * math.exp(-0.5 * max(0, int(epoch) - 4))


def cosine_lr_schedule(epoch, base_lr, *, epochs):
    """Cosine decay per zero-based epoch over ``epochs``: ``base_lr * (1 + cos(pi * epoch / epochs)) / 2``."""
    return float(base_lr) * 0.5 * (1.0 + math.cos(math.pi * int(epoch) / max(1, int(epochs))))


def run_length(recipe):
    """The run's length as a dict: ``{"epochs": E}``, ``{"steps": S, "hold_steps": H}`` or ``{"budget_seconds": B}``."""
    return dataclasses.asdict(recipe.length)


def _epoch_schedule(name, length):
    """``f(epoch, base_lr)``, or None where :class:`StepBudget` sets the rate per step (a cosine over steps)."""
    if name == "cosine":
        epochs = length.get("epochs")
        return None if epochs is None else lambda epoch, base_lr: cosine_lr_schedule(epoch, base_lr, epochs=epochs)
    return {"constant": constant_lr_schedule, "win5rb": win5rb_lr_schedule}[name]


def schedule_callbacks(recipe, length, doc, *, start_step):
    """The learning-rate schedule and, for steps or a budget, the stop at the last step."""
    schedule = _epoch_schedule(recipe.lr_schedule, length)
    lr = recipe.learning_rate
    callbacks = [] if schedule is None else [keras.callbacks.LearningRateScheduler(lambda e, _: schedule(e, lr))]
    if "epochs" not in length:
        callbacks.append(StepBudget(lr, cosine=schedule is None, doc=doc, start_step=start_step,
                                    used_seconds=doc.get("budget_used_seconds", 0.0),
                                    steps=length.get("steps"), hold_steps=length.get("hold_steps", 0),
                                    budget_seconds=length.get("budget_seconds")))
    return callbacks


class StepBudget(keras.callbacks.Callback):
    """Stop at a step count, or after about ``budget_seconds``; optionally (``cosine``) set a cosine rate per step.

    The rate of step ``k`` is the base rate for ``k < hold_steps``, then ``base * (1 + cos(pi * (k - hold) / (steps -
    hold))) / 2``. A time budget holds the base rate for its first tenth while measuring speed, then fixes
    ``hold_steps`` and ``steps`` in ``doc`` (the run's history: ``length``): training again with them replays the run
    exactly. ``start_step`` and ``used_seconds``: steps done and budget spent before this ``fit`` (a resumed run)."""

    #: Steps excluded from the speed measurement (the first ones trace the graph).
    WARMUP_STEPS = 3
    #: The clock the budget is measured with (tests substitute a fake one).
    clock = staticmethod(time.perf_counter)

    def __init__(self, base_lr, *, cosine, doc, start_step=0, used_seconds=0.0, steps=None, hold_steps=0,
                 budget_seconds=None):
        super().__init__()
        self.base_lr = float(base_lr)
        self.cosine = cosine
        self.doc = doc
        self.step = int(start_step)
        self.steps = steps
        self.hold_steps = int(hold_steps)
        self.budget_seconds = budget_seconds
        self.used_seconds = float(used_seconds)
        if steps is not None:
            doc["length"] = {"budget_seconds": budget_seconds, "steps": int(steps), "hold_steps": self.hold_steps}

    def learning_rate(self, step):
        if self.steps is None or step < self.hold_steps:
            return self.base_lr
        progress = (step - self.hold_steps) / max(1, self.steps - self.hold_steps)
        return self.base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def on_train_begin(self, logs=None):
        # Time inside training steps (not validation, not other callbacks), this run's sessions together.
        self.train_seconds = self.used_seconds
        self._first = self.step
        self._warm_seconds = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.cosine:
            self.model.optimizer.learning_rate.assign(self.learning_rate(self.step))
        self._t = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        self.train_seconds += self.clock() - self._t
        self.step += 1
        if self.steps is None:
            self._calibrate()
        if self.steps is not None and self.step >= self.steps:
            self.model.stop_training = True

    def _calibrate(self):
        measured = self.step - self._first - self.WARMUP_STEPS
        if measured == 0:
            self._warm_seconds = self.train_seconds
        if measured >= 5 and self.train_seconds >= 0.1 * self.budget_seconds:
            seconds_per_step = (self.train_seconds - self._warm_seconds) / measured
            self.hold_steps = self.step
            left = self.budget_seconds - self.train_seconds
            self.steps = self.step + max(1, int(left / seconds_per_step))
            self.doc["length"] = {"budget_seconds": self.budget_seconds, "steps": self.steps,
                                  "hold_steps": self.hold_steps}

    def on_epoch_end(self, epoch, logs=None):
        # Recorded before the checkpoint writes history.json: a resumed run goes on with the budget it has left.
        self.doc["budget_used_seconds"] = round(self.train_seconds, 3)
        if logs is not None and self.cosine:
            logs["learning_rate"] = self.learning_rate(max(0, self.step - 1))
