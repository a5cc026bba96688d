"""Benchmark: training images/s of each model with each input path, on every installed backend.

    python bench/throughput.py                       # CPU: batch 32, every input path
    python bench/throughput.py --batch-sizes 32 64 128 256 512 --steps 50 --repeats 3   # a GPU

For each installed Keras backend (TensorFlow; JAX and PyTorch when
installed), in a fresh subprocess each, and each model (CAE, Win5-RB,
DeblurNet), the training images/s of ``model.fit`` fed by each input path
(``mode``), all with the study's corruption (flips on for the fresh paths):

- ``pre-corrupted``: in-memory float32 arrays of corrupted and clean images,
  corrupted once up front (the study's way; the fastest a data set can be
  fed from host memory);
- ``fresh-N``: :class:`deblur.training.pipeline.FreshCorruption` with ``workers=N``
  threads corrupting uint8 batches in numpy on the CPU;
- ``device``: :class:`deblur.training.pipeline.DeviceBatches` (clean uint8 batches)
  into :class:`deblur.device_corruption.CorruptionTrainer`, which corrupts
  them inside the training step, on the device that trains
  (``train(..., corruption="device")``).

Every mode is measured at batch 32. With several ``--batch-sizes``, the
pre-corrupted path is measured at each, and every mode again at the best
one. Each figure is the median of ``--repeats`` timed passes of ``--steps``
steps after a warm-up pass (compilation excluded); prediction (batch 256)
is measured once per model. The images are random (speed does not depend
on content). Writes one record per backend and device (``"jax on NVIDIA
H100 80GB HBM3"``, ``"tensorflow on CPU"``), with the machine its subprocess
saw, into ``reports/bench_throughput.json``; records of other devices are
kept.
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

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
REPORT = ROOT / "reports" / "bench_throughput.json"
ABOUT = ("Benchmark: training images/s of each model with each input path (pre-corrupted arrays, "
         "FreshCorruption with N workers, corruption on the training device), and prediction images/s, on each "
         "installed Keras backend and device (one record per backend and device, each measured in its own "
         "process). Regenerate with: python bench/throughput.py")
MODELS = ("cae", "win5rb", "deblurnet")
BACKENDS = ("tensorflow", "jax", "torch")
#: The batch size every mode is measured at (the study's).
BASE_BATCH = 32


def measure(*, models=MODELS, batch_sizes=(BASE_BATCH,), steps=10, repeats=3, fresh_workers=(1, 4, 8),
            build=None, log=None):
    """Training images/s of each model and input path on this process's backend.

    Parameters
    ----------
    models : sequence of str
        Names from :data:`deblur.models.MODELS`.
    batch_sizes : sequence of int
        Batch sizes for the pre-corrupted path; every mode is measured at
        :data:`BASE_BATCH` and at the best of these.
    steps : int
        Training steps per timed pass.
    repeats : int
        Timed passes per figure (the median is kept), after one warm-up pass.
    fresh_workers : sequence of int
        ``FreshCorruption`` worker counts to measure.
    build : callable, optional
        ``build(name) -> keras.Model`` (tests pass a small model);
        default ``deblur.models.build(name, seed=0)``.
    log : callable, optional
        Called with one line per measured model.

    Returns
    -------
    dict
        ``{"machine": ..., "device": "CPU" or the accelerator, "models": {name: {"best_batch_size": int,
        "pre_corrupted_by_batch": {batch: images/s}, "train_images_per_s": {batch: {mode: images/s}},
        "predict_images_per_s": float}}}`` (batch sizes as strings).
    """
    import keras
    import numpy as np

    from deblur import device_corruption, machine as machines, models as model_zoo
    from deblur.training import pipeline

    build = build or (lambda name: model_zoo.build(name, seed=0))
    machine = machines.machine_info()
    out = {"machine": machine, "device": (machine.get("devices") or ["CPU"])[0], "models": {}}
    rng = np.random.default_rng(0)

    def timed(fit, n):
        fit()  # warm-up: tracing and compilation
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fit()
            times.append(time.perf_counter() - start)
        return n / statistics.median(times)

    for name in models:
        model = build(name)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        model.optimizer.build(model.trainable_variables)  # now, not while TensorFlow traces the step (a second trace)
        trainer = device_corruption.CorruptionTrainer(model, device_corruption.DeviceCorruption(flips=True))
        trainer.compile(optimizer=model.optimizer, loss="mse")
        n_max = max(batch_sizes) * steps
        x_uint8 = rng.integers(0, 256, (n_max, 32, 32, 3), dtype=np.uint8)
        clean = x_uint8.astype("float32") / 255
        noisy = clean + np.float32(0.02) * rng.standard_normal(clean.shape, dtype=np.float32)

        def pre_corrupted(batch):
            n = batch * steps
            return timed(lambda: model.fit(noisy[:n], clean[:n], batch_size=batch, epochs=1, shuffle=True,
                                           verbose=0), n)

        def from_dataset(fit_model, data):
            return timed(lambda: fit_model.fit(data, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0),
                         data.batch_size * steps)

        by_batch = {b: pre_corrupted(b) for b in sorted(set(batch_sizes) | {BASE_BATCH})}
        best = max(by_batch, key=by_batch.get)
        per_mode = {}
        for batch in sorted({BASE_BATCH, best}):
            images = x_uint8[: batch * steps]
            rates = {"pre-corrupted": by_batch[batch]}
            for workers in fresh_workers:
                data = pipeline.FreshCorruption(images, batch_size=batch, seed=0, epochs=1, flips=True,
                                                workers=workers)
                rates[f"fresh-{workers}"] = from_dataset(model, data)
            rates["device"] = from_dataset(trainer, pipeline.DeviceBatches(images, batch_size=batch, seed=0,
                                                                          epochs=1))
            per_mode[str(batch)] = rates
        predict_n = 256 * max(1, steps // 4)
        predict = timed(lambda: model.predict(noisy[:predict_n], batch_size=256, verbose=0), predict_n)
        out["models"][name] = {"best_batch_size": best,
                               "pre_corrupted_by_batch": {str(b): r for b, r in by_batch.items()},
                               "train_images_per_s": per_mode, "predict_images_per_s": predict}
        if log:
            log(f"[{keras.backend.backend()} on {out['device']}] {name}: {per_mode}")
    return out


def record_key(backend, device):
    """The report key of one backend on one device: ``"jax on NVIDIA H100 80GB HBM3"``."""
    return f"{backend} on {device}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="training steps per timed pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[BASE_BATCH],
                        help="batch sizes to try with pre-corrupted arrays (every mode runs at 32 and the best)")
    parser.add_argument("--fresh-workers", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--backends", nargs="+", default=None, help="default: every installed one")
    parser.add_argument("--out", default=str(REPORT))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for value, name in ((args.steps, "--steps"), (args.repeats, "--repeats"),
                        *((b, "--batch-sizes") for b in args.batch_sizes),
                        *((w, "--fresh-workers") for w in args.fresh_workers)):
        if value < 1:
            parser.error(f"{name} must be positive integers; got {value}.")
    settings = {"steps_per_pass": args.steps, "repeats": args.repeats, "batch_sizes": sorted(args.batch_sizes),
                "fresh_workers": args.fresh_workers}
    if args.worker:
        result = measure(models=args.models, batch_sizes=args.batch_sizes, steps=args.steps,
                         repeats=args.repeats, fresh_workers=args.fresh_workers,
                         log=lambda line: print(line, file=sys.stderr, flush=True))
        print(json.dumps(result))
        return 0

    import deblur
    from tools import records

    backends = args.backends or [b for b in BACKENDS if importlib.util.find_spec(b) is not None]
    worker_args = ["--worker", "--steps", str(args.steps), "--repeats", str(args.repeats),
                   "--batch-sizes", *map(str, args.batch_sizes), "--fresh-workers", *map(str, args.fresh_workers),
                   "--models", *args.models]
    # The subprocesses import the same deblur as this process (a worktree's, not another installed copy).
    package_root = str(Path(deblur.__file__).resolve().parents[1])
    pythonpath = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    by_key = {}
    for backend in backends:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": pythonpath}
        print(f"== {backend}", flush=True)
        result = subprocess.run([sys.executable, __file__, *worker_args], env=env, capture_output=True, text=True)
        sys.stderr.write("\n".join(l for l in result.stderr.splitlines() if l.startswith("[")) + "\n")
        if result.returncode != 0:
            print(f"{backend} failed:\n{result.stderr[-3000:]}")
            by_key[record_key(backend, "?")] = {**settings, "backend": backend, "error": result.stderr[-500:]}
            continue
        measured = json.loads(result.stdout.strip().splitlines()[-1])
        by_key[record_key(backend, measured["device"])] = {**settings, "backend": backend, **measured}
    command = records.command_line(argv, prog="python bench/throughput.py")
    # Records of the earlier shape were keyed by backend alone; this shape replaces them.
    records.update_report(args.out, by_key, about=ABOUT, command=command, drop=set(BACKENDS))
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
