"""Benchmark: training and prediction images/s of each model, on every installed backend.

    python bench/throughput.py

For each installed Keras backend (TensorFlow; JAX and PyTorch when
installed), in a fresh subprocess each, and each model (CAE, Win5-RB,
DeblurNet), at batch 32:

- ``train_study``: ``model.fit`` on in-memory float64 arrays of clean and
  pre-corrupted images, the study's way;
- ``train_ours``: ``model.fit`` on :class:`deblur.pipeline.FreshCorruption`
  (uint8 images corrupted batch by batch, ``workers=2``), our way;
- ``predict``: ``model.predict`` at batch 256;
- ``pipeline_share``: the time one batch takes to prepare on one thread,
  over the time of one training step (the share of a step the input
  pipeline would cost if it did not overlap with training at all).

Each figure is the median of ``--repeats`` timed passes of ``--steps``
steps after a warm-up pass (compilation excluded). The images are random
(speed does not depend on content). Writes one record per backend (with
the machine its subprocess saw) into ``reports/bench_throughput.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPORT = Path(__file__).resolve().parents[1] / "reports" / "bench_throughput.json"
ABOUT = ("Benchmark: training and prediction images/s of each model on each installed Keras backend (one record "
         "per backend, each measured in its own process). Regenerate with: python bench/throughput.py")
MODELS = ("cae", "win5rb", "deblurnet")
BACKENDS = ("tensorflow", "jax", "torch")


def _worker(steps, repeats):
    """Runs inside one backend's subprocess; prints one JSON line."""
    import keras
    import numpy as np

    from deblur import models, pipeline, records

    batch = 32
    n = batch * steps
    rng = np.random.default_rng(0)
    x_uint8 = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    clean64 = x_uint8.astype("float64") / 255.0
    noisy64 = clean64 + 0.02 * rng.standard_normal(clean64.shape)
    out = {"machine": records.machine_info(), "models": {}}
    for name in MODELS:
        model = models.build(name, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        ds = pipeline.FreshCorruption(x_uint8, batch_size=batch, seed=0, epochs=1, workers=2)

        def timed(fn):
            fn()  # warm-up: tracing and compilation
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            return n / statistics.median(times)

        study = timed(lambda: model.fit(noisy64, clean64, batch_size=batch, epochs=1, shuffle=True, verbose=0))
        ours = timed(lambda: model.fit(ds, epochs=1, shuffle=False, verbose=0))
        predict = timed(lambda: model.predict(noisy64.astype("float32"), batch_size=256, verbose=0))
        prep = []
        for step in range(steps):
            start = time.perf_counter()
            ds.batch(0, step)
            prep.append(time.perf_counter() - start)
        step_s = batch / ours
        out["models"][name] = {
            "train_study_images_per_s": study,
            "train_ours_images_per_s": ours,
            "predict_images_per_s": predict,
            "batch_prep_seconds": statistics.median(prep),
            "train_step_seconds": step_s,
            "pipeline_share": statistics.median(prep) / step_s,
        }
        print(f"[{keras.backend.backend()}] {name}: {out['models'][name]}", file=sys.stderr, flush=True)
    print(json.dumps(out))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="training steps per timed pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", nargs="+", default=None, help="default: every installed one")
    parser.add_argument("--out", default=str(REPORT))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.steps, args.repeats)
        return 0

    from deblur import records

    backends = args.backends or [b for b in BACKENDS if importlib.util.find_spec(b) is not None]
    settings = {"batch_size": 32, "steps_per_pass": args.steps, "repeats": args.repeats}
    by_backend = {}
    for backend in backends:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        print(f"== {backend}", flush=True)
        result = subprocess.run(
            [sys.executable, __file__, "--worker", "--steps", str(args.steps), "--repeats", str(args.repeats)],
            env=env, capture_output=True, text=True,
        )
        sys.stderr.write("\n".join(l for l in result.stderr.splitlines() if l.startswith("[")) + "\n")
        if result.returncode != 0:
            print(f"{backend} failed:\n{result.stderr[-3000:]}")
            by_backend[backend] = {**settings, "error": result.stderr[-500:]}
            continue
        by_backend[backend] = {**settings, **json.loads(result.stdout.strip().splitlines()[-1])}
    command = records.command_line(argv, prog="python bench/throughput.py")
    records.update_report(args.out, by_backend, about=ABOUT, command=command)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
