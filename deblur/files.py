"""Files the package writes, written one way: whole or not at all, never over an input.

Atomic writes (``atomic_*``): a temporary file in the same folder, then ``os.replace``, or with ``exclusive=True``
(every result a command publishes) ``os.link``: of two writers of one result, the later gets ``FileExistsError``.
The output rule: :func:`check_outputs` and :func:`check_file_target`, before anything is written."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import filelock
import numpy as np

__all__ = ["to_jsonable", "check_file_target", "OutputConflictError", "check_outputs", "is_within",
           "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_save", "atomic_save_folder",
           "publish_new", "publish_all", "staging_folder", "read_json"]


def to_jsonable(value):
    """``value`` with numpy scalars/arrays, tuples and paths made JSON-ready."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()  # a numpy scalar's is a Python scalar
    if isinstance(value, Path):
        return str(value)
    return value


def check_file_target(path, *, suffixes=None, example="results.json"):
    """Refuse a destination that is a folder or has the wrong suffix, before writing; returns the ``pathlib.Path``.

    ``suffixes``: the allowed ones, lower case with the dot (``{".json"}``); ``example``: a file name for messages."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; pass a file path inside it (e.g. {path / example}). Nothing "
                                "was written.")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{path} has suffix {path.suffix!r}; use one of {sorted(suffixes)}. Nothing was written.")
    return path


class OutputConflictError(ValueError):
    """An output path that is, is inside, or links to an input, or collides with another output."""


def _real(path):
    """``path`` with every symlink followed, also for a path that does not exist yet."""
    return Path(os.path.realpath(os.path.abspath(path)))


def is_within(path, folder):
    """True if ``path`` is ``folder`` or lies inside it, symlinks followed (``path`` need not exist yet)."""
    path, folder = _real(path), _real(folder)
    return path == folder or folder in path.parents


def check_outputs(outputs, inputs=(), *, allow=()):
    """Refuse outputs that would overwrite an input of the same call, or each other; return them as Paths.

    With symlinks followed, an output may not *be* an input (or a hard link to one), lie *inside* one (a data or run
    folder, an archive) or repeat another output. ``inputs``: everything the call reads (``None`` skipped); ``allow``:
    outputs updated by design (e.g. a report), exempt from the input checks. Raises :class:`OutputConflictError`."""
    outputs = [Path(o) for o in outputs]
    allowed = {_real(a) for a in allow}
    real_inputs = [(Path(i), _real(i)) for i in inputs if i is not None]
    seen = {}
    for out in outputs:
        real = _real(out)
        if real in seen:
            raise OutputConflictError(f"{out}: two outputs of this call would be the same file ({seen[real]} and "
                                      f"{out}); give them distinct names. Nothing was written.")
        seen[real] = out
        if real in allowed:
            continue
        for given, real_in in real_inputs:
            if real == real_in or (out.exists() and given.exists() and os.path.samefile(out, given)):
                how = "is" if os.path.abspath(out) == os.path.abspath(given) else "is the same file as"
                raise OutputConflictError(f"{out} {how} the input {given}; choose another output path. Nothing "
                                          "was written.")
            if real_in in real.parents:
                raise OutputConflictError(f"{out} is inside the input {given}; choose an output outside it. Nothing "
                                          "was written.")
    return outputs


def atomic_save(path, save, *, suffixes=None, example="file", exclusive=False):
    """Let ``save(tmp_path)`` write a temporary file, then move it onto ``path``; returns the ``pathlib.Path``.

    For writers that insist on a path (``Figure.savefig``, ``Model.save``, ``numpy.savez``). The temporary file keeps
    ``path``'s suffix (some writers pick the format from it) and is removed if ``save`` fails. ``suffixes``,
    ``example``: see :func:`check_file_target`; ``exclusive``: publish only to a free name (:func:`publish_new`)."""
    path = check_file_target(path, suffixes=suffixes, example=example)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Every suffix is kept (".weights.h5": Keras checks the whole ending).
    ending = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(ending)] if ending else path.name
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{stem}.", suffix=f".tmp{ending}")
    os.close(fd)
    tmp = Path(tmp)
    try:
        save(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; give it the usual permissions
        publish_new(tmp, path) if exclusive else os.replace(tmp, path)
    except OSError as exc:
        if exc.errno is None or isinstance(exc, FileExistsError):
            raise
        # Name the file the caller asked for, not our temporary one (a full disk, ...).
        raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def publish_new(tmp, path):
    """Name finished ``tmp`` ``path`` unless taken (``FileExistsError``): ``os.link`` lets one racing writer win."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "was written by another command meanwhile (results are never "
                              "overwritten); rerun with another output path", str(path)) from None


