"""Tests for deblur.data: every source kind, error messages and the cache.

All fixtures are tiny and built in tmp_path; nothing touches the network or
the user's cache folder.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import pickle
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from deblur import data
from deblur.data import CLASS_NAMES, DataError, DataNotFoundError, describe_source, load_cifar10

# The bounded readers behind deblur.data: their limits and their decoder are under test here.
archives = importlib.import_module("deblur._archives")

# Written in an unsorted order on purpose: loading must sort by file name
# (plain string order: "10.png" < "9.png" < "a.png").
FILE_NAMES = ("a.png", "10.png", "9.png")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    # No test may see the developer's DEBLUR_DATA or write to ~/.cache.
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv(data.CACHE_ENV_VAR, str(tmp_path / "default-cache"))


@pytest.fixture
def no_download(monkeypatch):
    def fail():
        raise AssertionError("the official download must not be used")

    monkeypatch.setattr(data, "_download_official", fail)


# ---------------------------------------------------------------------------
# Fixture builders
# ---------------------------------------------------------------------------


def make_tree(root, classes=CLASS_NAMES, *, seed=0, files=FILE_NAMES, splits=("train", "test")):
    """Write split/class/file PNGs under root; return the expected arrays.

    Expected order: label (index in ``sorted(classes)`` unless they are the
    CIFAR-10 names), then file name.
    """
    rng = np.random.default_rng(seed)
    if set(classes) == set(CLASS_NAMES):
        labels = {c: CLASS_NAMES.index(c) for c in classes}
    else:
        labels = {c: i for i, c in enumerate(sorted(classes))}
    expected = {}
    for split in splits:
        written = {}
        for cls in classes:
            folder = root / split / cls
            folder.mkdir(parents=True)
            for name in files:
                pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / name)
                written[(labels[cls], name)] = pixels
        order = sorted(written)
        expected[split] = (
            np.stack([written[k] for k in order]),
            np.array([label for label, _ in order], dtype=np.int64),
        )
    return expected


def pack(src, archive, *, top=None):
    """Pack the files under src into a tar/tar.gz/tgz/zip; members in reverse order."""
    files = sorted((p for p in src.rglob("*") if p.is_file()), reverse=True)

    def arcname(p):
        rel = p.relative_to(src).as_posix()
        return f"{top}/{rel}" if top else rel

    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as zf:
            for p in files:
                zf.write(p, arcname(p))
    else:
        mode = "w" if archive.suffix == ".tar" else "w:gz"
        with tarfile.open(archive, mode) as tf:
            for p in files:
                tf.add(p, arcname(p))
    return archive


def make_batches(folder, *, rows=3, seed=1, protocol=2, legacy_numpy=False):
    """Write official-format pickle batches; return the raw rows and labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    raw = {}
    for name in archives._ALL_BATCHES:
        rows_ = rng.integers(0, 256, size=(rows, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=rows)]
        blob = pickle.dumps({b"batch_label": b"x", b"data": rows_, b"labels": labels}, protocol=protocol)
        if legacy_numpy:
            # The official files were written by numpy 1.x on Python 2.
            blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
        (folder / name).write_bytes(blob)
        raw[name] = (rows_, np.array(labels))
    return raw


def expected_from_batches(raw):
    def hwc(rows):
        return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)

    train = [raw[n] for n in archives._TRAIN_BATCHES]
    x_train = np.concatenate([hwc(r) for r, _ in train])
    y_train = np.concatenate([y for _, y in train])
    rows, y_test = raw["test_batch"]
    return (x_train, y_train), (hwc(rows), y_test)


def assert_loaded(result, expected):
    (x_train, y_train), (x_test, y_test) = result
    for (x, y), split in (((x_train, y_train), "train"), ((x_test, y_test), "test")):
        ex, ey = expected[split]
        assert x.dtype == np.uint8 and x.shape == ex.shape and x.flags.c_contiguous
        assert y.dtype == np.int64 and y.shape == (len(ex),)
        np.testing.assert_array_equal(x, ex)
        np.testing.assert_array_equal(y, ey)


