"""Training with the study's settings, run folders, checkpoints and resume.

A *run folder* holds everything one training run produces::

    run_dir/
        config.json                 settings and data fingerprint of the run
        history.json                per-epoch loss, val_loss, learning rate, seconds, step;
                                    the length of a step-count or time-budget run
        checkpoint-epoch003.keras   model + optimizer state after the last finished epoch
        model.keras                 the final model, once all epochs are done

Every file is written atomically (a temporary file in the same folder, then
``os.replace``), and ``history.json`` is written last and names the checkpoint
that matches it, so a run killed at any moment leaves a consistent folder:
calling :func:`train` again with the same ``run_dir`` resumes after the last
finished epoch and the history continues where it stopped.

Shuffling is a pure function of ``(seed, epoch)`` (see
:class:`deblur.pipeline.EpochBatches`), so a resumed run sees the same batches
an uninterrupted run would. A run is as long as a number of epochs, a number
of steps, or a time budget (:class:`StepBudget`) that fixes and records its
step count, so that the same run can be replayed on any machine.

:func:`train` reads as its stages: check the settings, prepare the arrays,
open or resume the run folder, build the data sets, fit, finalise.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import platform
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

from .files import atomic_save, atomic_write_json, read_json
from ._validation import as_float_images, check_images, check_same_shape
from .corruption import check_noise, check_settings, corrupt
from .pipeline import DeviceBatches, FreshCorruption, ImagePairs

#: The ways :func:`train` corrupts the training images.
CORRUPTIONS = ("fixed", "fresh", "device")

__all__ = [
    "train",
    "TrainedRun",
    "ImagePairs",
    "StepBudget",
    "split_train_val",
    "win5rb_lr_schedule",
    "constant_lr_schedule",
    "cosine_lr_schedule",
    "LR_SCHEDULES",
    "load_run",
    "load_history",
    "RunMismatchError",
    "RunLockedError",
    "run_lock",
]

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
FINAL_MODEL_FILE = "model.keras"


class RunMismatchError(ValueError):
    """The run folder holds a run with different settings or data, or was altered."""


class RunLockedError(OSError):
    """Another live training run holds the run folder."""


#: The lock file of a live run (removed when the run ends; a killed run's is stale and harmless).
LOCK_FILE = ".lock"


@contextlib.contextmanager
def run_lock(run_dir):
    """Hold ``run_dir`` for this process while it trains; refuse if another live run holds it.

    ``fcntl.flock`` rather than the ``filelock`` package: it is the call
    filelock itself makes on POSIX, without a new dependency, and the kernel
    drops the lock when its process ends, SIGKILL included, so a killed run
    never blocks the next one. Where ``fcntl`` does not exist (Windows), runs
    are not locked.

    Raises
    ------
    RunLockedError
        Another live run holds the folder; the message names it (pid, host, start).
    NotADirectoryError
        ``run_dir`` exists and is not a folder.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(f"run_dir {run_dir} exists and is not a folder.")
    if fcntl is None:  # pragma: no cover - not POSIX
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_FILE
    fd = _acquire(path, run_dir)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {platform.node()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


def _acquire(path, run_dir):
    """Open and lock ``path``; retry if its holder removed it between our open and our lock."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Path(path).read_text(errors="replace").strip() or "holder unknown"
            os.close(fd)
            raise RunLockedError(
                f"{run_dir} is in use by another training run ({holder}); wait for it to end, "
                "or choose another run_dir."
            ) from None
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _checkpoint_file(run_dir, doc, history_path):
    """The run's checkpoint named by ``history.json``: a checkpoint file of this folder, else an error."""
    name = doc.get("checkpoint")
    if not isinstance(name, str) or not re.fullmatch(r"checkpoint-epoch\d{3,}\.keras", name):
        raise RunMismatchError(
            f"{history_path} names {name!r} as its checkpoint, which is not a checkpoint file of this run "
            "folder (checkpoint-epochNNN.keras); the folder was altered. Use a new run_dir."
        )
    return run_dir / name


def constant_lr_schedule(epoch, base_lr):
    """The study's default: the learning rate stays ``base_lr``."""
    return float(base_lr)


def win5rb_lr_schedule(epoch, base_lr):
    """The study's Win5-RB schedule: times ``exp(-0.5)`` every epoch from epoch 5.

    The study used Keras's ``LearningRateScheduler`` with
    ``lr if epoch < 5 else lr * exp(-0.5)`` (epochs counted from 0). This is
    its closed form, so it gives the same value after a resume.

    Parameters
    ----------
    epoch : int
        Zero-based epoch index.
    base_lr : float
        Learning rate of the first epochs.

    Returns
    -------
    float
        ``base_lr * exp(-0.5 * max(0, epoch - 4))``.
    """
    return float(base_lr) * math.exp(-0.5 * max(0, int(epoch) - 4))


def cosine_lr_schedule(epoch, base_lr, *, epochs):
    """Cosine decay per epoch: ``base_lr`` in epoch 0, down towards 0 at ``epochs``.

    ``base_lr * (1 + cos(pi * epoch / epochs)) / 2``; used by our recipes
    (``lr_schedule="cosine"`` in :func:`train` binds ``epochs`` to the run's).

    Parameters
    ----------
    epoch : int
        Zero-based epoch index.
    base_lr : float
    epochs : int
        Length of the run in epochs.

    Returns
    -------
    float
    """
    return float(base_lr) * 0.5 * (1.0 + math.cos(math.pi * int(epoch) / max(1, int(epochs))))


#: Named learning-rate schedules, ``f(epoch, base_lr) -> lr`` (``"cosine"``
#: also takes the run's ``epochs``, bound by :func:`train`).
LR_SCHEDULES = {"constant": constant_lr_schedule, "win5rb": win5rb_lr_schedule, "cosine": cosine_lr_schedule}


@dataclass
class TrainedRun:
    """What :func:`train` returns.

    Attributes
    ----------
    model : keras.Model
        The trained model (loaded from the run folder when resumed).
    history : dict of str -> list of float
        Per-epoch ``loss``, ``val_loss``, ``learning_rate`` and ``seconds``.
    run_dir : pathlib.Path
        The run folder.
    steps : int
        Training steps done.
    length : dict
        For a step count or time budget: ``steps``, ``hold_steps`` and
        ``budget_seconds``; replay the run with ``train(..., steps=,
        hold_steps=)``.
    finished : bool
        False when training stopped before its length (a callback stopped
        it): the run folder holds a checkpoint to resume from.
    """

    model: keras.Model
    history: dict
    run_dir: Path
    steps: int = 0
    length: dict = field(default_factory=dict)
    finished: bool = True


def split_train_val(n, *, val_fraction=0.1, seed=0):
    """Shuffled train/validation index split.

    The study used Keras's ``validation_split=0.1``, which takes the *last*
    10 % of the arrays. The stand-in data are ordered by class, so we shuffle
    first: the validation set is a random 10 %.

    Parameters
    ----------
    n : int
        Number of images.
    val_fraction : float, default 0.1
        Fraction held out for validation, in [0, 1).
    seed : int, default 0
        Seed of the split.

    Returns
    -------
    train_idx, val_idx : ndarray of int64
        Disjoint sorted indices covering ``range(n)``.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction}.")
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n_val == 0:
        n_val = 1
    if n - n_val < 1:
        raise ValueError(f"{n} images are too few to hold out {n_val} for validation.")
    order = np.random.default_rng([seed, 0xD5]).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train(
    model,
    x_clean,
    x_corrupted=None,
    *,
    run_dir,
    epochs=None,
    steps=None,
    hold_steps=0,
    budget_seconds=None,
    batch_size=32,
    learning_rate=1e-3,
    global_clipnorm=None,
    lr_schedule="constant",
    loss="mse",
    validation_split=0.1,
    seed=0,
    corruption="fixed",
    flips=False,
    sigma_input=False,
    sigma_range=(1.0, 4.0),
    noise_std=0.02,
    workers=1,
    resume=True,
    verbose="auto",
    callbacks=(),
):
    """Train a restoration model in a run folder (checkpoints, resume, history).

    Defaults are the study's protocol: MSE loss, Adam with learning rate
    1e-3, batch 32, 20 epochs, 10 % of the images held out for validation.
    Shows Keras's progress bar, checkpoints after every epoch and resumes an
    interrupted run (same ``run_dir``) after its last finished epoch.

    Parameters
    ----------
    model : keras.Model
        A freshly built model (see :mod:`deblur.models`), compiled here with
        Adam and ``loss``. Ignored when resuming: the model and its optimizer
        state come from the run folder's checkpoint.
    x_clean : ndarray, shape (N, H, W, C)
        Clean images, uint8 or float in [0, 1]: the targets.
    x_corrupted : ndarray, shape (N, H, W, C), optional
        Corrupted inputs aligned with ``x_clean`` (``corruption="fixed"``).
        Default: ``corrupt(x_clean, seed=seed)``.
    run_dir : str or os.PathLike
        Run folder; created if missing.
    epochs : int, optional
        Total epochs (a resumed run counts those already done). The default,
        when no length is given, is the study's 20.
    steps : int, optional
        Total training steps instead of epochs (a replayed time budget).
    hold_steps : int, default 0
        With ``steps`` and ``lr_schedule="cosine"``: steps at the base
        learning rate before the cosine starts.
    budget_seconds : float, optional
        Train for about this many seconds instead (see :class:`StepBudget`):
        the run measures its speed, fixes its step count, and records it in
        ``history.json`` (``length``) so that ``steps=`` replays it.
    batch_size : int, default 32
    learning_rate : float, default 1e-3
        Adam's base learning rate.
    global_clipnorm : float, optional
        Clip the gradients to this global norm (Adam's ``global_clipnorm``);
        default: no clipping, the study's.
    lr_schedule : str or callable, default "constant"
        A name from :data:`LR_SCHEDULES` (``"win5rb"``: the study's Win5-RB
        schedule; ``"cosine"``: over the epochs, or over the steps of a
        ``steps``/``budget_seconds`` run) or ``f(epoch, base_lr) -> lr``.
    loss : str, default "mse"
    validation_split : float, default 0.1
        Random fraction of the images held out for validation (0 disables).
    seed : int, default 0
        Seed of the split, the shuffling and the corruption done here.
    corruption : {"fixed", "fresh", "device"}, default "fixed"
        ``"fixed"``, the study's way: every training image corrupted once.
        ``"fresh"``: each batch corrupted as it is drawn, new sigma and noise
        every epoch (:class:`deblur.pipeline.FreshCorruption`, numpy on the
        CPU); ``x_clean`` stays as it is (uint8 stays uint8) and only the
        validation images are corrupted once
        (``Seeds(seed).validation_corruption``). ``"device"``: as
        ``"fresh"``, but the batch travels clean (uint8) to the device that
        trains and is corrupted there, inside the training step
        (:class:`deblur.device_corruption.CorruptionTrainer`; its draws are
        a pure function of ``(seed, epoch, step)``, not the same numbers as
        ``"fresh"``'s). The run folder saves the restoration model alone,
        as with the other two; the ``callbacks`` see the wrapper as
        ``self.model``.
    flips : bool, default False
        Random horizontal and vertical flips (``"fresh"`` and ``"device"``).
    sigma_input : bool, default False
        Tell the model each image's blur sigma (a non-blind model; ``"fresh"``
        only): ``model`` has two inputs, ``"corrupted"`` (B, H, W, C) and
        ``"sigma"`` (B, 1), and every batch feeds both. The random draws are
        those of a blind run with the same seed, so a blind and a non-blind
        model can be trained on the very same corrupted images.
    sigma_range : (float, float), default (1.0, 4.0)
        Blur sigmas of the training (and validation) corruption, the study's
        by default (see :func:`deblur.corruption.corrupt`).
    noise_std : float or (float, float), default 0.02
        Noise level, or a range drawn per image (``"fixed"`` and ``"fresh"``
        only).
    workers : int, default 1
        Threads preparing batches ahead of the model (``"fresh"`` and ``"device"``).
    resume : bool, default True
        Continue the run found in ``run_dir``. With False, a run folder that
        already holds a run is an error, so nothing saved is overwritten.
    verbose : "auto", 0, 1 or 2, default "auto"
        Keras's ``fit`` verbosity (1: progress bar).
    callbacks : sequence of keras.callbacks.Callback

    Returns
    -------
    TrainedRun

    Raises
    ------
    ValueError
        Bad images, shapes or settings.
    RunMismatchError
        ``run_dir`` holds a run with different settings or data.
    FileExistsError
        ``resume=False`` and ``run_dir`` already holds a run.
    """
    length = _check_settings(model, epochs=epochs, steps=steps, hold_steps=hold_steps,
                             budget_seconds=budget_seconds, batch_size=batch_size,
                             learning_rate=learning_rate, workers=workers)
    if global_clipnorm is not None and not (np.isfinite(global_clipnorm) and global_clipnorm > 0):
        raise ValueError(f"global_clipnorm must be > 0 (or None: no clipping); got {global_clipnorm}.")
    _check_sigma_input(model, sigma_input, corruption=corruption)
    settings = _corruption_settings(sigma_range, noise_std, corruption=corruption)
    schedule_name, schedule = _resolve_schedule(lr_schedule, length)
    clean, noisy = _training_arrays(x_clean, x_corrupted, corruption=corruption, flips=flips, seed=seed,
                                    settings=settings)
    train_idx, val_idx = split_train_val(len(clean), val_fraction=validation_split, seed=seed)
    config = {
        "model": model.name, "batch_size": int(batch_size), "learning_rate": float(learning_rate),
        "lr_schedule": schedule_name, "loss": loss, "validation_split": float(validation_split),
        "global_clipnorm": None if global_clipnorm is None else float(global_clipnorm),
        "seed": int(seed), "corruption": corruption, "flips": bool(flips),
        "sigma_input": bool(sigma_input), "sigma_range": list(settings["sigma_range"]),
        "noise_std": settings["noise_std"] if np.ndim(settings["noise_std"]) == 0 else list(settings["noise_std"]),
        "n_train": int(len(train_idx)), "n_val": int(len(val_idx)), "image_shape": list(clean.shape[1:]),
        "data_sha256": _fingerprint(clean) if noisy is None else _fingerprint(clean, noisy),
    }
    run_dir = Path(run_dir)
    with run_lock(run_dir):  # one live run per folder
        doc = _prepare_run_dir(run_dir, config, resume=resume)
        model = _start_or_resume(model, run_dir, doc, learning_rate=learning_rate, loss=loss,
                                 global_clipnorm=global_clipnorm)
        fit_model = _fit_model(model, corruption=corruption, flips=flips, loss=loss, settings=settings)
        batches_per_epoch = math.ceil(len(train_idx) / batch_size)
        length = _resume_length(length, doc)
        if not _finished(length, doc, batches_per_epoch):
            data, validation = _datasets(clean, noisy, train_idx, val_idx, batch_size=batch_size, seed=seed,
                                         epochs=_fit_epochs(length, doc, batches_per_epoch),
                                         start_epoch=len(doc["epochs"]),
                                         flips=flips, workers=workers, corruption=corruption,
                                         sigma_input=sigma_input, settings=settings)
            fit_callbacks = [*_schedule_callbacks(length, schedule, learning_rate, doc, batches_per_epoch),
                             _RunCheckpoint(run_dir, doc, start_step=_steps_done(doc, batches_per_epoch),
                                            saved_model=model),
                             *callbacks]
            _fit(fit_model, data, validation, callbacks=fit_callbacks, verbose=verbose)
            length = _resume_length(length, doc)  # a budget has fixed its step count by now
        return _finalise(model, run_dir, doc, finished=_finished(length, doc, batches_per_epoch),
                         steps=_steps_done(doc, batches_per_epoch))


def _check_settings(model, *, epochs, steps, hold_steps, budget_seconds, batch_size, learning_rate, workers):
    """Validate the settings before anything is read or written; return the run's length."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; got {type(model).__name__}.")
    given = {k: v for k, v in (("epochs", epochs), ("steps", steps), ("budget_seconds", budget_seconds))
             if v is not None}
    if len(given) > 1:
        raise ValueError(f"Give one length: epochs, steps or budget_seconds; got {sorted(given)}.")
    for value, name in ((epochs, "epochs"), (steps, "steps"), (batch_size, "batch_size"), (workers, "workers")):
        if value is not None:
            _check_positive_int(value, name)
    if isinstance(hold_steps, bool) or not isinstance(hold_steps, (int, np.integer)) or hold_steps < 0:
        raise ValueError(f"hold_steps must be an integer >= 0; got {hold_steps!r}.")
    if steps is not None and hold_steps >= steps:
        raise ValueError(f"hold_steps ({hold_steps}) must be below steps ({steps}).")
    if budget_seconds is not None and not (np.isfinite(budget_seconds) and budget_seconds > 0):
        raise ValueError(f"budget_seconds must be > 0; got {budget_seconds}.")
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be > 0; got {learning_rate}.")
    if not given:
        return {"epochs": 20}
    if steps is not None:
        return {"steps": int(steps), "hold_steps": int(hold_steps)}
    return {k: (float(v) if k == "budget_seconds" else int(v)) for k, v in given.items()}


def _check_sigma_input(model, sigma_input, *, corruption):
    """A non-blind run needs fresh corruption and a model with ``corrupted`` and ``sigma`` inputs."""
    names = sorted(getattr(t, "name", "?") for t in getattr(model, "inputs", None) or [])
    if sigma_input:
        if corruption != "fresh":
            raise ValueError(f"sigma_input=True needs corruption='fresh' (it feeds the sigmas it draws); "
                             f"got corruption={corruption!r}.")
        if names != ["corrupted", "sigma"]:
            raise ValueError(f"sigma_input=True needs a model with inputs named 'corrupted' and 'sigma'; "
                             f"{model.name} has {names}.")
    elif "sigma" in names:
        raise ValueError(f"{model.name} takes a 'sigma' input: pass sigma_input=True to feed it.")


def _corruption_settings(sigma_range, noise_std, *, corruption):
    """The training corruption's sigma range and noise, checked; a noise range needs numpy corruption."""
    low, high = check_settings(kernel_size=5, sigma_range=sigma_range, noise_std=noise_std)
    noise = check_noise(noise_std)
    if corruption == "device" and np.ndim(noise) > 0:
        raise ValueError(f"noise_std={noise_std!r} is a range, drawn per image by corruption='fresh' or 'fixed'; "
                         "corruption='device' takes one number.")
    return {"sigma_range": (low, high), "noise_std": noise}


def _training_arrays(x_clean, x_corrupted, *, corruption, flips, seed, settings=None):
    """The clean images and, for ``"fixed"`` corruption, their corrupted inputs (else None)."""
    if corruption not in CORRUPTIONS:
        raise ValueError(f"corruption must be one of {', '.join(map(repr, CORRUPTIONS))}; got {corruption!r}.")
    if corruption != "fixed":
        if x_corrupted is not None:
            raise ValueError(
                f"x_corrupted is for corruption='fixed'; with corruption={corruption!r} every batch is "
                "corrupted as it is drawn. Pass only x_clean."
            )
        return check_images(x_clean, name="x_clean"), None  # uint8 stays uint8: no float copy
    if flips:
        raise ValueError("flips=True needs corruption='fresh' or 'device' (fixed pairs are not flipped).")
    clean = as_float_images(x_clean, name="x_clean")
    if x_corrupted is None:
        return clean, corrupt(clean, seed=seed, **(settings or {}))[0]
    noisy = as_float_images(x_corrupted, name="x_corrupted", check_range=False)
    check_same_shape(noisy, clean, ("x_corrupted", "x_clean"))
    return clean, noisy


def _start_or_resume(model, run_dir, doc, *, learning_rate, loss, global_clipnorm=None):
    """The model to train: the run's last checkpoint, or ``model`` compiled afresh."""
    if doc["epochs"]:
        return keras.models.load_model(_checkpoint_file(run_dir, doc, run_dir / HISTORY_FILE))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate, global_clipnorm=global_clipnorm), loss=loss)
    return model


