"""Records of this repository: provenance and the one shape of ``reports/*.json``.

Two jobs, one home (the atomic writes they use live in :mod:`deblur.files`):

- **Provenance.** :func:`provenance` says who wrote a record: the command as
  typed, the machine (:func:`deblur.machine.machine_info`, including whether
  the CPU has AVX-512, which triples some timings here) and the date.
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
import shlex
import sys
from pathlib import Path

from deblur.files import atomic_write_json, atomic_write_text, check_file_target, read_json
from deblur.machine import machine_info

__all__ = [
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

# -------------------------------------------------------------- provenance


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
        f"<!-- {name}:begin (generated by python tools/reproduce.py; do not edit) -->",
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
