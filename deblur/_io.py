"""Atomic file writes: a file is either its old or its new content, never half."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np


def _to_jsonable(value):
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def check_file_target(path, *, suffixes=None, example="results.json"):
    """Refuse a destination that is a folder (or has the wrong suffix) before writing.

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(
            f"{path} is a folder; pass a file path inside it (e.g. {path / example}). "
            "Nothing was written."
        )
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(
            f"{path} has suffix {path.suffix!r}; use one of {sorted(suffixes)}. Nothing was written."
        )
    return path


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``."""
    path = check_file_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); give it the usual permissions.
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path, obj):
    """Write ``obj`` as indented JSON (numpy values converted) atomically."""
    text = json.dumps(_to_jsonable(obj), indent=2, allow_nan=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def read_json(path):
    """Read a JSON file, with an error that names the file if it is corrupt."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); it is corrupt or truncated.") from None