def _fit_model(model, *, corruption, flips, loss, settings=None):
    """What ``fit`` trains: ``model``, or for ``"device"`` the wrapper that corrupts batches on the device.

    The wrapper shares ``model``'s weights and optimizer (so ``model``'s
    checkpoints hold the whole training state) and adds only the
    corruption's random-state variable, which every batch resets from its
    key.
    """
    if corruption != "device":
        return model
    from .device_corruption import CorruptionTrainer, DeviceCorruption

    wrapper = CorruptionTrainer(model, DeviceCorruption(flips=flips, **(settings or {})),
                                name=f"{model.name}_device_corruption")
    wrapper.compile(optimizer=model.optimizer, loss=loss)
    return wrapper


def _resume_length(length, doc):
    """A time budget that already fixed its step count continues as that step count."""
    if "budget_seconds" in length and doc.get("length", {}).get("steps"):
        return {**length, "steps": doc["length"]["steps"], "hold_steps": doc["length"]["hold_steps"]}
    return length


def _steps_done(doc, batches_per_epoch):
    epochs = doc["epochs"]
    return int(epochs[-1].get("step", len(epochs) * batches_per_epoch)) if epochs else 0


def _finished(length, doc, batches_per_epoch):
    if "steps" in length:
        return _steps_done(doc, batches_per_epoch) >= length["steps"]
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
        return done + math.ceil((length["steps"] - _steps_done(doc, batches_per_epoch)) / batches_per_epoch)
    return done + 10**6 // batches_per_epoch + 1  # a budget: StepBudget stops the run


