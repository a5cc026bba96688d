"""Training with the study's settings, run folders, checkpoints and resume.

A *run folder* holds everything one training run produces::

    run_dir/
        config.json                 settings and data fingerprint of the run
        history.json                per-epoch loss, val_loss, learning rate, seconds
        checkpoint-epoch003.keras   model + optimizer state after the last finished epoch
        model.keras                 the final model, once all epochs are done

Every file is written atomically (a temporary file in the same folder, then
``os.replace``), and ``history.json`` is written last and names the checkpoint
that matches it, so a run killed at any moment leaves a consistent folder:
calling :func:`train` again with the same ``run_dir`` resumes after the last
finished epoch and the history continues where it stopped.

Shuffling is a pure function of ``(seed, epoch)`` (see :class:`ImagePairs`),
so a resumed run sees the same batches an uninterrupted run would.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from ._io import atomic_write_json, read_json
from ._validation import as_float_images, check_images, check_same_shape
from .corruption import corrupt
from .pipeline import FreshCorruption, epoch_order

__all__ = [
    "train",
    "TrainedRun",
    "ImagePairs",
    "split_train_val",
    "win5rb_lr_schedule",
    "constant_lr_schedule",
    "cosine_lr_schedule",
    "LR_SCHEDULES",
    "load_run",
    "load_history",
    "RunMismatchError",
]

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
FINAL_MODEL_FILE = "model.keras"


class RunMismatchError(ValueError):
    """The run folder holds a run with different settings or data."""


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
    """

    model: keras.Model
    history: dict
    run_dir: Path