# ---------------------------------------------------------------------------
# Pickle batches
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("legacy_numpy", [False, True])
@pytest.mark.parametrize("point_at", ["batch_folder", "parent"])
def test_batch_folder(tmp_path, protocol, legacy_numpy, point_at, no_download):
    raw = make_batches(tmp_path / "cifar-10-batches-py", protocol=protocol, legacy_numpy=legacy_numpy)
    (x_train, y_train), (x_test, y_test) = expected_from_batches(raw)
    source = tmp_path / "cifar-10-batches-py" if point_at == "batch_folder" else tmp_path
    result = load_cifar10(source, cache_dir=tmp_path / "cache")
    assert_loaded(result, {"train": (x_train, y_train), "test": (x_test, y_test)})
    # CHW rows -> HWC: pixel (i, j) of channel c is row[c * 1024 + i * 32 + j].
    rows = raw["data_batch_1"][0]
    assert result[0][0][0, 5, 7, 2] == rows[0, 2 * 1024 + 5 * 32 + 7]
    assert result[0][0].shape == (15, 32, 32, 3)
    assert not (tmp_path / "cache").exists()  # batch folders are not cached


def test_official_tar_gz_detected_by_members(tmp_path, no_download):
    raw = make_batches(tmp_path / "src" / "cifar-10-batches-py")
    (tmp_path / "src" / "cifar-10-batches-py" / "batches.meta").write_bytes(b"ignored")
    # A file name that says nothing: detection is by member names.
    archive = pack(tmp_path / "src", tmp_path / "download.tar.gz")
    (x_train, y_train), (x_test, y_test) = expected_from_batches(raw)
    result = load_cifar10(archive, cache_dir=tmp_path / "cache")
    assert_loaded(result, {"train": (x_train, y_train), "test": (x_test, y_test)})


def test_batches_missing_one(tmp_path):
    make_batches(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3"):
        load_cifar10(tmp_path)


def test_batch_truncated(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    make_batches(folder)
    blob = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="test_batch.*corrupt or truncated"):
        load_cifar10(folder)


def test_batch_wrong_size(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    make_batches(folder)
    blob = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2)
    (folder / "data_batch_2").write_bytes(blob)
    with pytest.raises(DataError, match="data_batch_2.*unexpected array sizes"):
        load_cifar10(folder)


def test_batch_pickle_cannot_run_code(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    make_batches(folder)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo should-not-run",))

    (folder / "data_batch_4").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match="data_batch_4.*refusing to load"):
        load_cifar10(folder)


# ---------------------------------------------------------------------------
# Image folders
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["dir", ".tar", ".tar.gz", ".tgz", ".zip"])
@pytest.mark.parametrize("top", [None, "cifar10-jpeg"])
def test_image_tree(tmp_path, kind, top, no_download):
    src = tmp_path / "src"
    expected = make_tree(src / top if (kind == "dir" and top) else src)
    if kind == "dir":
        source = src
    else:
        source = pack(src, tmp_path / f"images{kind}", top=top)
    assert_loaded(load_cifar10(source, cache_dir=tmp_path / "cache"), expected)


def test_image_tree_file_order_and_official_labels(tmp_path):
    make_tree(tmp_path / "src", classes=("truck", *CLASS_NAMES[:-1]))
    (_, y_train), (_, _) = load_cifar10(tmp_path / "src", use_cache=False)
    # Ten classes x three files, label-major, exactly the official indices.
    np.testing.assert_array_equal(y_train, np.repeat(np.arange(10), 3))


def test_image_tree_other_class_names_sorted(tmp_path):
    expected = make_tree(tmp_path / "src", classes=("zebra", "apple", "mango"))
    result = load_cifar10(pack(tmp_path / "src", tmp_path / "fruit.zip"), use_cache=False)
    assert_loaded(result, expected)
    np.testing.assert_array_equal(result[0][1], [0, 0, 0, 1, 1, 1, 2, 2, 2])


