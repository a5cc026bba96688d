"""CIFAR-10 from the official download or a local copy (:func:`load_cifar10`, cached as ``.npz``), and random crops
of a folder of photos (:func:`load_photo_crops`, for fine-tuning). Every problem raises :class:`DataError`, saying what
is wrong and how to fix it; the bounded readers of archives, pickles and images live in :mod:`deblur._archives`."""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numpy as np

from . import files, machine
from ._archives import (_ALL_BATCHES, _BATCH_DIR, _HOW_TO_SUPPLY, _SIZE, _SPLITS, CLASS_NAMES,  # noqa: F401 - public
                        ENV_VAR, DataError, _hidden, _layout_error, _load_archive, _load_batch_dir, _load_image_dir,
                        _result, _short_reason)

__all__ = ["CACHE_ENV_VAR", "CLASS_NAMES", "ENV_VAR", "DataError", "DataNotFoundError", "describe_source",
           "load_cifar10", "load_photo_crops", "source_path", "subset"]

CACHE_ENV_VAR = "DEBLUR_CACHE"

# Part of every cache key: bump it when new decoding, ordering or labelling rules change a source's arrays.
_CACHE_FORMAT = b"deblur-cifar10-cache-v1"


class DataNotFoundError(DataError, FileNotFoundError):
    """The data source path does not exist."""


def load_cifar10(source=None, *, cache_dir=None, use_cache=True, progress=None):
    """Load CIFAR-10: ``(x_train, y_train), (x_test, y_test)``, ``x_*`` uint8 (N, 32, 32, 3) RGB, ``y_*`` int64 (N,).

    ``source``: the official ``cifar-10-python.tar.gz``, its extracted ``cifar-10-batches-py/`` folder (or a folder
    holding it), or an image-folder tree ``train/<class>/*`` and ``test/<class>/*`` as a folder or a ``.tar``,
    ``.tar.gz``/``.tgz`` or ``.zip`` archive (optionally under one top-level folder); None: ``$DEBLUR_DATA``, else the
    official download. Pickles keep the official order and can build only numpy arrays (a crafted file runs no code).
    Image folders are ordered by label, then file name (string order); labels follow :data:`CLASS_NAMES` when the
    class folders are exactly those ten, else the sorted folder names map to 0..K-1.

    ``use_cache`` reads and writes ``cifar10-<key>.npz`` in ``cache_dir`` (default ``$DEBLUR_CACHE``, else
    ``$XDG_CACHE_HOME/deblur``, else ``~/.cache/deblur``), keyed by the sha256 of an archive's bytes or of a folder's
    (path, size, mtime) list: any change to the source gives a new entry; an unreadable cache file is rebuilt.
    ``progress``: a bar while decoding 1000+ image files; None: where a person watches (not papermill, CI, a log).
    Raises :class:`DataNotFoundError` (also a ``FileNotFoundError``) if the source path does not exist, and
    :class:`DataError` if the download failed or the source is corrupt, truncated or laid out otherwise (the message
    names the file and the fix)."""
    path, origin = _resolve_source(source)
    if path is None:
        return _load_official()
    where = f"'{path}' (from ${origin})" if origin else f"'{path}'"
    if not path.exists():
        raise DataNotFoundError(f"CIFAR-10 source {where} does not exist. {_HOW_TO_SUPPLY}")
    progress = machine.frontend() is not None if progress is None else progress

    if path.is_dir():
        kind, root = _dir_layout(path)
        if kind is None:
            raise _layout_error(where)
        if kind == "batches":
            return _load_batch_dir(root)
        key_path, loader = root, lambda: _load_image_dir(root, where, progress=progress)
    elif path.is_file():
        key_path, loader = path, lambda: _load_archive(path, where, progress=progress)
    else:
        raise DataError(f"CIFAR-10 source {where} is neither a file nor a directory. {_HOW_TO_SUPPLY}")

    if not use_cache:
        return loader()
    cache_root = _cache_root(cache_dir)
    if path.is_dir() and files.is_within(cache_root, path):  # its own files would change the folder's key every run
        raise DataError(f"The cache folder '{cache_root}' is inside the data folder {where}, and deblur writes nothing "
                        f"inside an input: set ${CACHE_ENV_VAR} (or cache_dir=) to a folder outside it, or pass "
                        "use_cache=False.")
    key = _source_key(key_path, where)
    cache_file = cache_root / f"cifar10-{key[:16]}.npz"
    cached = _read_cache(cache_file, key)
    if cached is not None:
        return cached
    data = loader()
    _write_cache(cache_file, key, data)
    return data


