"""Benchmark: one process on every core against one process per core, and the cost of averaging gradients.

    python bench/distributed.py

On one machine (JAX on the CPU, synthetic 32x32 images, batch 32, each model's training step through
``keras.Model.fit``):

- ``1 process x N cores``: a plain process that uses every core;
- ``N processes x 1 core``: ``deblur.training.distributed.launch``, each process pinned to one core, fed its shard of
  every global batch (Keras's ``DataParallel`` over the processes' devices);
- ``allreduce_ms``: in the group, the time of one ``psum`` of a float32 buffer as large as the model's gradient
  (the collective every step adds), through JAX's CPU collectives (gloo over TCP on 127.0.0.1).

One machine cannot show a speed-up across hosts: the processes share its cores and memory bandwidth. What it shows
is the collective's cost per step for each gradient size. Writes ``reports/bench_distributed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
REPORT = ROOT / "reports" / "bench_distributed.json"
ABOUT = ("Benchmark: training images/s of 1 process on every core against 1 process per core (JAX, CPU, batch 32), "
         "and the time of averaging one gradient across the processes. Regenerate with: python bench/distributed.py")
MODELS = ("deblurnet", "cae", "win5rb")


def _worker(models_, steps, out):
    """Time ``steps`` training steps of each model (after a warm-up) and, in a group, one gradient all-reduce."""
    from deblur.training import distributed

    group = distributed.initialize()
    import jax
    import keras
    import numpy as np

    from deblur import models

    x = np.random.default_rng(0).random((32 * steps, 32, 32, 3), dtype=np.float32)
    result = {"processes": group.count, "cores_per_process": len(os.sched_getaffinity(0)), "models": {}}
    for name in models_:
        model = models.build(name, seed=0)
        model.compile(optimizer="adam", loss="mse")
        start, stop = group.shard(32)
        local = x.reshape(steps, 32, 32, 32, 3)[:, start:stop].reshape(-1, 32, 32, 3)
        model.fit(local[: 2 * (stop - start)], local[: 2 * (stop - start)], batch_size=stop - start, verbose=0)
        began = time.perf_counter()
        model.fit(local, local, batch_size=stop - start, epochs=1, verbose=0, shuffle=False)
        seconds = time.perf_counter() - began
        entry = {"parameters": model.count_params(), "images_per_s": 32 * steps / seconds,
                 "seconds_per_step": seconds / steps}
        if group.count > 1:
            mesh = jax.sharding.Mesh(np.array(jax.devices()), ("p",))
            spec = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("p"))
            grads = jax.make_array_from_process_local_data(spec, np.ones((1, model.count_params()), np.float32))
            total = jax.jit(lambda g: g.sum(axis=0), out_shardings=jax.sharding.NamedSharding(
                mesh, jax.sharding.PartitionSpec()))
            total(grads).block_until_ready()
            began = time.perf_counter()
            for _ in range(20):
                total(grads).block_until_ready()
            entry["allreduce_ms"] = (time.perf_counter() - began) / 20 * 1000
        result["models"][name] = entry
        print(name, json.dumps(entry), flush=True)
    if group.is_chief:
        Path(out).write_text(json.dumps(result))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--processes", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--out", default=str(REPORT))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.models, args.steps, args.worker)
        return 0
    os.environ["KERAS_BACKEND"] = "jax"  # the record's machine names the workers' backend
    from deblur.training import distributed
    from tools import records

    command = records.command_line(argv, prog="python bench/distributed.py")
    worker_args = ["--models", *args.models, "--steps", str(args.steps)]
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for processes in (1, args.processes):
            out = Path(tmp) / f"{processes}.json"
            status = distributed.launch([*worker_args, "--worker", str(out)], processes,
                                        program=[sys.executable, str(Path(__file__).resolve())])
            if status:
                raise SystemExit(f"error: the {processes}-process run failed (exit status {status})")
            runs[f"{processes} process(es)"] = json.loads(out.read_text())
    one, many = runs["1 process(es)"], runs[f"{args.processes} process(es)"]
    record = {"steps": args.steps, "batch_size": 32, "backend": "jax", "runs": runs,
              "speedup": {m: many["models"][m]["images_per_s"] / one["models"][m]["images_per_s"]
                          for m in args.models}}
    records.update_report(args.out, {"cpu": record}, about=ABOUT, command=command)
    for m in args.models:
        print(f"{m}: {one['models'][m]['images_per_s']:.0f} images/s (1 x {one['cores_per_process']} cores), "
              f"{many['models'][m]['images_per_s']:.0f} ({args.processes} x 1 core), all-reduce of "
              f"{many['models'][m]['parameters']:,} floats {many['models'][m]['allreduce_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
