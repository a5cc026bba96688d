"""``train(model, x_clean, recipe, *, run_dir)``: one model, one recipe, one run folder.

Stages: check, prepare the arrays, open or resume the run folder, batch (:mod:`deblur.training.pipeline`), fit, save."""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from pathlib import Path

import keras
import numpy as np

from .._validation import as_float_images, check_images, check_int, check_same_shape
from ..corruption import corrupt
from ..degradations import Realistic
from ..device_corruption import CorruptionTrainer, DeviceCorruption
from ..machine import frontend, resolve_precision
from ..models import load_model_file, set_precision
from ..recipe import Budget, Recipe, Seeds
from . import distributed
from .pipeline import DeviceBatches, FreshCorruption, ImagePairs, batches_per_epoch as epoch_batches
from .run_folder import RunCheckpoint, check_resumable, checkpoint_path, open_run, run_lock, save_final, steps_done
from .schedule import run_length, schedule_callbacks

__all__ = ["train", "split_train_val", "make_optimizer", "make_loss"]


def split_train_val(n, *, val_fraction=0.1, seed=0):
    """Shuffled train/validation split of ``range(n)``: disjoint sorted int64 indices ``(train_idx, val_idx)``.

    Not Keras's ``validation_split`` (the study's), which takes the *last* 10 %: the stand-in data are class-sorted."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction}.")
    n_val = max(int(round(n * val_fraction)), 1 if val_fraction > 0 else 0)
    if n - n_val < 1:
        raise ValueError(f"{n} images are too few to hold out {n_val} for validation.")
    order = np.random.default_rng([seed, 0xD5]).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train(model, x_clean, recipe, *, run_dir, x_corrupted=None, workers=1, verbose="auto", callbacks=()):
    """Train a restoration model with a recipe, in a run folder (checkpoints, resume, history): a ``TrainedRun``.

    Checkpoints after every epoch and resumes an interrupted run (same ``run_dir``, recipe and data) after its last one,
    on the same batches. ``model``: freshly built (:mod:`deblur.models`), compiled here with Adam and the recipe's loss;
    ignored on resume (the checkpoint holds model and optimizer state). ``x_clean``: the targets, (N, H, W, C), uint8 or
    float in [0, 1]. ``recipe``: written to ``run_dir/config.json`` (created if missing). ``workers``: threads preparing
    batches (``"fresh"``, ``"device"``). ``x_corrupted``: inputs aligned with ``x_clean``, for ``corruption="fixed"``
    only (default: ``corrupt(x_clean, seed=Seeds(recipe.seed).train_corruption)``). ``verbose``: Keras's ``fit``
    verbosity (1 a bar, 2 a line per epoch; ``"auto"``: a bar where a person watches, :func:`deblur.machine.frontend`,
    else lines). With ``corruption="device"``, ``callbacks`` see the training wrapper as ``self.model``.

    Raises ``ValueError`` for bad images or shapes, :class:`RunMismatchError` if ``run_dir`` holds a run of another
    recipe or other data, and :class:`RunLockedError` if another live run holds it."""
    _check_inputs(model, recipe, workers)
    group = _check_group(recipe)
    seeds = Seeds(recipe.seed)
    clean, noisy = _training_arrays(x_clean, x_corrupted, recipe)
    train_idx, val_idx = split_train_val(len(clean), val_fraction=recipe.validation_split, seed=seeds.training)
    data = {"n_train": int(len(train_idx)), "n_val": int(len(val_idx)), "image_shape": list(clean.shape[1:]),
            "sha256": _fingerprint(clean) if noisy is None else _fingerprint(clean, noisy)}
    run_dir = Path(run_dir)
    if run_dir.is_dir():
        check_resumable(run_dir, recipe, data, processes=group.count)  # a refused run writes nothing, not even a lock
    # One live run per folder; of a group of processes, process 0 holds the lock and writes.
    with run_lock(run_dir) if group.is_chief else contextlib.nullcontext():
        doc = open_run(run_dir, recipe, data, model.name, processes=group.count, write=group.is_chief)
        model = _start_or_resume(model, run_dir, doc, recipe)
        doc["precision"] = resolve_precision(recipe.precision)  # this session's; each epoch's record names it
        batches_per_epoch = epoch_batches(len(train_idx), recipe.batch_size, group.count)[0]
        length = _resume_length(run_length(recipe), doc)
        if not _finished(length, doc):
            dataset, validation = _datasets(clean, noisy, train_idx, val_idx, recipe, workers=workers,
                                            epochs=_fit_epochs(length, doc, batches_per_epoch),
                                            start_epoch=len(doc["epochs"]), group=group)
            fit_callbacks = [*schedule_callbacks(recipe, length, doc, start_step=steps_done(doc)),
                             RunCheckpoint(run_dir, doc, saved_model=model, write=group.is_chief), *callbacks]
            set_precision(model, doc["precision"])
            try:
                _fit(_fit_model(model, recipe), dataset, validation, callbacks=fit_callbacks,
                     verbose=verbose if group.is_chief else 0)
            finally:  # the trained model computes in float32, as evaluation does on every CPU
                set_precision(model, "float32")
            length = _resume_length(length, doc)  # a budget has fixed its step count by now
        return save_final(model, run_dir, doc, finished=_finished(length, doc), write=group.is_chief)


def _check_inputs(model, recipe, workers):
    """The model, the recipe and the worker count, before anything is read or written."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; got {type(model).__name__}.")
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a deblur.recipe.Recipe; got {type(recipe).__name__}.")
    check_int(workers, "workers")
    names = sorted(getattr(t, "name", "?") for t in getattr(model, "inputs", None) or [])
    if recipe.sigma_input and names != ["corrupted", "sigma"]:
        raise ValueError(f"sigma_input=True needs a model with inputs named 'corrupted' and 'sigma'; "
                         f"{model.name} has {names}.")
    if not recipe.sigma_input and "sigma" in names:
        raise ValueError(f"{model.name} takes a 'sigma' input: train it with a recipe of sigma_input=True.")