def load_photo_crops(folder, *, crop=128, per_photo=16, seed=0):
    """Random square crops of the photos in ``folder`` (any size, no class folders), for fine-tuning a model.

    uint8 (M, crop, crop, 3), photo by photo in the folder's sorted order, ``per_photo`` seeded crops each (none from
    a photo smaller than ``crop`` on a side); 16-bit photos are rounded to 8 bits, grayscale is repeated to three
    channels, alpha is dropped. DataError: no images, every photo smaller than ``crop``, or an unreadable file (named).
    """
    from .images import ImageError, find_images, read_image
    try:
        paths = find_images([folder])
    except (ImageError, FileNotFoundError) as exc:
        raise DataError(str(exc)) from None
    rng, crops = np.random.default_rng(seed), []
    for path in paths:
        try:
            image, _ = read_image(path)
        except ImageError as exc:
            raise DataError(f"{exc}; remove it from {folder} or replace it") from None
        if image.dtype == np.uint16:
            image = np.round(image / 257.0).astype(np.uint8)
        image = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image
        h, w = image.shape[:2]
        if min(h, w) < crop:
            continue
        for top, left in zip(rng.integers(0, h - crop + 1, per_photo), rng.integers(0, w - crop + 1, per_photo)):
            crops.append(image[top:top + crop, left:left + crop])
    if not crops:
        raise DataError(f"{folder}: all {len(paths)} image(s) are smaller than the {crop}x{crop} crop; give larger "
                        "photos or a smaller --crop")
    return np.stack(crops)