def _datasets(clean, noisy, train_idx, val_idx, *, batch_size, seed, epochs, start_epoch, flips, workers,
              corruption="fixed", sigma_input=False, settings=None):
    """The training batches (fixed, fresh or device corruption) and the fixed validation pairs."""
    from .study import Seeds  # the study's seed record (study imports this module lazily)

    common = dict(batch_size=batch_size, seed=seed, epochs=epochs, start_epoch=start_epoch)
    settings = settings or {}
    if noisy is None:
        if corruption == "device":
            data = DeviceBatches(clean[train_idx], workers=workers, **common)
        else:
            data = FreshCorruption(clean[train_idx], flips=flips, workers=workers, sigma_input=sigma_input,
                                   **settings, **common)
        if not len(val_idx):
            return data, None
        val_clean = as_float_images(clean[val_idx], name="x_clean")
        val_noisy, val_sigmas = corrupt(val_clean, seed=Seeds(seed).validation_corruption, **settings)
        if sigma_input:
            val_noisy = {"corrupted": val_noisy, "sigma": val_sigmas.astype(np.float32)[:, None]}
        return data, (val_noisy, val_clean)
    data = ImagePairs(noisy[train_idx], clean[train_idx], **common)
    return data, ((noisy[val_idx], clean[val_idx]) if len(val_idx) else None)


