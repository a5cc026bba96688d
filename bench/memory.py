"""Benchmark: peak memory (RSS) of a full-data training run, our pipeline vs the study's arrays.

    python bench/memory.py --data ../shared/data/cifar10-jpeg.tar.gz

Runs the same short training (Win5-RB, batch 32, ``--steps`` steps on the
full 50,000-image training set) twice, each in a fresh process, and reads
the process's peak resident memory (``ru_maxrss``):

- ``study``: the study's arrays: the 60,000 images as float64 in [0, 1],
  corrupted once into a second float64 array (about 2.9 GB together), then
  ``model.fit`` on the training part with a 10 % validation split;
- ``ours``: ``deblur.training.train(..., corruption="fresh")`` on the uint8
  images (150 MB), every batch corrupted as it is drawn.

The baseline of a process that only imports Keras and builds the model is
measured too, so the data's share is visible. Writes its record (keyed by
the model) into ``reports/bench_memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
REPORT = ROOT / "reports" / "bench_memory.json"
ABOUT = ("Benchmark: peak memory (RSS) of a short full-data training run, our pipeline against the study's "
         "float64 arrays, each in a fresh process. Regenerate with: python bench/memory.py --data PATH")


def _worker(mode, data_source, steps):
    import keras
    import numpy as np

    from deblur import corruption, data, models, training
    from deblur.recipe import Epochs, Recipe

    class StopAfter(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 >= steps:
                self.model.stop_training = True

    model = models.win5rb(seed=0)
    if mode == "baseline":
        model(np.zeros((1, 32, 32, 3), np.float32))
    else:
        (x_train, _), (x_test, _) = data.load_cifar10(data_source)
        if mode == "study":
            x = np.concatenate([x_train, x_test]).astype("float64") / 255.0
            del x_train, x_test
            noisy = np.empty_like(x)
            for start in range(0, len(x), 1000):  # the study's float64 result, built in chunks
                noisy[start:start + 1000] = corruption.corrupt(x[start:start + 1000], seed=start)[0]
            model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
            model.fit(noisy[:50000], x[:50000], batch_size=32, epochs=1, validation_split=0.1,
                      callbacks=[StopAfter()], verbose=0)
        else:
            with tempfile.TemporaryDirectory() as run_dir:
                training.train(model, x_train, Recipe("deblurnet", length=Epochs(1), batch_size=32, corruption="fresh", flips=True), run_dir=run_dir, callbacks=[StopAfter()], verbose=0)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"mode": mode, "peak_rss_mb": peak_kb / 1024}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="CIFAR-10 source (default: DEBLUR_DATA or download)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--out", default=str(REPORT))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.data, args.steps)
        return 0

    from deblur import data
    from tools import records

    peaks = {}
    for mode in ("baseline", "study", "ours"):
        cmd = [sys.executable, __file__, "--worker", mode, "--steps", str(args.steps)]
        if args.data:
            cmd += ["--data", args.data]
        result = subprocess.run(cmd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"{mode} failed:\n{result.stderr[-3000:]}")
        peaks[mode] = json.loads(result.stdout.strip().splitlines()[-1])["peak_rss_mb"]
        print(f"{mode:9s} peak RSS {peaks[mode]:8.0f} MB", flush=True)
    record = {
        "peak_rss_mb": peaks,
        "ratio_ours_to_study": peaks["ours"] / peaks["study"],
        "target": "at most one third of the study's",
        "model": "win5rb",
        "steps": args.steps,
        "data": data.describe_source(args.data),
    }
    command = records.command_line(argv, prog="python bench/memory.py")
    records.update_report(args.out, {record["model"]: record}, about=ABOUT, command=command)
    print(f"ours / study = {record['ratio_ours_to_study']:.2f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