def _check_group(recipe):
    """The process group this run trains in (one process unless the environment names several)."""
    group, wanted = distributed.current(), distributed.from_env()
    if wanted.count != group.count:
        raise RuntimeError(f"the environment names {wanted.count} training processes but this one has not joined "
                           "them: call deblur.training.distributed.initialize() before building the model "
                           "(deblur.study.train_model does).")
    if group.count > 1 and isinstance(recipe.length, Budget):
        raise ValueError(f"a time budget cannot be shared by {group.count} processes (each would stop at its own "
                         "step); give the run steps or epochs.")
    if group.count > 1 and recipe.batch_size % group.count:
        raise ValueError(f"batch_size {recipe.batch_size} does not split evenly over {group.count} processes; "
                         f"choose a multiple of {group.count}.")
    return group


def _corruption_settings(recipe):
    """The study-family degradation's blur and noise, as the pipelines take them (a Realistic one has none)."""
    d = recipe.degradation
    if isinstance(d, Realistic):
        return {}
    return {"kernel_size": d.kernel_size, "sigma_range": d.sigma_range, "noise_std": d.noise_std,
            "sharp_fraction": d.sharp_fraction}


def _corrupt(images, recipe, seed):
    """The recipe's degradation of a fixed set of ``images`` (no zoom: it changes targets) with ``seed``."""
    if isinstance(recipe.degradation, Realistic):
        return recipe.degradation(images, seed)
    return corrupt(images, seed=seed, **_corruption_settings(recipe))


def _training_arrays(x_clean, x_corrupted, recipe):
    """The clean images and, for ``"fixed"`` corruption, their corrupted inputs (else None)."""
    if recipe.corruption != "fixed":
        if x_corrupted is not None:
            raise ValueError(f"x_corrupted is for corruption='fixed'; with corruption={recipe.corruption!r} every "
                             "batch is corrupted as it is drawn. Pass only x_clean.")
        return check_images(x_clean, name="x_clean"), None  # uint8 stays uint8: no float copy
    clean = as_float_images(x_clean, name="x_clean")
    if x_corrupted is None:
        return clean, _corrupt(clean, recipe, Seeds(recipe.seed).train_corruption)[0]
    noisy = as_float_images(x_corrupted, name="x_corrupted", check_range=False)
    check_same_shape(noisy, clean, ("x_corrupted", "x_clean"))
    return clean, noisy


def _start_or_resume(model, run_dir, doc, recipe):
    """The model to train: the run's last checkpoint, or ``model`` compiled afresh."""
    if doc["epochs"]:
        return load_model_file(checkpoint_path(run_dir, doc))
    optimizer = make_optimizer(recipe)
    model.compile(optimizer=optimizer, loss=make_loss(recipe))
    # Built here, not in the first training step: on TensorFlow a variable made while tracing costs a second trace.
    optimizer.build(model.trainable_variables)
    return model


def make_optimizer(recipe):
    """The recipe's optimizer: Adam (AdamW with a weight decay), with a weight average if it asks for one."""
    ema = recipe.ema_momentum is not None
    return keras.optimizers.Adam(recipe.learning_rate, beta_2=recipe.beta_2, weight_decay=recipe.weight_decay or None,
                                 global_clipnorm=recipe.global_clipnorm, use_ema=ema,
                                 ema_momentum=recipe.ema_momentum if ema else 0.99)


def make_loss(recipe):
    """The recipe's loss: a Keras loss name, or a loss registered with ``keras.saving.register_keras_serializable``."""
    return keras.saving.get_registered_object(recipe.loss) or recipe.loss