def _schedule_callbacks(length, schedule, learning_rate, doc, batches_per_epoch):
    """The learning-rate schedule and, for steps or a budget, the stop at the last step."""
    cosine_steps = schedule is None
    callbacks = [] if cosine_steps else [
        keras.callbacks.LearningRateScheduler(lambda e, lr: schedule(e, learning_rate))]
    if "epochs" not in length:
        callbacks.append(StepBudget(learning_rate, cosine=cosine_steps, doc=doc,
                                    start_step=_steps_done(doc, batches_per_epoch),
                                    used_seconds=doc.get("budget_used_seconds", 0.0),
                                    steps=length.get("steps"), hold_steps=length.get("hold_steps", 0),
                                    budget_seconds=length.get("budget_seconds")))
    return callbacks


def _fit(model, data, validation, *, callbacks, verbose):
    model.fit(
        data,
        epochs=data.epochs,
        initial_epoch=data.start_epoch,
        steps_per_epoch=data.batches_per_epoch,
        # The data sets shuffle themselves; Keras's own shuffle would permute batch
        # indices with Python's global `random` and mix epochs.
        shuffle=False,
        validation_data=validation,
        validation_batch_size=max(data.batch_size, 256),
        callbacks=callbacks,
        verbose=verbose,
    )


def _finalise(model, run_dir, doc, *, finished, steps):
    """Save ``model.keras`` once the run is complete; return what :func:`train` returns."""
    final = run_dir / FINAL_MODEL_FILE
    if finished and (not final.exists() or doc.get("final_step") != steps):
        _atomic_save_model(model, final)
        doc["final_step"] = steps
        atomic_write_json(run_dir / HISTORY_FILE, doc)
    return TrainedRun(model, _history_lists(doc), run_dir, steps=steps, length=dict(doc.get("length", {})),
                      finished=finished)