def publish_all(pairs):
    """Publish finished ``(tmp, target)`` pairs with :func:`publish_new`, all or none; returns the targets."""
    pairs = [(tmp, Path(target)) for tmp, target in pairs]
    done = []
    try:
        # In one order for every call (the names sorted): of two calls racing for the same names, the first to take
        # the first shared name takes them all, so one keeps its results (crossed orders lost both).
        for tmp, target in sorted(pairs, key=lambda pair: os.fspath(pair[1])):
            publish_new(tmp, target)
            done.append(target)
    except BaseException:
        for target in done:
            target.unlink(missing_ok=True)
        raise
    return [target for _, target in pairs]


#: Inside each staging folder: the lock its writer holds while it lives (the kernel drops it when the writer dies).
STAGING_LOCK = ".writer.lock"


def _remove_if_abandoned(folder):
    """Remove a staging folder whose writer is gone: its lock can be taken (a pid fails across PID namespaces)."""
    try:
        if time.time() - folder.stat().st_mtime < 10:  # a writer between making its folder and taking its lock
            return
        lock = filelock.FileLock(folder / STAGING_LOCK, timeout=0)
        with lock:
            shutil.rmtree(folder, ignore_errors=True)
    except (filelock.Timeout, OSError):  # held: a live writer; unreadable: not ours to judge
        return


@contextlib.contextmanager
def staging_folder(out_dir):
    """A hidden folder inside ``out_dir`` for a call's results until :func:`publish_all` names them.

    Removed at the end, with ``out_dir`` if this call made it and leaves it empty. Its writer holds a lock in it
    meanwhile, so a later call removes only the folders of calls that died."""
    out_dir = Path(out_dir)
    made = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(".deblur-*-*.tmp"):  # left by a killed call
        if stale.is_dir() and not stale.is_symlink():
            _remove_if_abandoned(stale)
    try:
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=f".deblur-{os.getpid()}-", suffix=".tmp") as folder:
            with filelock.FileLock(Path(folder) / STAGING_LOCK, timeout=0):
                yield Path(folder)
    finally:
        if made and not any(out_dir.iterdir()):
            out_dir.rmdir()


def atomic_save_folder(path, save):
    """Let ``save(tmp_path)`` write a folder (a SavedModel), then rename it to ``path``, which must not exist.

    ``tmp_path`` does not exist yet when ``save`` is called; its folder, beside ``path``, goes if ``save`` fails."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists; choose a new folder. Nothing was written.")
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        save(holder / path.name)
        os.mkdir(path)  # claims the name (FileExistsError if another writer has it); the rename replaces it
        try:
            os.rename(holder / path.name, path)
        except OSError:
            os.rmdir(path)
            raise
    finally:
        shutil.rmtree(holder, ignore_errors=True)
    return path


def atomic_write_bytes(path, data, *, exclusive=False):
    """Write ``data`` (bytes) to ``path`` atomically; parent folders are created; ``exclusive``: see atomic_save."""

    def save(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    return atomic_save(path, save, exclusive=exclusive)


def atomic_write_text(path, text, *, exclusive=False):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"), exclusive=exclusive)


def atomic_write_json(path, obj, *, exclusive=False):
    """Write ``obj`` as indented JSON (numpy values converted) atomically."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=True) + "\n", exclusive=exclusive)


def read_json(path):
    """Read a JSON file, with an error that names the file if it is corrupt."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); it is corrupt or truncated.") from None
