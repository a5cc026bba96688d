"""The private bounded readers behind :mod:`deblur.data`: tar and zip members, pickle batches, image files.

Every read is bounded before it happens (member sizes, tar headers, the arrays a pickle builds, the number and bytes
of image files); every problem raises :class:`DataError`."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ENV_VAR = "DEBLUR_DATA"

_SIZE = 32
_BATCH_DIR = "cifar-10-batches-py"
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_BATCH = "test_batch"
_ALL_BATCHES = (*_TRAIN_BATCHES, _TEST_BATCH)
_SPLITS = ("train", "test")
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"})
# A 32x32 image is a few KB in any of the formats above; 256 KiB leaves room for bulky metadata.
_MAX_IMAGE_BYTES = 256 * 1024
# An official batch holds 10,000 rows of 3,072 bytes plus labels and file names (31.0 MB).
_MAX_BATCH_ROWS = 10_000
_MAX_BATCH_BYTES = 32 * 1024 * 1024
# Image members are kept (compressed) until all are read: CIFAR-10 is 60,000 images, 20 MB as JPEG, 150 MB as PNG.
_MAX_IMAGES = 120_000
_MAX_IMAGE_TOTAL_BYTES = 192 * 1024 * 1024
_MAX_HEADER_BYTES = 64 * 1024  # a real archive's long file names and pax headers are far smaller
#: Members (files, folders, links) read from an archive: more than _MAX_IMAGES, as CIFAR-10 adds a few folders.
_MAX_MEMBERS = 130_000
_PROGRESS_MIN_FILES = 1000  # below this, the bar would only flash

_ACCEPTED = ("the official cifar-10-python.tar.gz; its extracted cifar-10-batches-py/ folder; or an image-folder tree "
             "train/<class>/* and test/<class>/* (.png, .jpg, .bmp, ...), as a directory or a .tar, .tar.gz/.tgz or "
             ".zip archive, optionally under one top-level folder")
_HOW_TO_SUPPLY = f"Pass source= to load_cifar10() or set the {ENV_VAR} environment variable to one of: {_ACCEPTED}."

# How a damaged archive fails: tarfile/zipfile, gzip/bz2/lzma errors, encrypted or unknown zip compression methods.
_ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError,
                   NotImplementedError)
try:  # lzma is optional in CPython builds
    import lzma

    _ARCHIVE_ERRORS += (lzma.LZMAError,)
except ImportError:  # pragma: no cover
    pass


class DataError(RuntimeError):
    """CIFAR-10 could not be loaded; the message says why and how to fix it."""

    __module__ = "deblur.data"  # its public home, which re-exports it


def _short_reason(exc, limit=200):
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _layout_error(where):
    return DataError(f"{where} does not look like CIFAR-10 data: found neither the pickle batches "
                     f"({_BATCH_DIR}/data_batch_1..5 and test_batch) nor an image-folder tree "
                     "(train/<class>/* and test/<class>/*, optionally under one top-level folder). "
                     f"{_HOW_TO_SUPPLY}")


def _hidden(name):
    """Dot files and macOS archive debris (__MACOSX/, ._name, .DS_Store), skipped."""
    return name.startswith(".") or name == "__MACOSX"


def _is_image_name(name):
    return not _hidden(name) and PurePosixPath(name).suffix.lower() in _IMAGE_SUFFIXES


def _result(x_train, y_train, x_test, y_test):
    """Both splits as contiguous uint8 images and flat int64 labels (Keras returns (N, 1) uint8 labels)."""
    return tuple((np.ascontiguousarray(x, dtype=np.uint8), np.asarray(y).reshape(-1).astype(np.int64))
                 for x, y in ((x_train, y_train), (x_test, y_test)))


def _load_batch_dir(folder):
    blobs = {}
    for name in _ALL_BATCHES:
        file = folder / name
        if not file.is_file():
            continue
        try:
            with open(file, "rb") as f:
                blobs[name] = (f"'{file}'", _read_member(f.read, os.fstat(f.fileno()).st_size,
                                                         _MAX_BATCH_BYTES, "batch"))
        except _TooLarge as exc:
            raise DataError(f"'{file}' is {exc.size:,} bytes, more than the {exc.limit:,} a CIFAR-10 batch can take: "
                            "it is not a CIFAR-10 batch. Re-download cifar-10-python.tar.gz.") from None
        except OSError as exc:
            raise DataError(f"'{file}' cannot be read ({_short_reason(exc)}); check its permissions.") from None
    return _assemble_batches(blobs, f"'{folder}'")


def _load_image_dir(root, where, *, progress):
    tree = {}
    for split in _SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        classes = tree.setdefault(split, {})
        for class_dir in split_dir.iterdir():
            if not class_dir.is_dir() or _hidden(class_dir.name):
                continue
            entries = [e for e in os.scandir(class_dir) if e.is_file() and _is_image_name(e.name)]
            for entry in entries:
                if entry.stat().st_size > _MAX_IMAGE_BYTES:
                    raise DataError(f"'{entry.path}' is {entry.stat().st_size:,} bytes, more than the "
                                    f"{_MAX_IMAGE_BYTES:,} a 32x32 image file can take: it is not a CIFAR-10 image. "
                                    "Remove it.")
            classes[class_dir.name] = [(e.name, Path(e.path), f"'{e.path}'") for e in entries]
    return _decode_tree(tree, where, progress=progress)


class _BoundedTarInfo(tarfile.TarInfo):
    """A tar header refusing an extended header (long name, pax) too large for a path; tarfile reads it whole."""

    _EXTENDED = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                 tarfile.SOLARIS_XHDTYPE)

    def _proc_member(self, tarfile_):
        if self.type in self._EXTENDED and self.size > _MAX_HEADER_BYTES:
            raise _TooLarge("extended tar header", self.size, _MAX_HEADER_BYTES)
        return super()._proc_member(tarfile_)


def _iter_tar(path):
    """Yield (name, is_dir, declared size, read(limit)) for each member, in one forward pass (no seeking)."""
    with tarfile.open(path, mode="r|*", tarinfo=_BoundedTarInfo) as archive:
        for count, member in enumerate(archive, 1):
            archive.members.clear()  # a stream keeps every header it passed; we need none of them
            _check_count(count)
            if member.isdir():
                yield member.name, True, 0, None
            elif member.isfile():  # member.size is the expanded size, also for a sparse member
                yield member.name, False, member.size, lambda limit, m=member: archive.extractfile(m).read(limit)


def _zip_entries(path):
    """Members a zip's end record declares (None: no record), read first: ``ZipFile`` loads its whole directory (5.5x
    the archive for millions of tiny members). Via the stdlib's own reader, ``zipfile._EndRecData`` (none is public)."""
    with open(path, "rb") as f:
        end = zipfile._EndRecData(f)
    return None if end is None else int(end[zipfile._ECD_ENTRIES_TOTAL])