class StepBudget(keras.callbacks.Callback):
    """Stop at a step count, or after about ``budget_seconds``; optionally a cosine per step.

    The learning rate of step ``k`` (counted over the whole run) is the base
    rate for ``k < hold_steps``, then ``base * (1 + cos(pi * (k - hold) /
    (steps - hold))) / 2``. With a time budget the step count is unknown at
    the start: the run holds the base rate for the first tenth of the budget
    while it measures its speed (time inside training steps, the first
    steps' graph tracing included; validation and other callbacks are not
    counted), then fixes ``hold_steps`` (the steps done
    so far) and ``steps`` (what fits in the rest of the budget) and records
    both in the run's ``history.json`` (``length``). Training again with
    ``steps=`` and ``hold_steps=`` replays exactly that run on any machine.

    Parameters
    ----------
    base_lr : float
    cosine : bool
        Set the learning rate per step (else leave it to the epoch schedule).
    doc : dict
        The run's history document; ``length`` is written into it.
    start_step : int
        Steps done before this ``fit`` (a resumed run).
    used_seconds : float
        Budget spent before this ``fit`` (a resumed run).
    steps, hold_steps : int, optional
    budget_seconds : float, optional
    """

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
        # Recorded with the epoch (before the checkpoint callback writes history.json), so a run
        # resumed before its step count was fixed goes on with the budget it has left.
        self.doc["budget_used_seconds"] = round(self.train_seconds, 3)
        if logs is not None and self.cosine:
            logs["learning_rate"] = self.learning_rate(max(0, self.step - 1))