class ImagePairs(keras.utils.PyDataset):
    """Batches of (corrupted, clean) pairs, reshuffled every epoch.

    The order of epoch ``e`` is ``default_rng([seed, e]).permutation(n)``:
    it depends only on the seed and the epoch, never on global random state
    or on how many epochs ran before, so an interrupted and resumed run sees
    exactly the batches an uninterrupted one would. The data set covers
    epochs ``start_epoch .. epochs - 1`` back to back; train with
    ``steps_per_epoch=ImagePairs.batches_per_epoch`` and ``shuffle=False``.

    Parameters
    ----------
    inputs, targets : ndarray, shape (N, H, W, C), float32
        Network inputs and targets, aligned.
    batch_size : int
        Images per batch; the last batch of an epoch may be smaller.
    seed : int
        Shuffling seed.
    epochs : int
        Index one past the last epoch to serve.
    start_epoch : int, default 0
        First epoch to serve (the resume point).
    shuffle : bool, default True
        Reshuffle every epoch; False serves the data in order.
    """

    def __init__(self, inputs, targets, *, batch_size, seed, epochs, start_epoch=0, shuffle=True):
        super().__init__()
        if len(inputs) != len(targets):
            raise ValueError("inputs and targets must have the same length.")
        self.inputs = inputs
        self.targets = targets
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.start_epoch = int(start_epoch)
        self.epochs = int(epochs)
        self.shuffle = shuffle
        self.batches_per_epoch = math.ceil(len(inputs) / self.batch_size)
        self._order_epoch = None
        self._order = None

    def __len__(self):
        return max(0, self.epochs - self.start_epoch) * self.batches_per_epoch

    def _epoch_order(self, epoch):
        if self._order_epoch != epoch:
            self._order = epoch_order(len(self.inputs), seed=self.seed, epoch=epoch, shuffle=self.shuffle)
            self._order_epoch = epoch
        return self._order

    def __getitem__(self, index):
        epoch = self.start_epoch + index // self.batches_per_epoch
        step = index % self.batches_per_epoch
        order = self._epoch_order(epoch)
        # Sorted indices read memory in order; the batch's content is the same set.
        idx = np.sort(order[step * self.batch_size : (step + 1) * self.batch_size])
        return self.inputs[idx], self.targets[idx]


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
    epochs=20,
    batch_size=32,
    learning_rate=1e-3,
    lr_schedule="constant",
    loss="mse",
    validation_split=0.1,
    seed=0,
    corruption="fixed",
    flips=False,
    workers=1,
    resume=True,
    verbose="auto",
    callbacks=(),
):
    """Train a restoration model with the study's settings, in a run folder.

    Defaults are the study's protocol: MSE loss, Adam with learning rate
    1e-3, batch 32, 20 epochs, 10 % of the images held out for validation.
    Shows Keras's progress bar, checkpoints after every epoch and resumes an
    interrupted run (same ``run_dir``) after its last finished epoch.

    Parameters
    ----------
    model : keras.Model
        A freshly built model (see :mod:`deblur.models`). It is compiled here
        with Adam and ``loss``. Ignored when resuming: the model and its
        optimizer state come from the run folder's checkpoint.
    x_clean : ndarray, shape (N, H, W, C)
        Clean images, uint8 or float in [0, 1]: the targets.
    x_corrupted : ndarray, shape (N, H, W, C), optional
        Corrupted inputs aligned with ``x_clean`` (float, any finite range).
        Default: ``corrupt(x_clean, seed=seed)``, the study's corruption.
    run_dir : str or os.PathLike
        Run folder; created if missing.
    epochs : int, default 20
        Total number of epochs (a resumed or extended run counts the epochs
        already done).
    batch_size : int, default 32
    learning_rate : float, default 1e-3
        Adam's base learning rate.
    lr_schedule : str or callable, default "constant"
        A name from :data:`LR_SCHEDULES` (``"win5rb"`` is the study's Win5-RB
        schedule, ``"cosine"`` decays over this run's ``epochs``) or
        ``f(epoch, base_lr) -> lr``.
    loss : str, default "mse"
        Any Keras loss name.
    validation_split : float, default 0.1
        Random fraction of the images held out for validation (0 disables).
    seed : int, default 0
        Seed for the corruption (when generated here), the split and the
        shuffling.
    corruption : {"fixed", "fresh"}, default "fixed"
        ``"fixed"`` is the study's way: every training image is corrupted
        once (``x_corrupted``, or ``corrupt(x_clean, seed=seed)``) and the
        network sees that same corrupted image every epoch. ``"fresh"``
        corrupts each batch as it is drawn, with new sigma and noise every
        epoch (:class:`deblur.pipeline.FreshCorruption`); ``x_clean`` is kept
        as it is (uint8 stays uint8) and only the validation images are
        corrupted once, with the fixed seed ``[seed, 1]``.
    flips : bool, default False
        Random horizontal and vertical flips (``corruption="fresh"`` only).
    workers : int, default 1
        Threads preparing batches ahead of the model (``"fresh"`` only).
    resume : bool, default True
        Continue the run found in ``run_dir``. With False, a run folder that
        already holds a run is an error, so nothing saved is overwritten.
    verbose : "auto", 0, 1 or 2, default "auto"
        Keras's ``fit`` verbosity (1: progress bar).
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks for ``fit``.

    Returns
    -------
    TrainedRun
        The trained model, its full history and the run folder.

    Raises
    ------
    ValueError
        Bad images, shapes or settings.
    RunMismatchError
        ``run_dir`` holds a run with different settings or data.
    FileExistsError
        ``resume=False`` and ``run_dir`` already holds a run.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; got {type(model).__name__}.")
    _check_positive_int(epochs, "epochs")
    _check_positive_int(batch_size, "batch_size")
    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be > 0; got {learning_rate}.")
    schedule_name, schedule = _resolve_schedule(lr_schedule, epochs)

    if corruption not in ("fixed", "fresh"):
        raise ValueError(f"corruption must be 'fixed' or 'fresh'; got {corruption!r}.")
    if corruption == "fresh":
        if x_corrupted is not None:
            raise ValueError(
                "x_corrupted is for corruption='fixed'; with corruption='fresh' every batch is "
                "corrupted as it is drawn. Pass only x_clean."
            )
        clean = check_images(x_clean, name="x_clean")  # uint8 stays uint8: no float copy
        noisy = None
    else:
        if flips:
            raise ValueError("flips=True needs corruption='fresh' (fixed pairs are not flipped).")
        clean = as_float_images(x_clean, name="x_clean")
        if x_corrupted is None:
            noisy, _ = corrupt(clean, seed=seed)
        else:
            noisy = as_float_images(x_corrupted, name="x_corrupted", check_range=False)
            check_same_shape(noisy, clean, ("x_corrupted", "x_clean"))
    _check_positive_int(workers, "workers")
    train_idx, val_idx = split_train_val(len(clean), val_fraction=validation_split, seed=seed)

    run_dir = Path(run_dir)
    config = {
        "model": model.name,
        "batch_size": int(batch_size),
        "learning_rate": float(learning_rate),
        "lr_schedule": schedule_name,
        "loss": loss,
        "validation_split": float(validation_split),
        "seed": int(seed),
        "corruption": corruption,
        "flips": bool(flips),
        "n_train": int(len(train_idx)),
        "n_val": int(len(val_idx)),
        "image_shape": list(clean.shape[1:]),
        "data_sha256": _fingerprint(clean) if noisy is None else _fingerprint(clean, noisy),
    }
    history_doc = _prepare_run_dir(run_dir, config, resume=resume)
    done = len(history_doc["epochs"])
    if done:
        model = keras.models.load_model(run_dir / history_doc["checkpoint"])
    else:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)

    if done < epochs:
        if noisy is None:
            data = FreshCorruption(
                clean[train_idx], batch_size=batch_size, seed=seed, epochs=epochs,
                start_epoch=done, flips=flips, workers=workers,
            )
            validation = None
            if len(val_idx):
                val_clean = as_float_images(clean[val_idx], name="x_clean")
                validation = (corrupt(val_clean, seed=[seed, 1])[0], val_clean)
        else:
            data = ImagePairs(
                noisy[train_idx],
                clean[train_idx],
                batch_size=batch_size,
                seed=seed,
                epochs=epochs,
                start_epoch=done,
            )
            validation = (noisy[val_idx], clean[val_idx]) if len(val_idx) else None
        fit_callbacks = [
            keras.callbacks.LearningRateScheduler(lambda e, lr: schedule(e, learning_rate)),
            _RunCheckpoint(run_dir, history_doc),
            *callbacks,
        ]
        model.fit(
            data,
            epochs=epochs,
            initial_epoch=done,
            steps_per_epoch=data.batches_per_epoch,
            # The data sets shuffle themselves; Keras's own shuffle would permute batch
            # indices with Python's global `random` and mix epochs.
            shuffle=False,
            validation_data=validation,
            validation_batch_size=max(batch_size, 256),
            callbacks=fit_callbacks,
            verbose=verbose,
        )
        if len(history_doc["epochs"]) < epochs:
            # fit returned early (e.g. EarlyStopping or stop_training): keep the
            # checkpoint, do not mark the run complete.
            return TrainedRun(model, _history_lists(history_doc), run_dir)
    final = run_dir / FINAL_MODEL_FILE
    if not final.exists() or done < epochs:
        _atomic_save_model(model, final)
    return TrainedRun(model, _history_lists(history_doc), run_dir)


class _RunCheckpoint(keras.callbacks.Callback):
    """Saves model + optimizer, then the history that names it, every epoch."""

    def __init__(self, run_dir, history_doc):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.doc = history_doc
        self._t0 = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        record = {"epoch": epoch + 1, "seconds": round(time.perf_counter() - self._t0, 3)}
        for key in ("loss", "val_loss", "learning_rate"):
            if key in logs:
                record[key] = float(logs[key])
        name = f"checkpoint-epoch{epoch + 1:03d}.keras"
        _atomic_save_model(self.model, self.run_dir / name)
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
        defaults = {"corruption": "fixed", "flips": False}
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
        # replaced anything (saves are atomic), so it is only clutter.
        for pattern in (".*.tmp", ".*.tmp.keras"):
            for stale in run_dir.glob(pattern):
                stale.unlink(missing_ok=True)
        if history_path.exists():
            doc = read_json(history_path)
            if doc.get("checkpoint") and not (run_dir / doc["checkpoint"]).exists():
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
        path = run_dir / doc["checkpoint"]
    else:
        raise FileNotFoundError(f"{run_dir} holds no trained model (no {FINAL_MODEL_FILE} or checkpoint).")
    model = keras.models.load_model(path)
    return TrainedRun(model, _history_lists(doc) if doc else {}, run_dir)


def _history_lists(doc):
    keys = ("loss", "val_loss", "learning_rate", "seconds")
    epochs = doc["epochs"]
    return {k: [e[k] for e in epochs] for k in keys if epochs and k in epochs[0]}


def _resolve_schedule(lr_schedule, epochs):
    if lr_schedule is None:
        lr_schedule = "constant"
    if lr_schedule == "cosine":
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
    path = Path(path)
    # Keras insists on the .keras suffix, so the temporary name keeps it.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