def test_image_tree_converts_to_rgb_and_ignores_debris(tmp_path):
    make_tree(tmp_path / "src", classes=("a", "b"), files=("x.png",))
    grey = np.arange(32 * 32, dtype=np.uint32).reshape(32, 32).astype(np.uint8)
    Image.fromarray(grey, mode="L").save(tmp_path / "src" / "train" / "a" / "x.png")
    (tmp_path / "src" / "train" / "a" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "src" / "train" / "a" / "notes.txt").write_text("not an image")
    (x_train, _), _ = load_cifar10(tmp_path / "src", use_cache=False)
    assert x_train.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(x_train[0], np.repeat(grey[..., None], 3, axis=2))


# ---------------------------------------------------------------------------
# Source selection and the official download
# ---------------------------------------------------------------------------


def test_env_var_used_when_source_is_none(tmp_path, monkeypatch, no_download):
    expected = make_tree(tmp_path / "src", classes=("a", "b"))
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "src"))
    assert_loaded(load_cifar10(cache_dir=tmp_path / "cache"), expected)
    assert "from $DEBLUR_DATA" in describe_source()


def test_source_argument_beats_env_var(tmp_path, monkeypatch):
    expected = make_tree(tmp_path / "src", classes=("a", "b"))
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "missing"))
    assert_loaded(load_cifar10(str(tmp_path / "src"), use_cache=False), expected)


def test_offline_without_source(monkeypatch):
    def offline():
        raise Exception(
            "URL fetch failure on https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz: "
            "None -- [Errno -3] Temporary failure in name resolution"
        )

    monkeypatch.setattr(data, "_download_official", offline)
    with pytest.raises(DataError) as info:
        load_cifar10()
    message = str(info.value)
    for part in ("download", "URL fetch failure", "DEBLUR_DATA", "source=", "cifar-10-python.tar.gz",
                 "cifar-10-batches-py", "train/<class>"):
        assert part in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_official_download_result_is_normalised(monkeypatch):
    x = np.zeros((4, 32, 32, 3), np.uint8)
    y = np.array([[1], [2], [3], [4]], np.uint8)
    monkeypatch.setattr(data, "_download_official", lambda: ((x, y), (x[:2], y[:2])))
    (x_train, y_train), (x_test, y_test) = load_cifar10()
    assert y_train.dtype == np.int64 and y_train.tolist() == [1, 2, 3, 4]
    assert x_test.shape == (2, 32, 32, 3) and y_test.shape == (2,)
    assert describe_source().startswith("official CIFAR-10 download")


def test_import_does_not_load_keras_or_tensorflow():
    code = "import sys, deblur.data; assert not {'keras', 'tensorflow'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_missing_path(tmp_path):
    missing = tmp_path / "nope.tar.gz"
    with pytest.raises(DataNotFoundError) as info:
        load_cifar10(missing)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, DataError)
    assert str(missing) in str(info.value) and "cifar-10-batches-py" in str(info.value)


def test_truncated_tar_gz(tmp_path):
    make_tree(tmp_path / "src", classes=("a", "b"))
    archive = pack(tmp_path / "src", tmp_path / "images.tar.gz")
    blob = archive.read_bytes()
    archive.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="images.tar.gz.*corrupt or truncated.*Re-download"):
        load_cifar10(archive, use_cache=False)


def test_garbage_zip(tmp_path):
    archive = tmp_path / "images.zip"
    archive.write_bytes(np.random.default_rng(0).bytes(2000))
    with pytest.raises(DataError, match="images.zip.*corrupt or truncated"):
        load_cifar10(archive, use_cache=False)


@pytest.mark.parametrize("packed", [False, True])
def test_corrupt_image_named(tmp_path, packed):
    make_tree(tmp_path / "src", classes=("a", "b"))
    bad = tmp_path / "src" / "test" / "b" / "9.png"
    bad.write_bytes(bad.read_bytes()[:60])
    source = pack(tmp_path / "src", tmp_path / "images.tar") if packed else tmp_path / "src"
    with pytest.raises(DataError, match="not a readable image") as info:
        load_cifar10(source, use_cache=False)
    assert ("test/b/9.png" if packed else str(bad)) in str(info.value)