class _RunCheckpoint(keras.callbacks.Callback):
    """Saves model + optimizer, then the history that names it, every epoch.

    ``saved_model``: the model to save, when ``fit`` trains a wrapper of it
    (default: the model ``fit`` trains).
    """

    def __init__(self, run_dir, history_doc, *, start_step=0, saved_model=None):
        super().__init__()
        self.saved_model = saved_model
        self.run_dir = Path(run_dir)
        self.doc = history_doc
        self.step = int(start_step)
        self._t0 = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        record = {"epoch": epoch + 1, "step": self.step, "seconds": round(time.perf_counter() - self._t0, 3)}
        for key in ("loss", "val_loss", "learning_rate"):
            if key in logs:
                record[key] = float(logs[key])
        name = f"checkpoint-epoch{epoch + 1:03d}.keras"
        _atomic_save_model(self.saved_model or self.model, self.run_dir / name)
        previous = self.doc.get("checkpoint")
        self.doc["epochs"].append(record)
        self.doc["checkpoint"] = name
        atomic_write_json(self.run_dir / HISTORY_FILE, self.doc)
        # Only now that history.json points at the new checkpoint may the old go.
        if previous and previous != name:
            (self.run_dir / previous).unlink(missing_ok=True)


def _prepare_run_dir(run_dir, config, *, resume):
    """Create or validate the run folder; return the history document."""
    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(f"run_dir {run_dir} exists and is not a folder.")
    config_path = run_dir / CONFIG_FILE
    history_path = run_dir / HISTORY_FILE
    if config_path.exists():
        if not resume:
            raise FileExistsError(
                f"{run_dir} already holds a training run. Pass resume=True to continue it, "
                "or choose a new run_dir; nothing was overwritten."
            )
        saved = read_json(config_path)
        # Keys added after a run folder was written take their old meaning.
        defaults = {"corruption": "fixed", "flips": False, "global_clipnorm": None, "sigma_input": False,
                    "sigma_range": [1.0, 4.0], "noise_std": 0.02}
        diffs = {
            k: (saved.get(k, defaults.get(k)), v)
            for k, v in config.items()
            if saved.get(k, defaults.get(k)) != v
        }
        if diffs:
            lines = ", ".join(f"{k}: saved {a!r} vs now {b!r}" for k, (a, b) in diffs.items())
            raise RunMismatchError(
                f"{run_dir} holds a run with different settings or data ({lines}). "
                "Use a new run_dir, or the same settings and data to resume."
            )
        # A run killed while saving leaves a temporary file behind; it never
        # replaced anything (saves are atomic), so it is only clutter. This run
        # holds the folder's lock, so no live run is writing them.
        for pattern in (".*.tmp", ".*.tmp.keras", ".*.tmp.json"):
            for stale in run_dir.glob(pattern):
                stale.unlink(missing_ok=True)
        if history_path.exists():
            doc = read_json(history_path)
            if doc.get("epochs") and not _checkpoint_file(run_dir, doc, history_path).exists():
                raise RunMismatchError(
                    f"{history_path} names {doc['checkpoint']}, which is missing; "
                    "the run folder was altered. Use a new run_dir."
                )
            return doc
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(config_path, {**config, "keras_version": keras.__version__,
                                        "backend": keras.backend.backend()})
    return {"model": config["model"], "epochs": [], "checkpoint": None}