def _iter_zip(path):
    """Yield (name, is_dir, declared size, read(limit)) for each member."""
    _check_count(_zip_entries(path) or 0)  # before the directory is read
    with zipfile.ZipFile(path) as archive:
        for count, info in enumerate(archive.infolist(), 1):
            _check_count(count)

            def read(limit, i=info):
                with archive.open(i) as f:
                    return f.read(limit)

            yield info.filename, info.is_dir(), info.file_size, read


def _check_count(count):
    """Refuse the member after the :data:`_MAX_MEMBERS`-th: millions of (tiny) headers cost time and memory."""
    if count > _MAX_MEMBERS:
        raise _TooLarge("archive", count, _MAX_MEMBERS)


def _read_member(read, size, limit, what):
    """Read a member of declared ``size`` (at most ``limit + 1`` bytes), refusing one over ``limit``."""
    if size > limit:
        raise _TooLarge(what, size, limit)
    blob = read(limit + 1)
    if len(blob) > limit:
        raise _TooLarge(what, len(blob), limit)
    return blob


class _TooLarge(Exception):
    def __init__(self, what, size, limit):
        super().__init__(what, size, limit)
        self.what, self.size, self.limit = what, size, limit


def _too_large_error(where, member, exc):
    if exc.what == "archive":
        return DataError(f"{where} holds more than {exc.limit:,} members (files and folders; at '{member}'), where "
                         "CIFAR-10 has 60,000 files: it is not CIFAR-10 data (or is hostile). Use the official "
                         "archive.")
    at = f" member '{member}'" if exc.what != "extended tar header" else " (a long file name or pax record)"
    return DataError(f"{where}{at} is {exc.size:,} bytes, more than the {exc.limit:,} a CIFAR-10 {exc.what} can take: "
                     "it is not CIFAR-10 data (or is hostile). Remove it or use the official archive.")