def _fit_model(model, recipe):
    """``model``, or for ``"device"`` a wrapper corrupting batches on the device, sharing weights and optimizer."""
    if recipe.corruption != "device":
        return model
    wrapper = CorruptionTrainer(model, DeviceCorruption(flips=recipe.flips, **_corruption_settings(recipe)),
                                name=f"{model.name}_device_corruption")
    wrapper.compile(optimizer=model.optimizer, loss=make_loss(recipe))
    return wrapper


def _resume_length(length, doc):
    """A time budget that already fixed its step count continues as that step count."""
    if "budget_seconds" in length and doc.get("length", {}).get("steps"):
        return {**length, "steps": doc["length"]["steps"], "hold_steps": doc["length"]["hold_steps"]}
    return length


def _finished(length, doc):
    if "steps" in length:
        return steps_done(doc) >= length["steps"]
    if "epochs" in length:
        return len(doc["epochs"]) >= length["epochs"]
    return False  # a budget that has not fixed its step count yet


def _fit_epochs(length, doc, batches_per_epoch):
    """Epochs to ask ``fit`` for (counting those done); a step count or budget stops it at its step."""
    if "epochs" in length:
        return length["epochs"]
    done = len(doc["epochs"])
    if "steps" in length:
        # A resumed run starts a new epoch, so what is left may need one epoch more than a fresh run.
        return done + math.ceil((length["steps"] - steps_done(doc)) / batches_per_epoch)
    return done + 10**6 // batches_per_epoch + 1  # a budget: StepBudget stops the run


def _datasets(clean, noisy, train_idx, val_idx, recipe, *, workers, epochs, start_epoch, group):
    """This process's training batches, and all validation pairs (in every process: the mean loss stays the same)."""
    seed = Seeds(recipe.seed).training
    common = dict(batch_size=recipe.batch_size, seed=seed, epochs=epochs, start_epoch=start_epoch, group=group)
    if noisy is not None:
        data = ImagePairs(noisy[train_idx], clean[train_idx], **common)
        return data, ((noisy[val_idx], clean[val_idx]) if len(val_idx) else None)
    if recipe.corruption == "device":
        data = DeviceBatches(clean[train_idx], workers=workers, **common)
    else:
        data = _fresh_batches(clean[train_idx], recipe, workers=workers, **common)
    if not len(val_idx):
        return data, None
    val_clean = as_float_images(clean[val_idx], name="x_clean")
    val_noisy, val_sigmas = _corrupt(val_clean, recipe, Seeds(recipe.seed).validation_corruption)
    if recipe.sigma_input:
        val_noisy = {"corrupted": val_noisy, "sigma": val_sigmas.astype(np.float32)[:, None]}
    return data, (val_noisy, val_clean)


def _fresh_batches(clean, recipe, *, workers, **common):
    d = recipe.degradation
    if isinstance(d, Realistic):
        return FreshCorruption(clean, flips=recipe.flips, workers=workers, degradation=d, **common)
    return FreshCorruption(clean, flips=recipe.flips, workers=workers, sigma_input=recipe.sigma_input,
                           zoom_fraction=d.zoom_fraction, zoom_range=d.zoom_range, **_corruption_settings(recipe),
                           **common)


def _fit(model, data, validation, *, callbacks, verbose):
    if verbose == "auto":  # Keras's own "auto" is a bar everywhere: per-step lines in a headless notebook or a log
        verbose, callbacks = (1, callbacks) if frontend() else (0, [*callbacks, _EpochLine()])
    if validation is not None and keras.backend.backend() == "tensorflow":
        _validate_eagerly(model)
    # The data sets shuffle themselves; Keras's shuffle would permute batch indices with `random` and mix epochs.
    model.fit(data, epochs=data.epochs, initial_epoch=data.start_epoch, steps_per_epoch=data.batches_per_epoch,
              shuffle=False, validation_data=validation, validation_batch_size=max(data.batch_size, 256),
              callbacks=callbacks, verbose=verbose)


class _EpochLine(keras.callbacks.Callback):
    """One line per epoch (Keras's ``verbose=2`` adds an ``Epoch 3/29412`` header, a budget's nominal count)."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        values = ", ".join(f"{name} {value:.4g}" for name, value in (logs or {}).items())
        print(f"epoch {epoch + 1}: {time.perf_counter() - self._start:.0f} s, {values}", flush=True)


def _validate_eagerly(model):
    """Validate eagerly: TensorFlow counts train and test traces as one function's, so runs warn of retracing."""
    run_eagerly = model.run_eagerly
    model.run_eagerly = True
    try:
        model.make_test_function(force=True)
    finally:
        model.run_eagerly = run_eagerly


def _fingerprint(*arrays):
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(str(a.shape).encode())
        digest.update(np.ascontiguousarray(a).data)
    return digest.hexdigest()