def subset(x, y, n, *, seed=0):
    """A random subset of ``n`` images (N, H, W, C) and their labels (N,): ``(x_sub, y_sub)``, in index order.

    The same ``seed`` (int or Generator) gives the same subset (of the class-sorted stand-in data, roughly balanced);
    ``n`` None or >= N keeps all, in order. ValueError: unequal lengths, or ``n`` not a positive integer."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length; got {len(x)} and {len(y)}.")
    if n is None or n >= len(x):
        return x, y
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer or None; got {n!r}.")
    idx = np.sort(np.random.default_rng(seed).choice(len(x), size=int(n), replace=False))
    return x[idx], y[idx]


def source_path(source=None):
    """The local path :func:`load_cifar10` would read (``source`` or ``$DEBLUR_DATA``, unchecked); None: download."""
    return _resolve_source(source)[0]


def describe_source(source=None):
    """Say in one line what :func:`load_cifar10` would load from ``source``, without loading it.

    For example ``"archive '/data/cifar10-jpeg.tar.gz' (19.6 MB, from $DEBLUR_DATA)"``."""
    path, origin = _resolve_source(source)
    if path is None:
        return f"official CIFAR-10 download (keras.datasets.cifar10.load_data(); ${ENV_VAR} is not set)"
    suffix = f", from ${ENV_VAR}" if origin else ""
    if not path.exists():
        return f"'{path}' (does not exist{suffix})"
    if path.is_dir():
        kind, root = _dir_layout(path)
        if kind == "batches":
            return f"CIFAR-10 pickle batches in '{root}' (folder{suffix})"
        if kind == "images":
            return f"image-folder tree '{root}' (folder{suffix})"
        return f"'{path}' (folder with no CIFAR-10 layout{suffix})"
    return f"archive '{path}' ({path.stat().st_size / 1e6:.1f} MB{suffix})"


def _resolve_source(source):
    """Return (path, origin): origin is the env var name, or None for ``source``."""
    if source is None:
        value = os.environ.get(ENV_VAR, "").strip()
        return (Path(value).expanduser(), ENV_VAR) if value else (None, None)
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source must be a path (str or os.PathLike) or None; got {type(source).__name__}.")
    text = os.fsdecode(os.fspath(source))
    if not text.strip():  # Path("") is the current directory, which is never what was meant
        raise ValueError("source must be a non-empty path or None.")
    return Path(text).expanduser(), None


def _download_official():
    """Fetch CIFAR-10 through Keras (only this path needs Keras and its backend); tests replace this function."""
    import keras
    return keras.datasets.cifar10.load_data()


def _load_official():
    try:
        (x_train, y_train), (x_test, y_test) = _download_official()
    except Exception as exc:  # one message instead of Keras's nested urllib traceback
        raise DataError("The official CIFAR-10 download (keras.datasets.cifar10.load_data()) failed: "
                        f"{_short_reason(exc)}. If this machine is offline, supply the data locally instead. "
                        f"{_HOW_TO_SUPPLY}") from None
    return _result(x_train, y_train, x_test, y_test)


def _has_split_dirs(root):
    return any((root / split).is_dir() for split in _SPLITS)


def _dir_layout(path):
    """Return ("batches", folder), ("images", root) or (None, None)."""
    for folder in (path, path / _BATCH_DIR):
        if folder.is_dir() and any((folder / name).is_file() for name in _ALL_BATCHES):
            return "batches", folder
    if _has_split_dirs(path):
        return "images", path
    subdirs = [d for d in path.iterdir() if d.is_dir() and not _hidden(d.name)]
    if len(subdirs) == 1 and _has_split_dirs(subdirs[0]):
        return "images", subdirs[0]
    return None, None


def _cache_root(cache_dir):
    if cache_dir is not None:
        return Path(os.fsdecode(os.fspath(cache_dir))).expanduser()
    if os.environ.get(CACHE_ENV_VAR):
        return Path(os.environ[CACHE_ENV_VAR]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "deblur"
    return Path.home() / ".cache" / "deblur"


def _source_key(path, where):
    """sha256 hex of a file's bytes, or of a directory's (path, size, mtime) list."""
    digest = hashlib.sha256(_CACHE_FORMAT)
    try:
        if path.is_file():
            digest.update(b"\0file\0")
            with open(path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
        else:
            # Stat-based, not content-based: hashing 60,000 small files would cost about as much as decoding them.
            listing = []
            for folder, _, names in os.walk(path):
                for name in names:
                    full = os.path.join(folder, name)
                    stat = os.stat(full)
                    rel = Path(os.path.relpath(full, path)).as_posix()
                    listing.append((rel, stat.st_size, stat.st_mtime_ns))
            digest.update(b"\0dir\0")
            for rel, size, mtime_ns in sorted(listing):
                digest.update(f"{rel}\0{size}\0{mtime_ns}\n".encode("utf-8", "surrogateescape"))
    except OSError as exc:
        raise DataError(f"{where} cannot be read ({_short_reason(exc)}); check its permissions.") from None
    return digest.hexdigest()


_CACHE_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _read_cache(file, key):
    """Return the cached arrays, or None when missing, stale or unreadable."""
    try:
        with open(file, "rb") as f, np.load(f, allow_pickle=False) as npz:  # np.load leaks its file on a bad zip
            if str(npz["key"]) != key:
                return None
            x_train, y_train, x_test, y_test = (npz[name] for name in _CACHE_ARRAYS)
    except Exception:  # missing, partial or foreign file: only a missed shortcut
        return None
    for x, y in ((x_train, y_train), (x_test, y_test)):
        if x.dtype != np.uint8 or x.shape[1:] != (_SIZE, _SIZE, 3) or y.dtype != np.int64 or y.shape != x.shape[:1]:
            return None
    return (x_train, y_train), (x_test, y_test)


def _write_cache(file, key, data):
    """Write the arrays atomically; a failure only costs the shortcut next time."""
    arrays = dict(zip(_CACHE_ARRAYS, (*data[0], *data[1])))
    try:
        # Uncompressed: the point of the cache is speed (about 0.2 s to read).
        files.atomic_save(file, lambda tmp: np.savez(tmp, key=np.array(key), **arrays))
    except OSError as exc:
        warnings.warn(f"Could not write the CIFAR-10 cache '{file}' ({_short_reason(exc)}); the data will be "
                      "decoded again next time. Pass a writable cache_dir=, or use_cache=False.", RuntimeWarning,
                      stacklevel=3)