def test_wrong_image_size(tmp_path):
    make_tree(tmp_path / "src", classes=("a", "b"))
    big = tmp_path / "src" / "train" / "a" / "a.png"
    Image.new("RGB", (31, 32)).save(big)
    with pytest.raises(DataError, match="31x32 pixels") as info:
        load_cifar10(tmp_path / "src", use_cache=False)
    assert str(big) in str(info.value)


@pytest.mark.parametrize("packed", [False, True])
def test_wrong_layout(tmp_path, packed):
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "other").mkdir()
    Image.new("RGB", (32, 32)).save(src / "images" / "x.png")
    source = pack(src, tmp_path / "flat.zip") if packed else src
    with pytest.raises(DataError, match="does not look like CIFAR-10") as info:
        load_cifar10(source, use_cache=False)
    assert str(source) in str(info.value) and "train/<class>" in str(info.value)


def test_not_an_archive(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(DataError, match="notes.txt.*not a readable"):
        load_cifar10(notes, use_cache=False)


@pytest.mark.parametrize("packed", [False, True])
def test_missing_split(tmp_path, packed):
    make_tree(tmp_path / "src", classes=("a", "b"), splits=("train",))
    source = pack(tmp_path / "src", tmp_path / "train-only.tgz") if packed else tmp_path / "src"
    with pytest.raises(DataError, match="no test/<class>/"):
        load_cifar10(source, use_cache=False)


def test_empty_class(tmp_path):
    make_tree(tmp_path / "src", classes=("a", "b"))
    (tmp_path / "src" / "test" / "c").mkdir()
    (tmp_path / "src" / "train" / "c").mkdir()
    with pytest.raises(DataError, match="no images: test/c/, train/c/"):
        load_cifar10(tmp_path / "src", use_cache=False)


def test_class_mismatch(tmp_path):
    make_tree(tmp_path / "src", classes=("a", "b"))
    for f in (tmp_path / "src" / "test" / "b").iterdir():
        f.unlink()
    (tmp_path / "src" / "test" / "b").rmdir()
    with pytest.raises(DataError, match="only in train/: b"):
        load_cifar10(tmp_path / "src", use_cache=False)


def test_bad_source_type():
    with pytest.raises(TypeError):
        load_cifar10(42)
    with pytest.raises(ValueError):
        load_cifar10("")


# ---------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------


def _fail_decode(*args, **kwargs):
    raise AssertionError("decoded although the cache should have been used")


@pytest.mark.parametrize("kind", ["dir", ".tar.gz"])
def test_cache_hit(tmp_path, monkeypatch, kind):
    expected = make_tree(tmp_path / "src", classes=("a", "b"))
    source = tmp_path / "src" if kind == "dir" else pack(tmp_path / "src", tmp_path / f"images{kind}")
    cache = tmp_path / "cache"
    assert_loaded(load_cifar10(source, cache_dir=cache), expected)
    [cached] = cache.glob("cifar10-*.npz")
    assert len(cached.stem) == len("cifar10-") + 16
    assert not [p for p in cache.iterdir() if p.suffix == ".tmp"]  # temp file was renamed
    monkeypatch.setattr(archives, "_decode_image", _fail_decode)
    assert_loaded(load_cifar10(source, cache_dir=cache), expected)


def test_cache_follows_changed_archive(tmp_path):
    cache = tmp_path / "cache"
    archive = tmp_path / "images.zip"
    make_tree(tmp_path / "v1", classes=("a", "b"), seed=1)
    pack(tmp_path / "v1", archive)
    load_cifar10(archive, cache_dir=cache)
    archive.unlink()
    expected = make_tree(tmp_path / "v2", classes=("a", "b"), seed=2)
    pack(tmp_path / "v2", archive)
    assert_loaded(load_cifar10(archive, cache_dir=cache), expected)
    assert len(list(cache.glob("cifar10-*.npz"))) == 2


@pytest.mark.parametrize("inside", ["cache", ".", "train/a/cache"])
def test_a_cache_inside_the_data_folder_is_refused_and_nothing_is_written(tmp_path, monkeypatch, inside):
    # Issue 41, case 1: a cache inside the data folder changed the folder's key, so every run added a new file.
    make_tree(tmp_path / "src", classes=("a", "b"))
    before = sorted(p.relative_to(tmp_path) for p in (tmp_path / "src").rglob("*"))
    monkeypatch.setenv("DEBLUR_CACHE", str(tmp_path / "src" / inside))
    for _ in range(2):
        with pytest.raises(DataError, match=r"inside the data folder .*set \$DEBLUR_CACHE .* outside it"):
            load_cifar10(tmp_path / "src")
    assert sorted(p.relative_to(tmp_path) for p in (tmp_path / "src").rglob("*")) == before
    load_cifar10(tmp_path / "src", use_cache=False)  # without a cache it loads
    monkeypatch.setenv("DEBLUR_CACHE", str(tmp_path / "src-cache"))  # a sibling whose name starts the same is fine
    load_cifar10(tmp_path / "src")
    assert len(list((tmp_path / "src-cache").glob("cifar10-*.npz"))) == 1


def test_cache_follows_changed_directory(tmp_path):
    cache = tmp_path / "cache"
    make_tree(tmp_path / "src", classes=("a", "b"))
    load_cifar10(tmp_path / "src", cache_dir=cache)
    changed = tmp_path / "src" / "train" / "b" / "10.png"
    pixels = np.full((32, 32, 3), 7, np.uint8)
    Image.fromarray(pixels).save(changed)
    stat = changed.stat()
    os.utime(changed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # coarse-mtime filesystems
    (x_train, _), _ = load_cifar10(tmp_path / "src", cache_dir=cache)
    np.testing.assert_array_equal(x_train[3], pixels)  # b/10.png sorts first in class b


def test_corrupt_cache_is_rebuilt(tmp_path):
    expected = make_tree(tmp_path / "src", classes=("a", "b"))
    cache = tmp_path / "cache"
    load_cifar10(tmp_path / "src", cache_dir=cache)
    [cached] = cache.glob("cifar10-*.npz")
    cached.write_bytes(b"not an npz")
    assert_loaded(load_cifar10(tmp_path / "src", cache_dir=cache), expected)
    with np.load(cached) as npz:  # rewritten with good data
        np.testing.assert_array_equal(npz["x_train"], expected["train"][0])


def test_use_cache_false_neither_reads_nor_writes(tmp_path, monkeypatch):
    make_tree(tmp_path / "src", classes=("a", "b"))
    cache = tmp_path / "cache"
    load_cifar10(tmp_path / "src", cache_dir=cache, use_cache=False)
    assert not cache.exists()
    load_cifar10(tmp_path / "src", cache_dir=cache)
    monkeypatch.setattr(archives, "_decode_image", _fail_decode)
    with pytest.raises(AssertionError, match="decoded although"):
        load_cifar10(tmp_path / "src", cache_dir=cache, use_cache=False)


def test_default_cache_dir(tmp_path, monkeypatch):
    make_tree(tmp_path / "src", classes=("a", "b"))
    load_cifar10(tmp_path / "src")
    assert len(list((tmp_path / "default-cache").glob("cifar10-*.npz"))) == 1
    monkeypatch.delenv(data.CACHE_ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data._cache_root(None) == tmp_path / "xdg" / "deblur"


def test_unwritable_cache_only_warns(tmp_path):
    expected = make_tree(tmp_path / "src", classes=("a", "b"))
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(RuntimeWarning, match="Could not write the CIFAR-10 cache"):
        result = load_cifar10(tmp_path / "src", cache_dir=blocker / "cache")
    assert_loaded(result, expected)


def test_describe_source(tmp_path):
    make_tree(tmp_path / "src", classes=("a", "b"))
    make_batches(tmp_path / "b" / "cifar-10-batches-py")
    assert "image-folder tree" in describe_source(tmp_path / "src")
    assert "pickle batches" in describe_source(tmp_path / "b")
    assert "does not exist" in describe_source(tmp_path / "missing")
    assert "archive" in describe_source(pack(tmp_path / "src", tmp_path / "x.zip"))


# ---------------------------------------------------------------------------
# Hostile archives (issue 15): bounded reads, checked before anything is read
# ---------------------------------------------------------------------------

_spec = importlib.util.spec_from_file_location(
    "bench_hostile", Path(__file__).resolve().parents[1] / "bench" / "hostile.py")
hostile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostile)

# The builders at test sizes: far over the limits, quick to build.
HOSTILE = {
    "oversized zip member": (lambda p: hostile.oversized_zip(p / "h.zip", size=64 << 20), "bytes, more than"),
    "oversized tar.gz member": (lambda p: hostile.oversized_tar_gz(p / "h.tgz", size=64 << 20), "bytes, more than"),
    "sparse tar member": (lambda p: hostile.sparse_tar(p / "s.tar.gz", size=3 << 30), "bytes, more than"),
    "inflated pickle": (lambda p: hostile.inflated_pickle(p / "i.tar.gz"), "claims"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_archive_refused_before_reading_and_nothing_cached(tmp_path, case):
    build, message = HOSTILE[case]
    path = build(tmp_path)
    if path is None:
        pytest.skip("GNU tar is needed to build a sparse member")
    with pytest.raises(DataError, match=message):
        load_cifar10(path, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
    # Measured in a process that has not imported Keras, as the audit did.
    growth = hostile.measure_library(path)
    assert growth["error"] and not growth["keras"]
    assert growth["growth_mb"] < 300, growth


def test_pickle_batch_rows_must_be_present_in_the_file(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    make_batches(folder, rows=2)
    hostile_blob = (tmp_path / "i.tar.gz")
    hostile.inflated_pickle(hostile_blob, rows=3)  # 3 claimed rows, 0 present
    with tarfile.open(hostile_blob) as tf:
        claim = tf.extractfile("cifar-10-batches-py/test_batch").read()
    (folder / "test_batch").write_bytes(claim)
    with pytest.raises(DataError, match="claims"):
        load_cifar10(folder)


def test_oversized_batch_file_and_image_file_in_folders(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    make_batches(folder, rows=2)
    with open(folder / "data_batch_3", "ab") as f:
        f.truncate(archives._MAX_BATCH_BYTES + 1)
    with pytest.raises(DataError, match="more than the"):
        load_cifar10(folder)
    tree = tmp_path / "tree"
    make_tree(tree, classes=("a", "b"), files=("1.png",))
    with open(tree / "test" / "b" / "1.png", "ab") as f:
        f.truncate(archives._MAX_IMAGE_BYTES + 1)
    with pytest.raises(DataError, match="more than the"):
        load_cifar10(tree, use_cache=False)


def test_huge_extended_tar_header_refused_before_it_is_read(tmp_path):
    # tarfile reads a GNU long name's whole body while iterating: its size is checked first.
    path = tmp_path / "longname.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo("train/cat/" + "x" * (1 << 20) + ".png")
        tf.addfile(info, io.BytesIO(b""))
    with pytest.raises(DataError, match="long file name or pax record"):
        load_cifar10(path, use_cache=False)


def test_too_many_image_members_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "_MAX_IMAGES", 5)
    tree = tmp_path / "tree"
    make_tree(tree, classes=("a", "b"), files=("1.png", "2.png"))  # 8 images
    with pytest.raises(DataError, match="more than 5 image files"):
        load_cifar10(pack(tree, tmp_path / "t.tar.gz"), use_cache=False)
    monkeypatch.setattr(archives, "_MAX_IMAGES", 100)
    monkeypatch.setattr(archives, "_MAX_IMAGE_TOTAL_BYTES", 1000)
    with pytest.raises(DataError, match="MiB of image files"):
        load_cifar10(pack(tree, tmp_path / "t.zip"), use_cache=False)