def load_history(run_dir):
    """Per-epoch history of a run folder.

    Parameters
    ----------
    run_dir : str or os.PathLike

    Returns
    -------
    dict of str -> list of float
        ``loss``, ``val_loss`` (if validated), ``learning_rate`` and
        ``seconds``, one value per finished epoch.
    """
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No {HISTORY_FILE} in {run_dir}: not a training run folder.")
    return _history_lists(read_json(path))


def load_run(run_dir):
    """Load the model and history of a run folder, without training.

    Uses the final ``model.keras`` if the run completed, else the latest
    checkpoint.

    Returns
    -------
    TrainedRun
    """
    run_dir = Path(run_dir)
    doc = read_json(run_dir / HISTORY_FILE) if (run_dir / HISTORY_FILE).is_file() else None
    final = run_dir / FINAL_MODEL_FILE
    if final.is_file():
        path = final
    elif doc and doc.get("checkpoint"):
        path = _checkpoint_file(run_dir, doc, run_dir / HISTORY_FILE)
    else:
        raise FileNotFoundError(f"{run_dir} holds no trained model (no {FINAL_MODEL_FILE} or checkpoint).")
    model = keras.models.load_model(path)
    if not doc:
        return TrainedRun(model, {}, run_dir)
    config = read_json(run_dir / CONFIG_FILE) if (run_dir / CONFIG_FILE).is_file() else {}
    batches_per_epoch = math.ceil(config.get("n_train", 0) / config.get("batch_size", 1))
    return TrainedRun(model, _history_lists(doc), run_dir, steps=_steps_done(doc, batches_per_epoch),
                      length=dict(doc.get("length", {})), finished=path == final)


