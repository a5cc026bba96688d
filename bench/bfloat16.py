"""Benchmark: bfloat16 against float32 on this CPU, side by side in one run.

    python bench/bfloat16.py --data ../shared/data/cifar10-jpeg.tar.gz --steps 3000

Three measurements, each in float32 and in bfloat16 (Keras's ``mixed_bfloat16``, :func:`deblur.models.set_precision`):

1. **Training speed**: images/s of DeblurNet's training step (batch 32, 32x32, Adam), the median of ``--repeats``
   timings of 30 steps after a warm-up.
2. **Restore speed**: megapixels/s of :func:`deblur.restore` with the shipped DeblurNet on a 1024x1024 photo
   (scikit-image's astronaut, scaled), the model loaded, best of three, for each tile size in :data:`TILES`.
3. **Accuracy after the same steps**: DeblurNet trained from the same seed for ``--steps`` steps with our recipe
   (fresh corruption, flips, cosine), in each precision, then evaluated in float32 on all 10,000 test images with the
   model cards' test corruption (MSE with a 95 % bootstrap interval). The bar (issue 25): bfloat16 within 1 % of
   float32, or ``precision="auto"`` stays float32.

And the shipped models' outputs in bfloat16 against float32 on 1,000 corrupted test images (PSNR between the two).
Writes one record per measurement into ``reports/bench_bfloat16.json``; run folders go to ``runs/bench_bfloat16``
(a rerun resumes them).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
REPORT = ROOT / "reports" / "bench_bfloat16.json"
ABOUT = ("Benchmark: bfloat16 (mixed_bfloat16) against float32 on one CPU: training images/s, restore megapixels/s, "
         "test MSE after the same steps, shipped models' output agreement. Regenerate with: python bench/bfloat16.py")
PRECISIONS = ("float32", "bfloat16")
BAR = 0.01  # bfloat16's test MSE at most 1 % above float32's
TILES = (256, 320, 384, 512)  # core sizes of deblur.restore's tiles tried (chose the default before auto_tile)


def train_speed(precision, *, repeats=5, steps=30, seed=0):
    """Training images/s of DeblurNet (batch 32 of 32x32) in ``precision``: the median of ``repeats`` timings."""
    import keras

    from deblur import corruption, models

    model = models.deblurnet(seed=seed)
    models.set_precision(model, precision)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    rng = np.random.default_rng(seed)
    clean = rng.random((32, 32, 32, 3), dtype=np.float32)
    noisy = corruption.corrupt(clean, seed=seed)[0]
    for _ in range(5):
        model.train_on_batch(noisy, clean)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(noisy, clean)
        rates.append(steps * 32 / (time.perf_counter() - start))
    return statistics.median(rates)


def restore_speed(precision, *, size=1024, tile):
    """Megapixels/s of ``deblur.restore`` with the shipped DeblurNet on a ``size`` x ``size`` photo: best of three."""
    from PIL import Image
    from skimage import data

    from deblur import inference, models

    photo = np.asarray(Image.fromarray(data.astronaut()).resize((size, size), Image.BICUBIC))
    model = models.load_pretrained("deblurnet")
    inference.restore(model, photo, progress=False, precision=precision, tile=tile)  # traces
    times = []
    for _ in range(3):
        start = time.perf_counter()
        inference.restore(model, photo, progress=False, precision=precision, tile=tile)
        times.append(time.perf_counter() - start)
    return size * size / 1e6 / min(times), min(times)


def accuracy_after(precision, arrays, steps, run_root):
    """Train DeblurNet for ``steps`` in ``precision``; its float32 test metrics and the run's training seconds."""
    from deblur import metrics, study

    recipe = study.recipe("ours", "deblurnet", steps=steps, precision=precision, seed=0)
    run = study.train_model(recipe, arrays["x_train"], run_dir=run_root / precision, verbose=2)
    if not run.finished:
        raise SystemExit(f"the {precision} run stopped before {steps} steps; run the same command again to resume")
    result = metrics.evaluate(run.model, arrays["x_test_corrupted"], arrays["x_test"], ci_seed=0)
    return result, sum(run.history["seconds"])


