"""Records: every file the project writes, written one way.

Three jobs, one home:

- **Atomic writes.** A file is either its old or its new content, never half:
  the data go to a temporary file in the same folder, then ``os.replace``.
  :func:`atomic_write_bytes`, :func:`atomic_write_text`,
  :func:`atomic_write_json`, and :func:`atomic_save` for writers that need a
  path of their own (matplotlib, ``keras.Model.save``, ``numpy.savez``).
- **Provenance.** :func:`provenance` says who wrote a record: the command as
  typed, the machine (:func:`machine_info`, including whether the CPU has
  AVX-512, which triples some timings here) and the date.
- **Reports.** Every committed result lives in ``reports/<name>.json`` in one
  shape (:func:`write_report`)::

      {"about": "what these records are and how to regenerate them",
       "command": ..., "machine": {...}, "date": ...,   # the file's last writer
       "records": {"<key>": {"command": ..., "machine": {...}, "date": ..., ...}}}

  :func:`update_report` replaces one record and keeps the others, and
  :func:`replace_between_markers` regenerates a table inside a Markdown file.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

__all__ = [
    "to_jsonable",
    "check_file_target",
    "OutputConflictError",
    "check_outputs",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_save",
    "read_json",
    "machine_info",
    "command_line",
    "today",
    "provenance",
    "write_report",
    "update_report",
    "read_report",
    "markers",
    "replace_block",
    "replace_between_markers",
    "REPORT_KEYS",
]

#: The top-level keys of every report file, in order.
REPORT_KEYS = ("about", "command", "machine", "date", "records")


# ------------------------------------------------------------------ writes


def to_jsonable(value):
    """``value`` with numpy scalars/arrays, tuples and paths made JSON-ready."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def check_file_target(path, *, suffixes=None, example="results.json"):
    """Refuse a destination that is a folder or has the wrong suffix, before writing.

    Parameters
    ----------
    path : str or os.PathLike
    suffixes : collection of str, optional
        Allowed suffixes, lower case with the dot (``{".json"}``).
    example : str
        A file name for the error message.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a folder; pass a file path inside it (e.g. {path / example}). Nothing was written."
        )
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{path} has suffix {path.suffix!r}; use one of {sorted(suffixes)}. Nothing was written.")
    return path


class OutputConflictError(ValueError):
    """An output path that is, is inside, or links to an input, or collides with another output."""


def _real(path):
    """``path`` with every symlink followed, also for a path that does not exist yet."""
    return Path(os.path.realpath(os.path.abspath(path)))


def check_outputs(outputs, inputs=(), *, allow=()):
    """Refuse outputs that would overwrite an input of the same call, or each other.

    The one rule for every path the package or the command line writes: an
    output is refused when, with symlinks followed, it *is* an input, is the
    same file under another name (a hard link), or lies *inside* an input
    (a data folder, a run folder, an archive); and two outputs may not be
    the same path. Call it
    before anything is written: nothing is written when it raises.

    Parameters
    ----------
    outputs : iterable of str or os.PathLike
        Files or folders this call will write.
    inputs : iterable of str, os.PathLike or None
        Everything this call reads (``None`` entries are skipped).
    allow : iterable of str or os.PathLike, optional
        Outputs updated by design through this module (a run folder's
        ``history.json``, a report): exempt from the input checks.

    Returns
    -------
    list of pathlib.Path
        The outputs, as given.

    Raises
    ------
    OutputConflictError
        Naming the output, the input it clashes with, and the fix.
    """
    outputs = [Path(o) for o in outputs]
    inputs = [Path(i) for i in inputs if i is not None]
    allowed = {_real(a) for a in allow}
    real_inputs = [(i, _real(i)) for i in inputs]
    seen = {}
    for out in outputs:
        real = _real(out)
        if real in seen:
            raise OutputConflictError(
                f"{out}: two outputs of this call would be the same file ({seen[real]} and {out}); "
                "give them distinct names. Nothing was written."
            )
        seen[real] = out
        if real in allowed:
            continue
        for given, real_in in real_inputs:
            if real == real_in or (out.exists() and given.exists() and os.path.samefile(out, given)):
                how = "is" if os.path.abspath(out) == os.path.abspath(given) else "is the same file as"
                raise OutputConflictError(
                    f"{out} {how} the input {given}; choose another output path. Nothing was written."
                )
            if real_in in real.parents:
                raise OutputConflictError(
                    f"{out} is inside the input {given}; choose an output outside it. Nothing was written."
                )
    return outputs


def atomic_save(path, save, *, suffixes=None, example="file"):
    """Let ``save(tmp_path)`` write a temporary file, then move it onto ``path``.

    For writers that insist on a path (``Figure.savefig``, ``Model.save``,
    ``numpy.savez``). The temporary file sits in the same folder (so the
    move is an atomic rename) and keeps ``path``'s suffix (some writers pick
    the format from it). It is removed if ``save`` fails.

    Parameters
    ----------
    path : str or os.PathLike
    save : callable
        ``save(tmp_path)``; must write the whole file to ``tmp_path``.
    suffixes, example
        As in :func:`check_file_target`.

    Returns
    -------
    pathlib.Path
    """
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
        os.replace(tmp, path)
    except OSError as exc:
        if exc.errno is None:
            raise
        # Name the file the caller asked for, not our temporary one (a full disk, ...).
        raise type(exc)(exc.errno, exc.strerror, str(path)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_save_folder(path, save):
    """Let ``save(tmp_folder)`` write a folder, then rename it to ``path`` (which must not exist).

    For writers that produce a folder (a TensorFlow SavedModel). The temporary
    folder sits beside ``path`` (so the rename is atomic) and is removed if
    ``save`` fails; ``path`` appears whole or not at all.

    Parameters
    ----------
    path : str or os.PathLike
    save : callable
        ``save(tmp_path)``; ``tmp_path`` does not exist yet when it is called.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists; choose a new folder. Nothing was written.")
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        save(holder / path.name)
        os.rename(holder / path.name, path)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
    return path


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically; parent folders are created."""

    def save(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    return atomic_save(path, save)


def atomic_write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj):
    """Write ``obj`` as indented JSON (numpy values converted) atomically."""
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=True) + "\n")


def read_json(path):
    """Read a JSON file, with an error that names the file if it is corrupt."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); it is corrupt or truncated.") from None