def _history_lists(doc):
    keys = ("loss", "val_loss", "learning_rate", "seconds")
    epochs = doc["epochs"]
    return {k: [e[k] for e in epochs] for k in keys if epochs and k in epochs[0]}


def _resolve_schedule(lr_schedule, length):
    """``(name, f(epoch, base_lr))``; a cosine over steps gives ``f = None`` (:class:`StepBudget` sets it)."""
    if lr_schedule is None:
        lr_schedule = "constant"
    if lr_schedule == "cosine":
        if "epochs" not in length:
            return "cosine-steps", None
        epochs = length["epochs"]
        return f"cosine{epochs}", lambda epoch, base_lr: cosine_lr_schedule(epoch, base_lr, epochs=epochs)
    if isinstance(lr_schedule, str):
        try:
            return lr_schedule, LR_SCHEDULES[lr_schedule]
        except KeyError:
            raise ValueError(
                f"Unknown lr_schedule {lr_schedule!r}; choose one of {sorted(LR_SCHEDULES)} "
                "or pass a callable f(epoch, base_lr)."
            ) from None
    if callable(lr_schedule):
        return getattr(lr_schedule, "__name__", "custom"), lr_schedule
    raise TypeError(f"lr_schedule must be a name or a callable; got {type(lr_schedule).__name__}.")


def _fingerprint(*arrays):
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(str(a.shape).encode())
        digest.update(np.ascontiguousarray(a).data)
    return digest.hexdigest()


def _atomic_save_model(model, path):
    # The temporary name keeps the .keras suffix that Keras insists on.
    atomic_save(path, model.save, suffixes={".keras"}, example="model.keras")


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
