"""Benchmark: corrupting all 60,000 CIFAR-10 images, ours vs the study's loop.

    python bench/corruption.py --data ../shared/data/cifar10-jpeg.tar.gz

Three ways to produce the 60,000 corrupted images, timed in the same run
(best of ``--repeats``), on the same uint8 images:

- ``study``: the study's way: the images as one float64 array in [0, 1],
  then per image ``cv2.GaussianBlur(img, (5, 5), sigma)`` with
  ``sigma = random.uniform(1, 4)``, plus ``np.random.normal(0, 0.02)``
  noise, into a float64 output array.
- ``corrupt``: ``deblur.corruption.corrupt`` on the uint8 array: one float32
  output array (chunks blurred on a 2-thread pool, noise in image order).
- ``pipeline``: ``deblur.training.pipeline.FreshCorruption``, the training pipeline:
  the 1,875 batches of 32 it serves for one epoch over the same images, one
  after the other on one thread (what the training loop waits for).

Also checks that ours agrees with OpenCV (largest difference of the blur
against ``cv2.GaussianBlur`` on 1,000 images with the same sigmas). Writes
its record, ``corruption``, into ``reports/bench_corruption.json`` (see
:func:`tools.records.update_report`).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
REPORT = ROOT / "reports" / "bench_corruption.json"
ABOUT = ("Benchmark: corrupting all 60,000 CIFAR-10 images, ours against the study's per-image loop, timed in "
         "the same run (best of the repeats). Regenerate with: python bench/corruption.py --data PATH")


def study_loop(x_uint8, seed=0):
    """The study's corruption, as its notebook wrote it (float64, one image at a time)."""
    import cv2

    random.seed(seed)
    np.random.seed(seed)  # the study used the global state; kept here to be faithful
    x = x_uint8.astype("float64") / 255.0
    out = np.empty_like(x)
    for i in range(len(x)):
        sigma = random.uniform(1, 4)
        blurred = cv2.GaussianBlur(x[i], (5, 5), sigma)
        out[i] = blurred + 0.02 * np.random.normal(size=blurred.shape)
    return out


def ours_corrupt(x_uint8, seed=0):
    from deblur import corruption

    return corruption.corrupt(x_uint8, seed=seed)[0]


def ours_pipeline(x_uint8, seed=0):
    from deblur.training import pipeline

    ds = pipeline.FreshCorruption(x_uint8, batch_size=32, seed=seed, shuffle=True)
    for step in range(ds.batches_per_epoch):
        ds.batch(0, step)
    return None


def agreement_with_opencv(x_uint8, n=1000):
    import cv2

    from deblur import corruption

    x = x_uint8[:n].astype(np.float32) / 255
    sigmas = np.random.default_rng(0).uniform(1, 4, n)
    ours = corruption.gaussian_blur(x, sigmas)
    ref = np.stack([cv2.GaussianBlur(x[i], (5, 5), sigmas[i]) for i in range(n)])
    return float(np.abs(ours - ref).max())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="CIFAR-10 source (default: DEBLUR_DATA or download)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args(argv)

    from deblur import data
    from tools import records

    (x_train, _), (x_test, _) = data.load_cifar10(args.data)
    x = np.concatenate([x_train, x_test])
    print(f"{len(x):,} images {x.shape[1:]} {x.dtype}")
    methods = {"study": study_loop, "corrupt": ours_corrupt, "pipeline": ours_pipeline}
    seconds = {name: [] for name in methods}
    for repeat in range(args.repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            out = fn(x, seed=repeat)
            seconds[name].append(time.perf_counter() - start)
            del out
            print(f"  {name:9s} repeat {repeat + 1}: {seconds[name][-1]:.2f} s", flush=True)
    best = {name: min(v) for name, v in seconds.items()}
    record = {
        "n_images": int(len(x)),
        "seconds_best": best,
        "seconds_all": seconds,
        "speedup_vs_study": {name: best["study"] / best[name] for name in methods},
        "max_abs_diff_vs_opencv": agreement_with_opencv(x),
        "target": "at least 20x faster than the study's loop",
        "data": data.describe_source(args.data),
    }
    command = records.command_line(argv, prog="python bench/corruption.py")
    records.update_report(args.out, {"corruption": record}, about=ABOUT, command=command)
    for name in methods:
        print(f"{name:9s} {best[name]:6.2f} s  ({record['speedup_vs_study'][name]:.1f}x the study's speed)")
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