# -------------------------------------------------------------- provenance


def machine_info():
    """Where a run happened: CPU (and whether it has AVX-512), cores, Python, Keras, backend, accelerators.

    Returns
    -------
    dict
    """
    info = {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "avx512": _has_avx512(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        import keras
    except ImportError:  # pragma: no cover - keras is a dependency
        return info
    info["keras"] = keras.__version__
    info["backend"] = keras.backend.backend()
    info["devices"] = _accelerators(info["backend"])
    return info


def _accelerators(backend):
    """Names of the backend's accelerators (GPUs/TPUs); empty on a CPU-only run."""
    try:
        if backend == "jax":
            import jax

            return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_physical_devices("GPU")]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - informational only; never fail a run over it
        pass
    return []


def _cpuinfo():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def _cpu_model():
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _has_avx512():
    """True/False from /proc/cpuinfo's flags (``None`` where there is no such file)."""
    text = _cpuinfo()
    for line in text.splitlines():
        if line.startswith("flags"):
            return "avx512f" in line.split()
    return None


def command_line(argv=None, *, prog=None):
    """The command as it was typed: ``python <script> <args>`` (shell-quoted).

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program (default ``sys.argv[1:]``).
    prog : str, optional
        How the program was called (default: ``python`` and ``sys.argv[0]``
        relative to the working directory when it is inside it).
    """
    if prog is None:
        script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("python")
        try:
            script = script.resolve().relative_to(Path.cwd())
        except ValueError:
            pass
        prog = f"python {script}"
    args = sys.argv[1:] if argv is None else list(argv)
    return " ".join([prog, *(shlex.quote(str(a)) for a in args)])


def today():
    """The current UTC date and time, ``YYYY-MM-DD HH:MM UTC``."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def provenance(command):
    """``{"command": command, "machine": machine_info(), "date": today()}``."""
    return {"command": command, "machine": machine_info(), "date": today()}


# ------------------------------------------------------------------ reports


def read_report(path):
    """A report file's dict (``about``, ``command``, ``machine``, ``date``, ``records``).

    A missing file reads as a report with no records.
    """
    path = Path(path)
    if not path.exists():
        return {"about": "", "command": None, "machine": None, "date": None, "records": {}}
    doc = read_json(path)
    missing = [k for k in REPORT_KEYS if k not in doc]
    if missing or not isinstance(doc.get("records"), dict):
        raise ValueError(f"{path} is not a report (missing {missing or ['records as a dict']}).")
    return doc


def write_report(path, *, about, records, command):
    """Write a whole report file: the writer's provenance on top, then ``records``.

    Parameters
    ----------
    path : str or os.PathLike
        ``reports/<name>.json``.
    about : str
        What the records are and the command that regenerates them.
    records : dict of str -> dict
        Each record holds its own ``command``, ``machine`` and ``date``
        (missing ones are filled with this writer's).
    command : str
        The command writing the file.
    """
    head = provenance(command)
    filled = {key: {**head, **record} for key, record in records.items()}
    doc = {"about": about, **head, "records": filled}
    atomic_write_json(check_file_target(path, suffixes={".json"}), doc)
    return doc


def update_report(path, records, *, about, command, drop=()):
    """Replace (or add) ``records`` in a report, keep the others, rewrite it atomically.

    Parameters
    ----------
    path : str or os.PathLike
    records : dict of str -> dict
        New records by key; each gets this writer's provenance unless it
        carries its own.
    about, command
        As in :func:`write_report`.
    drop : callable or collection of str, optional
        Keys to remove first (a predicate ``drop(key) -> bool`` or a set).

    Returns
    -------
    dict
        The report as written.
    """
    doc = read_report(path)
    is_dropped = drop if callable(drop) else (lambda key: key in drop)
    kept = {k: v for k, v in doc["records"].items() if not is_dropped(k)}
    head = provenance(command)
    kept.update({key: {**head, **record} for key, record in records.items()})
    return write_report(path, about=about, records=kept, command=command)


def markers(name):
    """The begin and end comments around a generated block called ``name``."""
    return (
        f"<!-- {name}:begin (generated by python -m deblur reproduce; do not edit) -->",
        f"<!-- {name}:end -->",
    )


def replace_block(content, name, text, *, where="the text"):
    """``content`` with the text between ``name``'s markers replaced by ``text``.

    Raises
    ------
    ValueError
        The markers are not there exactly once each (``where`` names the file).
    """
    begin, end = markers(name)
    if content.count(begin) != 1 or content.count(end) != 1:
        raise ValueError(f"{where} must hold the markers {begin!r} and {end!r} once each.")
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{text.rstrip()}\n{end}{tail}"


def replace_between_markers(path, name, text, *, write=True):
    """Replace the text between ``name``'s markers in a Markdown file.

    Parameters
    ----------
    path : str or os.PathLike
    name : str
        The block's name (see :func:`markers`).
    text : str
        The new content (without the markers).
    write : bool, default True
        False returns the new file content without writing it (for checks).

    Returns
    -------
    str
        The new content of the whole file.
    """
    path = Path(path)
    content = path.read_text(encoding="utf-8")
    new = replace_block(content, name, text, where=str(path))
    if write and new != content:
        atomic_write_text(path, new)
    return new
