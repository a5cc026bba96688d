"""The run folder: everything one training run writes (``config.json``: the Recipe; ``history.json``: data fingerprint,
backend, per-epoch records, a budget's fixed length; ``checkpoint-epochNNN.keras``; ``model.keras`` once complete).

Every file is written atomically and ``history.json`` last, naming its checkpoint, so a run killed at any moment
leaves a consistent folder; one live run holds a folder at a time (:func:`run_lock`)."""

from __future__ import annotations

import contextlib
import os
import platform
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import filelock
import keras

from ..files import atomic_save, atomic_write_json, atomic_write_text, read_json
from ..models import computing_in, load_model_file
from ..recipe import Recipe
from .distributed import saving_alone

__all__ = ["TrainedRun", "RunMismatchError", "RunLockedError", "run_lock", "open_run", "load_run", "load_history",
           "check_resumable", "RunCheckpoint", "save_final", "steps_done", "CONFIG_FILE", "HISTORY_FILE",
           "FINAL_MODEL_FILE", "LOCK_FILE"]

CONFIG_FILE = "config.json"
HISTORY_FILE = "history.json"
FINAL_MODEL_FILE = "model.keras"
#: The lock file of a live run; a killed run's stays behind and blocks nobody (the kernel drops the lock).
LOCK_FILE = ".lock"
#: Who holds the lock: beside it, because a process that tries the lock truncates the lock file itself.
HOLDER_FILE = ".lock.holder"


class RunMismatchError(ValueError):
    """The run folder holds a run with a different recipe or data, or was altered."""


class RunLockedError(OSError):
    """Another live training run holds the run folder."""


@dataclass
class TrainedRun:
    """What :func:`deblur.training.train` returns.

    ``model``: the trained model (loaded on resume); ``history``: per-epoch lists, as :func:`load_history`; ``steps``:
    training steps done; ``length``: for a step count or time budget, ``steps``, ``hold_steps``, ``budget_seconds`` (to
    replay); ``finished``: False when a callback stopped training before its length (resume from its checkpoint)."""

    model: keras.Model
    history: dict
    run_dir: Path
    steps: int = 0
    length: dict = field(default_factory=dict)
    finished: bool = True


@contextlib.contextmanager
def run_lock(run_dir):
    """Hold ``run_dir`` for this process while it trains (a killed run's lock is dropped by the kernel: ``filelock``).

    Raises :class:`RunLockedError` if another live run holds it, ``NotADirectoryError`` if ``run_dir`` is no folder."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise NotADirectoryError(f"run_dir {run_dir} exists and is not a folder.")
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(run_dir / LOCK_FILE, timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        try:
            holder = (run_dir / HOLDER_FILE).read_text(errors="replace").strip()
        except OSError:
            holder = ""
        raise RunLockedError(f"{run_dir} is in use by another training run ({holder or 'holder unknown'}); wait "
                             "for it to end, or choose another run_dir.") from None
    try:
        atomic_write_text(run_dir / HOLDER_FILE, f"pid {os.getpid()} on {platform.node()}, "
                                                 f"since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        yield
    finally:
        (run_dir / HOLDER_FILE).unlink(missing_ok=True)
        lock.release()


def open_run(run_dir, recipe, data, model_name, *, processes=1, write=True):
    """Start the run folder, or check that it holds this very run (:func:`check_resumable`); return its history.

    ``data``: the training data's fingerprint (``n_train``, ``n_val``, ``image_shape``, ``sha256``); ``processes``
    train the run together (a resume needs as many); ``write=False`` (processes other than 0) writes nothing."""
    doc = check_resumable(run_dir, recipe, data, processes=processes)
    if doc is None:
        # History first: a folder with a config.json always has its history.json.
        doc = {"model": model_name, "data": data, "backend": keras.backend.backend(),
               "keras_version": keras.__version__, "epochs": [], "checkpoint": None}
        if processes > 1:
            doc["processes"] = processes
        if write:
            atomic_write_json(run_dir / HISTORY_FILE, doc)
            atomic_write_json(run_dir / CONFIG_FILE, recipe.as_dict())
    elif write:
        # Temporary files of a run killed while saving: only clutter, and this run holds the folder's lock.
        for stale in (p for pattern in (".*.tmp", ".*.tmp.keras", ".*.tmp.json") for p in run_dir.glob(pattern)):
            stale.unlink(missing_ok=True)
    return doc


def check_resumable(run_dir, recipe, data, *, processes=1):
    """The history of the run ``run_dir`` holds, or None; reads only (a refused run writes nothing).

    ``RunMismatchError`` if the folder holds a run of another recipe or other data, or was altered."""
    config_path, history_path = Path(run_dir) / CONFIG_FILE, Path(run_dir) / HISTORY_FILE
    if not config_path.exists():
        return None
    if not history_path.exists():
        raise RunMismatchError(f"{run_dir} holds a {CONFIG_FILE} but no {HISTORY_FILE}; the run folder was altered. "
                               "Use a new run_dir.")
    saved = read_json(config_path)
    try:
        saved_recipe = Recipe.from_dict(saved)
    except (TypeError, ValueError) as exc:
        raise RunMismatchError(f"{config_path} is not a recipe this version writes ({exc}); use a new run_dir.") \
            from None
    doc = read_json(history_path)
    diffs = [f"{k}: saved {a!r} vs now {b!r}" for k, (a, b) in _differences(saved_recipe.as_dict(), recipe.as_dict())]
    diffs += [f"data {k}: saved {a!r} vs now {b!r}" for k, (a, b) in _differences(doc.get("data", {}), data)]
    if diffs:
        raise RunMismatchError(f"{run_dir} holds a run with a different recipe or data ({', '.join(diffs)}). "
                               "Use a new run_dir, or the same recipe and data to resume.")
    if doc.get("backend", keras.backend.backend()) != keras.backend.backend():
        how = (f"resume it with {doc.get('processes', 1)} process(es) as it started (--processes trains on JAX)"
               if processes > 1 else f"set KERAS_BACKEND={doc['backend']} to resume")
        raise RunMismatchError(f"{run_dir} was started on {doc['backend']} and this process runs "
                               f"{keras.backend.backend()}, which would not continue the same run; {how}, or use a "
                               "new run_dir.")
    if doc.get("processes", 1) != processes:
        raise RunMismatchError(f"{run_dir} was trained by {doc.get('processes', 1)} process(es) and this run has "
                               f"{processes}, which would not continue the same run; resume with "
                               f"{doc.get('processes', 1)}, or use a new run_dir.")
    if doc.get("epochs") and not checkpoint_path(run_dir, doc).exists():
        raise RunMismatchError(f"{history_path} names {doc['checkpoint']}, which is missing; "
                               "the run folder was altered. Use a new run_dir.")
    return doc


def _differences(saved, now):
    """``[(key, (saved, now))]`` where two dicts differ; nested dicts (length, degradation) key by ``outer.inner``."""
    out = []
    for k in sorted(set(saved) | set(now)):
        a, b = saved.get(k), now.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += [(f"{k}.{inner}", pair) for inner, pair in _differences(a, b)]
        elif a != b:
            out.append((k, (a, b)))
    return out


def checkpoint_path(run_dir, doc):
    """The checkpoint ``history.json`` names: a checkpoint file of this folder, else an error."""
    name = doc.get("checkpoint")
    if not isinstance(name, str) or not re.fullmatch(r"checkpoint-epoch\d{3,}\.keras", name):
        raise RunMismatchError(f"{Path(run_dir) / HISTORY_FILE} names {name!r} as its checkpoint, which is not a "
                               "checkpoint file of this run folder (checkpoint-epochNNN.keras); the folder was "
                               "altered. Use a new run_dir.")
    return Path(run_dir) / name


def steps_done(doc):
    """Training steps the run folder's history records."""
    return int(doc["epochs"][-1]["step"]) if doc.get("epochs") else 0