def _load_archive(path, where, *, progress):
    batches = {}  # batch name -> (where, bytes)
    images = []  # (prefix, split, class, file name, bytes, where)
    class_dirs = set()  # (prefix, split, class), so empty class folders are seen
    member = None
    image_bytes = 0
    iterate = _iter_zip if zipfile.is_zipfile(path) else _iter_tar
    try:
        for member, is_dir, size, read in iterate(path):
            parts = tuple(p for p in PurePosixPath(member.replace("\\", "/")).parts if p not in ("", ".", "/"))
            if not parts or any(_hidden(p) for p in parts):
                continue
            if is_dir:
                if len(parts) in (2, 3) and parts[-2] in _SPLITS:
                    class_dirs.add((parts[:-2], parts[-2], parts[-1]))
                continue
            name = parts[-1]
            if name in _ALL_BATCHES:
                if name in batches:
                    raise DataError(f"{where} holds {name} twice ({batches[name][0]} and member '{member}'); "
                                    "keep one cifar-10-batches-py folder in the archive.")
                batches[name] = (f"{where} member '{member}'", _read_member(read, size, _MAX_BATCH_BYTES, "batch"))
            elif len(parts) in (3, 4) and parts[-3] in _SPLITS and _is_image_name(name):
                blob = _read_member(read, size, _MAX_IMAGE_BYTES, "image file")
                images.append((parts[:-3], parts[-3], parts[-2], name, blob, f"{where} member '{member}'"))
                image_bytes += len(blob)
                if len(images) > _MAX_IMAGES or image_bytes > _MAX_IMAGE_TOTAL_BYTES:
                    too_many = (f"more than {_MAX_IMAGES:,} image files" if len(images) > _MAX_IMAGES
                                else f"more than {_MAX_IMAGE_TOTAL_BYTES // 2**20} MiB of image files")
                    raise DataError(f"{where} holds {too_many} (at member '{member}'); CIFAR-10 has 60,000 images "
                                    "of a few KB. It is not CIFAR-10 data (or is hostile): use the official archive.")
    except DataError:
        raise
    except _TooLarge as exc:
        raise _too_large_error(where, member, exc) from None
    except _ARCHIVE_ERRORS as exc:
        if member is None:  # not even the first member could be read: not an archive at all
            raise DataError(f"{where} is not a readable .tar, .tar.gz/.tgz or .zip archive "
                            f"({_short_reason(exc)}): it is corrupt or truncated, or not a CIFAR-10 source. "
                            f"Re-download it if it should be one. {_HOW_TO_SUPPLY}") from None
        inside = f" while reading member '{member}'" if member else ""
        raise DataError(f"{where} is corrupt or truncated ({_short_reason(exc)}{inside}). "
                        "Re-download it, or re-create the archive.") from None

    if batches:
        return _assemble_batches(batches, where)
    if not images:
        raise _layout_error(where)
    prefixes = sorted({prefix for prefix, *_ in images})
    if len(prefixes) > 1:
        shown = ", ".join("/".join(p) + "/" if p else "(top level)" for p in prefixes)
        raise DataError(f"{where} holds image-folder trees in several places ({shown}); "
                        "keep a single train/ and test/ pair in the archive.")
    prefix = prefixes[0]
    tree = {}
    for dir_prefix, split, cls in class_dirs:
        if dir_prefix == prefix:
            tree.setdefault(split, {}).setdefault(cls, [])
    for _, split, cls, name, data, item_where in images:
        tree.setdefault(split, {}).setdefault(cls, []).append((name, data, item_where))
    return _decode_tree(tree, where, progress=progress)