def shipped_agreement(arrays, n=1000):
    """Per shipped model: PSNR between its bfloat16 and float32 outputs, and the test MSE of each, on ``n`` images."""
    from deblur import inference, models

    x, clean = arrays["x_test_corrupted"][:n], arrays["x_test"][:n]
    out = {}
    for name in models.pretrained_names():
        model = inference.as_any_size_model(models.load_pretrained(name))
        y = {p: inference.restore(model, x, progress=False, precision=p, batch_size=250) for p in PRECISIONS}
        target = clean.astype(np.float32) / 255
        mse = {p: float(np.mean((y[p] - target) ** 2)) for p in PRECISIONS}
        difference = float(np.mean((y["bfloat16"] - y["float32"]) ** 2))
        out[name] = {"images": n, "psnr_bfloat16_vs_float32_db": round(10 * np.log10(1 / difference), 2),
                     "max_abs_difference": float(np.abs(y["bfloat16"] - y["float32"]).max()),
                     "test_mse": mse}
        print(f"{name}: bfloat16 vs float32 outputs {out[name]['psnr_bfloat16_vs_float32_db']} dB, "
              f"MSE {mse['float32']:.5f} -> {mse['bfloat16']:.5f}", flush=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="CIFAR-10 source (default: $DEBLUR_DATA, else download)")
    parser.add_argument("--steps", type=int, default=3000, help="training steps of each precision's run")
    parser.add_argument("--run-root", default="runs/bench_bfloat16")
    parser.add_argument("--skip-training", action="store_true", help="speeds and shipped-model agreement only")
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args(argv)

    from tools import records
    from deblur import machine, study

    if not machine.bfloat16_native():
        print("note: this CPU has no native bfloat16 (avx512_bf16 or amx_bf16): bfloat16 is emulated here, and "
              "precision='auto' means float32", flush=True)
    command = records.command_line(argv, prog="python bench/bfloat16.py")
    cpu = "avx512" if machine.machine_info()["avx512"] else "no-avx512"
    found = {}
    for precision in PRECISIONS:
        found[f"train_images_per_s/{precision}/{cpu}"] = {"precision": precision,
                                                           "train_images_per_s": round(train_speed(precision), 1)}
        for tile in TILES:
            mps, seconds = restore_speed(precision, tile=tile)
            found[f"restore_megapixels_per_s/{precision}/tile{tile}/{cpu}"] = {
                "precision": precision, "photo": "1024x1024", "tile": tile, "seconds": round(seconds, 3),
                "megapixels_per_s": round(mps, 3)}
            print(f"{precision}: restore 1024x1024 with tile {tile} in {seconds:.2f} s", flush=True)
        print(precision, found[f"train_images_per_s/{precision}/{cpu}"], flush=True)
    arrays = study.load_profile_data(study.get_profile("full"), args.data)
    found[f"shipped_agreement/{cpu}"] = shipped_agreement(arrays)
    if not args.skip_training:
        trained = {}
        for precision in PRECISIONS:
            result, seconds = accuracy_after(precision, arrays, args.steps, Path(args.run_root))
            trained[precision] = {"steps": args.steps, "batch_size": 32, "train_seconds": round(seconds, 1),
                                  "test_mse": result["mse"], "ci95": result["ci"],
                                  "test_psnr": result["psnr"]}
            print(precision, trained[precision], flush=True)
        ratio = trained["bfloat16"]["test_mse"] / trained["float32"]["test_mse"]
        found[f"accuracy_after_same_steps/{cpu}"] = {
            **trained, "mse_ratio_bfloat16_to_float32": round(ratio, 4), "bar": f"ratio <= {1 + BAR}",
            "meets_bar": bool(ratio <= 1 + BAR), "test_images": len(arrays["x_test"]),
            "recipe": "study.recipe('ours', 'deblurnet', steps=STEPS, precision=P, seed=0); evaluated in float32"}
        print(f"bfloat16 / float32 test MSE after {args.steps} steps: {ratio:.4f} (bar {1 + BAR})", flush=True)
    load = round(os.getloadavg()[0], 2)  # other work on the machine slows every speed: recorded beside them
    records.update_report(args.out, {k: {**v, "load_average": load} for k, v in found.items()}, about=ABOUT,
                          command=command)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