def history_lists(doc):
    keys = ("loss", "val_loss", "learning_rate", "seconds")
    epochs = doc.get("epochs", [])
    return {k: [e[k] for e in epochs] for k in keys if epochs and k in epochs[0]}


def save_model(model, path):
    # Saved as float32, whatever the training arithmetic: the file computes alike on every CPU.
    with saving_alone(), computing_in(model, "float32"):  # process 0 of a group saves alone
        atomic_save(path, model.save, suffixes={".keras"}, example="model.keras")


def save_final(model, run_dir, doc, *, finished, write=True):
    """Save ``model.keras`` once the run is complete (``write``: process 0); return the :class:`TrainedRun`."""
    steps = steps_done(doc)
    final = run_dir / FINAL_MODEL_FILE
    if finished and write and (not final.exists() or doc.get("final_step") != steps):
        save_model(model, final)
        doc["final_step"] = steps
        atomic_write_json(run_dir / HISTORY_FILE, doc)
    return _trained_run(model, run_dir, doc, finished=finished)


def _trained_run(model, run_dir, doc, *, finished):
    return TrainedRun(model, history_lists(doc), run_dir, steps=steps_done(doc), length=dict(doc.get("length", {})),
                      finished=finished)


class RunCheckpoint(keras.callbacks.Callback):
    """Saves model + optimizer, then the history that names it, every epoch.

    ``saved_model``: what to save when ``fit`` trains a wrapper of it; ``write=False`` (not process 0): no files."""

    def __init__(self, run_dir, history_doc, *, saved_model=None, write=True):
        super().__init__()
        self.write = write
        self.saved_model = saved_model
        self.run_dir = Path(run_dir)
        self.doc = history_doc
        self.step = steps_done(history_doc)
        self._t0 = None

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        record = {"epoch": epoch + 1, "step": self.step, "seconds": round(time.perf_counter() - self._t0, 3),
                  "precision": self.doc.get("precision", "float32"),
                  **{key: float(logs[key]) for key in ("loss", "val_loss", "learning_rate") if key in logs}}
        name = f"checkpoint-epoch{epoch + 1:03d}.keras"
        previous = self.doc.get("checkpoint")
        if self.write:
            save_model(self.saved_model or self.model, self.run_dir / name)
        self.doc["epochs"].append(record)
        self.doc["checkpoint"] = name
        if not self.write:
            return
        atomic_write_json(self.run_dir / HISTORY_FILE, self.doc)
        # Only now that history.json points at the new checkpoint may the old go.
        if previous and previous != name:
            (self.run_dir / previous).unlink(missing_ok=True)


def load_history(run_dir):
    """A run folder's per-epoch ``loss``, ``val_loss`` (if validated), ``learning_rate`` and ``seconds`` lists."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"No {HISTORY_FILE} in {run_dir}: not a training run folder.")
    return history_lists(read_json(path))


def load_run(run_dir):
    """The :class:`TrainedRun` of a run folder, without training: ``model.keras`` if complete, else the checkpoint."""
    run_dir = Path(run_dir)
    doc = read_json(run_dir / HISTORY_FILE) if (run_dir / HISTORY_FILE).is_file() else {}
    final = run_dir / FINAL_MODEL_FILE
    path = final if final.is_file() else checkpoint_path(run_dir, doc) if doc.get("checkpoint") else None
    if path is None:
        raise FileNotFoundError(f"{run_dir} holds no trained model (no {FINAL_MODEL_FILE} or checkpoint).")
    return _trained_run(load_model_file(path), run_dir, doc, finished=path == final)
