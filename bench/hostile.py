"""Benchmark: peak memory while refusing hostile CIFAR-10 archives.

    python bench/hostile.py

Builds the hostile archives of our input audit (issue 15) in a temporary
folder, at the audit's sizes, and loads each one in a fresh process, twice:

- ``library``: ``deblur.data.load_cifar10(path)`` in a process that has not
  imported Keras; the figure is the growth of the peak RSS over the process's
  RSS just before the call;
- ``cli``: ``python -m deblur evaluate --data PATH``; the figure is its peak
  RSS minus the idle RSS of a process that only imported ``deblur.cli``.

Every load must fail with one clear error, and grow memory by less than
300 MB. Writes ``reports/bench_hostile.json``. The builders are imported by
``tests/test_data.py``, which runs them at smaller sizes.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "reports" / "bench_hostile.json"
ABOUT = ("Benchmark: peak memory growth while deblur refuses each hostile CIFAR-10 archive of the input audit "
         "(issue 15), in the library (no Keras imported) and through the command line. "
         "Regenerate with: python bench/hostile.py")
BATCH_NAMES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
GiB = 1 << 30


def _zeros(size, chunk=1 << 24):
    while size > 0:
        yield bytes(min(chunk, size))
        size -= chunk


class _Repeat(io.RawIOBase):
    """A readable stream of ``size`` copies of one byte, generated as it is read (never held whole)."""

    def __init__(self, byte, size):
        self.byte, self.left = byte, size

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = self.byte * n
        self.left -= n
        return n


def _repeated(byte, size):
    return io.BufferedReader(_Repeat(byte, size), 1 << 20)


def oversized_zip(path, *, size=GiB):
    """A small .zip holding one image member of ``size`` zero bytes (deflate compresses it ~1000:1)."""
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("cifar/train/cat/0001.png")
        info.compress_type = zipfile.ZIP_DEFLATED
        with zf.open(info, "w", force_zip64=True) as f:
            for block in _zeros(size):
                f.write(block)
    return path


def oversized_tar_gz(path, *, size=GiB):
    """A small .tar.gz holding one image member of ``size`` zero bytes."""

    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        info = tarfile.TarInfo("cifar/train/cat/0001.png")
        info.size = size
        tf.addfile(info, _repeated(b"\0", size))
    return path


def sparse_tar(path, *, size=3 * GiB):
    """A tiny GNU sparse .tar.gz whose one image member expands to ``size`` bytes (needs GNU tar)."""
    if shutil.which("tar") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        member = Path(tmp) / "train" / "cat" / "0001.png"
        member.parent.mkdir(parents=True)
        with open(member, "wb") as f:
            f.truncate(size)
        subprocess.run(["tar", "--sparse", "-czf", str(path), "-C", tmp, "train"], check=True)
    return path


class _Claim:
    """Pickles as ``numpy.ndarray(shape, dtype)``: an array that claims rows the file does not hold."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, np.dtype(dtype)

    def __reduce__(self):
        return np.ndarray, (self.shape, self.dtype)


def inflated_pickle(path, *, rows=524_288):
    """A tiny .tar.gz of six batches, built only from allowed globals, each claiming ``rows`` rows."""
    return _batches_archive(path, {b"data": _Claim((rows, 3072), np.uint8), b"labels": _Claim((rows,), np.int64)})


class _HexChain:
    """Pickles as nested ``_codecs.encode(..., "hex")`` calls: each level doubles the bytes."""

    def __init__(self, levels):
        self.levels = levels

    def __reduce__(self):
        import codecs

        inner = b"abcd" if self.levels == 0 else _HexChain(self.levels - 1)
        return codecs.encode, (inner, "hex")


def _batches_archive(path, payload):
    blob = pickle.dumps(payload, protocol=2)
    with tarfile.open(path, "w:gz") as tf:
        for name in BATCH_NAMES:
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return path


def codec_chain(path, *, levels=30):
    """Six tiny batches whose data is ``levels`` nested hex encodings (2**levels * 4 bytes: 4 GiB at 30)."""
    return _batches_archive(path, {b"data": _HexChain(levels), b"labels": []})