# A batch pickle may build only numpy arrays (1.x/2.x names, protocols 2-5) and bytes (_codecs.encode, protocol 2).
_PICKLE_ALLOWED = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
                             ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                             ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
                             ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer")})


class _BatchUnpickler(pickle.Unpickler):
    """Builds only numpy arrays and bytes, none larger than the file: the allowed callables come wrapped."""

    def __init__(self, file, *, budget, **kwargs):
        super().__init__(file, **kwargs)
        self.budget = budget

    def find_class(self, module, name):
        if (module, name) not in _PICKLE_ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        found = super().find_class(module, name)
        if name == "encode":
            return _latin1_encode
        if name == "dtype":
            return _plain_dtype
        if name == "ndarray":
            return _BoundedArray(self.budget)
        if name == "_reconstruct":
            return lambda subtype, *args: found(np.ndarray if isinstance(subtype, _BoundedArray) else subtype, *args)
        return found


def _latin1_encode(text, encoding="latin1", *args):
    """``_codecs.encode`` of a ``str`` to latin-1 only (``hex`` would double its input, nested without bound)."""
    if not isinstance(text, str) or encoding.lower().replace("-", "") != "latin1" or args:
        raise pickle.UnpicklingError("refusing _codecs.encode other than of a str to latin-1")
    return text.encode("latin-1")


def _plain_dtype(*args, **kwargs):
    dtype = np.dtype(*args, **kwargs)
    if dtype.hasobject:
        raise pickle.UnpicklingError("refusing an object dtype")
    return dtype


class _BoundedArray:
    """``numpy.ndarray(shape, dtype)`` for a pickle, refusing more bytes than ``budget``."""

    def __init__(self, budget):
        self.budget = budget

    def __call__(self, shape, dtype=float, *args, **kwargs):
        dtype = _plain_dtype(dtype)
        count = int(np.prod(shape, dtype=np.float64)) if np.ndim(shape) else int(shape)
        if count * dtype.itemsize > self.budget:
            raise pickle.UnpicklingError(f"an array of shape {tuple(np.atleast_1d(shape))} claims more bytes than "
                                         f"the file's {self.budget:,}")
        return np.ndarray(shape, dtype, *args, **kwargs)


def _parse_batch(data, where):
    """Decode one pickle batch to (images uint8 (N, 32, 32, 3), labels int64 (N,))."""
    try:
        batch = _BatchUnpickler(io.BytesIO(data), budget=len(data), encoding="bytes").load()
    except Exception as exc:  # damaged bytes fail in many ways inside pickle
        raise DataError(f"{where} is corrupt or truncated, or not a CIFAR-10 batch ({_short_reason(exc)}). "
                        "Re-download cifar-10-python.tar.gz.") from None
    batch = batch if isinstance(batch, dict) else {}  # bytes keys (Python 2 pickles), or str in hand-made ones
    x, y = batch.get(b"data", batch.get("data")), batch.get(b"labels", batch.get("labels"))
    if x is None or y is None:
        raise DataError(f"{where} is not a CIFAR-10 batch (expected a dict with b'data' and b'labels'). "
                        "Re-download cifar-10-python.tar.gz.")
    x, y = np.asarray(x), np.asarray(y)
    n_pixels = 3 * _SIZE * _SIZE
    # numpy.ndarray(shape) may claim rows the file does not hold: they must be few enough and present in the file.
    if x.ndim >= 1 and (x.shape[0] > _MAX_BATCH_ROWS or x.nbytes + y.size > len(data)):
        raise DataError(f"{where} claims {x.shape[0]:,} rows ({x.nbytes:,} bytes of pixels) but the file holds "
                        f"{len(data):,} bytes and a batch at most {_MAX_BATCH_ROWS:,} rows: it is corrupt or hostile. "
                        "Re-download cifar-10-python.tar.gz.")
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != n_pixels or y.shape != (x.shape[0],):
        raise DataError(f"{where} has unexpected array sizes (data {x.dtype} {x.shape}, labels {y.shape}; "
                        f"expected uint8 (N, {n_pixels}) and (N,)): it is corrupt. Re-download cifar-10-python.tar.gz.")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= len(CLASS_NAMES)):
        raise DataError(f"{where} has labels outside 0..9: it is corrupt or not CIFAR-10. "
                        "Re-download cifar-10-python.tar.gz.")
    images = x.reshape(-1, 3, _SIZE, _SIZE).transpose(0, 2, 3, 1)  # each row: the red, green, blue 32x32 planes
    return np.ascontiguousarray(images), y.astype(np.int64)


