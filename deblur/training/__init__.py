"""Training: one model, one :class:`~deblur.recipe.Recipe`, one run folder: ``train(model, x, recipe, run_dir=...)``.

Submodules: ``loop`` (:func:`train`), ``run_folder`` (what a run writes, resume, the lock), ``schedule`` (learning
rates, steps, time budgets), ``pipeline`` (batches corrupted as drawn), ``devices`` (data parallelism on one
machine), ``distributed`` (one run over several processes and hosts, JAX)."""

from ..recipe import Budget, Epochs, Recipe, Seeds, Steps
from . import distributed
from .loop import make_loss, make_optimizer, split_train_val, train
from .run_folder import (CONFIG_FILE, FINAL_MODEL_FILE, HISTORY_FILE, LOCK_FILE, RunLockedError, RunMismatchError,
                         TrainedRun, load_history, load_run, run_lock)
from .schedule import StepBudget, constant_lr_schedule, cosine_lr_schedule, win5rb_lr_schedule

__all__ = ["train", "make_optimizer", "make_loss", "Recipe", "Seeds", "Epochs", "Steps", "Budget", "TrainedRun",
           "load_run", "load_history", "split_train_val", "StepBudget", "RunMismatchError", "RunLockedError",
           "run_lock", "constant_lr_schedule", "cosine_lr_schedule", "win5rb_lr_schedule", "distributed", "CONFIG_FILE",
           "HISTORY_FILE", "FINAL_MODEL_FILE", "LOCK_FILE"]