def object_array(path, *, count=2**31):
    """Six tiny batches holding an object array of ``count`` elements (filled with None: 8 bytes each)."""
    return _batches_archive(path, {b"junk": _Claim((count,), object), b"data": np.zeros((1, 3072), np.uint8),
                                   b"labels": [0]})


def long_name(path, *, size=GiB // 4):
    """A .tar.gz whose one member has a GNU long name of ``size`` bytes (tarfile reads it whole)."""

    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        # A hand-made GNU long-name header: its body is the name, streamed.
        header = tarfile.TarInfo("././@LongLink")
        header.type = tarfile.GNUTYPE_LONGNAME
        header.size = size
        tf.addfile(header, _repeated(b"x", size))
    return path


def many_members(path, *, count=2000, size=256 * 1024):
    """A .zip of ``count`` image members of ``size`` zero bytes each (each under the per-member limit)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        block = bytes(size)
        for i in range(count):
            zf.writestr(f"cifar/train/cat/{i:05d}.png", block)
    return path


BUILDERS = {
    "oversized .zip member (1 GiB)": (oversized_zip, "hostile.zip"),
    "oversized .tar.gz member (1 GiB)": (oversized_tar_gz, "hostile.tar.gz"),
    "sparse tar member (3 GiB)": (sparse_tar, "sparse.tar.gz"),
    "inflated pickle (524,288 rows)": (inflated_pickle, "inflated.tar.gz"),
    "hex-encode chain (4 GiB)": (codec_chain, "chain.tar.gz"),
    "object array (2**31 elements)": (object_array, "object.tar.gz"),
    "GNU long name (256 MiB)": (long_name, "longname.tar.gz"),
    "2,000 image members of 256 KiB": (many_members, "many.zip"),
}

_LIBRARY = """
import json, resource, sys
from deblur import data
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    data.load_cifar10(sys.argv[1], use_cache=False)
    error = None
except data.DataError as exc:
    error = str(exc)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"growth_mb": (peak - before) / 1024, "error": error, "keras": "keras" in sys.modules}))
"""

_IDLE = "import deblur.cli"


def _child_peak(argv, env=None):
    """(peak RSS in MB, exit status, stderr) of one child process, from its own rusage (os.wait4)."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, proc.returncode, stderr.strip()


def measure_library(path):
    """{"growth_mb", "error", "keras"} of ``load_cifar10(path)`` in a fresh process."""
    out = subprocess.run([sys.executable, "-c", _LIBRARY, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def measure_cli(path, scratch):
    """Peak RSS growth (MB) of ``deblur evaluate --data path`` over an idle ``deblur.cli`` process."""
    idle_mb, _, _ = _child_peak([sys.executable, "-c", _IDLE])
    env = dict(os.environ, DEBLUR_CACHE=str(Path(scratch) / "cache"))
    peak_mb, status, stderr = _child_peak([sys.executable, "-m", "deblur", "evaluate", "--model", "deblurnet",
                                           "--data", str(path), "--out", str(Path(scratch) / "results.json")], env)
    return {"growth_mb": peak_mb - idle_mb, "status": status, "stderr": stderr}


def main(argv=None):
    sys.path.insert(0, str(ROOT))
    from tools import records

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for case, (build, name) in BUILDERS.items():
            path = build(Path(tmp) / name)
            if path is None:
                print(f"{case}: skipped (GNU tar not found)")
                continue
            library = measure_library(path)
            cli = measure_cli(path, tmp)
            rows[case] = {"archive_bytes": path.stat().st_size, "library_growth_mb": round(library["growth_mb"], 1),
                          "cli_growth_mb": round(cli["growth_mb"], 1), "cli_status": cli["status"],
                          "cli_stderr_lines": len(cli["stderr"].splitlines()), "error": library["error"]}
            print(f"{case}: {rows[case]}")
    records.update_report(REPORT, rows, about=ABOUT, command=records.command_line(prog="python bench/hostile.py"))
    print("wrote", REPORT)


if __name__ == "__main__":
    main()