def _assemble_batches(blobs, where):
    missing = [name for name in _ALL_BATCHES if name not in blobs]
    if missing:
        raise DataError(f"{where} holds CIFAR-10 batches but lacks {', '.join(missing)}: it is incomplete. "
                        "Re-download cifar-10-python.tar.gz (it holds data_batch_1..5 and test_batch).")
    parsed = {name: _parse_batch(blobs[name][1], blobs[name][0]) for name in _ALL_BATCHES}
    x_train, y_train = (np.concatenate(arrays) for arrays in zip(*(parsed[name] for name in _TRAIN_BATCHES)))
    return _result(x_train, y_train, *parsed[_TEST_BATCH])


def _decode_image(data, where):
    """Decode one 32x32 image file (bytes or a path) to uint8 RGB (32, 32, 3)."""
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            if image.size != (_SIZE, _SIZE):
                width, height = image.size
                raise DataError(f"{where} is {width}x{height} pixels; CIFAR-10 images must be {_SIZE}x{_SIZE}. "
                                "Resize or remove it.")
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise DataError(f"{where} is not a readable image ({_short_reason(exc)}): it is corrupt or truncated. "
                        "Re-download the data, or replace or remove this file.") from None


def _decode_tree(tree, where, *, progress):
    """Decode {split: {class: [(file name, bytes or path, where)]}} into arrays."""
    for split in _SPLITS:
        if not tree.get(split):
            raise DataError(f"{where} has no {split}/<class>/ image folders; an image-folder source needs both "
                            "train/<class>/* and test/<class>/* (optionally under one top-level folder).")
    train_classes, test_classes = set(tree["train"]), set(tree["test"])
    if train_classes != test_classes:
        only_train = ", ".join(sorted(train_classes - test_classes)) or "-"
        only_test = ", ".join(sorted(test_classes - train_classes)) or "-"
        raise DataError(f"{where}: train/ and test/ must hold the same class folders (only in train/: {only_train}; "
                        f"only in test/: {only_test}). Add or remove class folders to match.")
    empty = sorted(f"{split}/{cls}/" for split in _SPLITS for cls, items in tree[split].items() if not items)
    if empty:
        shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        raise DataError(f"{where} has class folders with no images: {shown}. "
                        f"Add image files ({', '.join(sorted(_IMAGE_SUFFIXES))}) or remove the empty folders.")

    order = CLASS_NAMES if train_classes == set(CLASS_NAMES) else sorted(train_classes)
    labels = {name: i for i, name in enumerate(order)}
    total = sum(len(items) for split in _SPLITS for items in tree[split].values())
    arrays = {}
    with tqdm(total=total, desc="Decoding CIFAR-10 images", unit="img",
              disable=not progress or total < _PROGRESS_MIN_FILES) as bar:
        for split in _SPLITS:
            items = sorted(((labels[cls], name, data, item_where) for cls, entries in tree[split].items()
                            for name, data, item_where in entries), key=lambda item: item[:2])
            x = np.empty((len(items), _SIZE, _SIZE, 3), dtype=np.uint8)
            for i, (_, _, data, item_where) in enumerate(items):
                x[i] = _decode_image(data, item_where)
                bar.update()
            arrays[split] = x, np.array([label for label, *_ in items], dtype=np.int64)
    return _result(*arrays["train"], *arrays["test"])
