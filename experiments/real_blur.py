"""The study under real blur: the three models trained on the realistic family, scored per family beside the shipped ones.

Every shipped model knows the study's 5x5 Gaussian. Here the CAE, Win5-RB and DeblurNet are trained with our CPU
recipe on :data:`deblur.degradations.REALISTIC_CIFAR` (camera shake, straight motion, defocus, untruncated Gaussians
or no blur; Poisson-Gaussian noise; JPEG), each for the same CPU time (``--minutes``, a budget in seconds that fixes
the steps it reached in the run's history), on the full profile's 49,000 training images (1,000 held out for
validation, as the shipped DeblurNet). They are scored on the fixed realistic test set
(:func:`deblur.study.realistic_test`: all 10,000 test images, seed 60) per blur family, with JPEG-compressed images as
their own row, beside doing nothing and the Gaussian-trained shipped models: does the study's ranking (Win5-RB over
the CAE) hold when the blur is real? Writes ``reports/real_blur.json`` and ``docs/figures/real_blur.png``.

    python experiments/real_blur.py train --data ../shared/data/cifar10-jpeg.tar.gz --minutes 20
    python experiments/real_blur.py evaluate --data ../shared/data/cifar10-jpeg.tar.gz

Training resumes from ``runs/real_blur/<model>`` (the run folders checkpoint every epoch).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np

from deblur import data, degradations, files, metrics, models, plots, study, training
from deblur.recipe import Recipe

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import records  # noqa: E402

# ---------------------------------------------------------------- config
PROFILE = "full"             # its 50,000 training images and 10,000 test images
DEGRADATION = degradations.REALISTIC_CIFAR
VALIDATION_SPLIT = 0.02      # as the shipped DeblurNet: 1,000 validation images
SEEDS = study.Seeds(0)
RUN_ROOT = Path("runs/real_blur")
OUT = "reports/real_blur.json"
FIGURE = "docs/figures/real_blur.png"
ROWS = (*degradations.FAMILIES, "jpeg", "all")  # a row per blur family; "jpeg": the compressed images of every family
# -------------------------------------------------------------------------

ABOUT = (" ".join(__doc__.split("\n\n")[1].split())
         + " Regenerate with the commands in experiments/real_blur.py's docstring.")


def real_recipe(model, minutes):
    """Our CPU recipe for ``model`` on the realistic family, ``minutes`` of training (a budget in seconds)."""
    return study.recipe("ours", model, budget_seconds=60.0 * minutes, validation_split=VALIDATION_SPLIT,
                        degradation=DEGRADATION, seed=SEEDS.base)


def train(x_train, model, *, minutes, run_root=RUN_ROOT, verbose=2):
    """Train (or resume) ``model`` on the realistic family in ``run_root / model``; the TrainedRun."""
    return study.train_model(real_recipe(model, minutes), x_train, run_dir=Path(run_root) / model, verbose=verbose)


def family_rows(draws):
    """Which test images each row of the table holds: ``{row: boolean mask (N,)}``."""
    names = draws.names
    masks = {family: names == family for family in degradations.FAMILIES}
    return {**masks, "jpeg": draws.jpeg_quality > 0, "all": np.ones(len(names), bool)}


def score(restored, clean, masks):
    """Per row: test MSE and mean per-image PSNR, each with its 95 % bootstrap interval, and the image count."""
    per_image = metrics.per_image_metrics(restored, clean)
    out = {}
    for row, mask in masks.items():
        mse, psnr = per_image["mse"][mask], per_image["psnr"][mask]
        out[row] = {"n": int(mask.sum()), "mse": float(mse.mean()), "psnr": float(psnr.mean()),
                    "mse_ci95": list(metrics.bootstrap_ci(mse, seed=SEEDS.bootstrap)),
                    "psnr_ci95": list(metrics.bootstrap_ci(psnr, seed=SEEDS.bootstrap))}
    return out


def load_data(source):
    """The full profile's training images (uint8) and all 10,000 test images (uint8), the study's subsets."""
    arrays = study.load_profile_data(study.get_profile(PROFILE), source)
    return arrays["x_train"], arrays["x_test"]


def evaluate(args, command):
    """Score identity, the shipped models and the realistic-trained ones on the realistic test set; record, figure."""
    _, (x_test, _) = data.load_cifar10(args.data)  # all 10,000 test images; no training set or its corruption
    corrupted, draws = study.realistic_test(x_test, SEEDS, DEGRADATION)
    masks = family_rows(draws)
    clean = x_test.astype(np.float32) / 255
    methods, runs = {"identity": score(corrupted, clean, masks)}, {}
    for name in study.MODEL_NAMES:
        methods[f"{name} (Gaussian-trained)"] = score(metrics.predict(models.load_pretrained(name), corrupted),
                                                      clean, masks)
        run_dir = Path(args.run_root) / name
        run = training.load_run(run_dir)
        if not run.finished:
            raise SystemExit(f"error: {run_dir} has not finished training; run `python experiments/real_blur.py "
                             f"train --data PATH` again to complete it.")
        methods[f"{name} (realistic-trained)"] = score(metrics.predict(run.model, corrupted), clean, masks)
        runs[name] = {"run_dir": str(run_dir), "steps": run.steps, "images_seen": run.steps * run_recipe(run).batch_size,
                      "train_seconds": float(sum(run.history.get("seconds", []))), "recipe": run_recipe(run).as_dict(),
                      "final_val_loss": run.history["val_loss"][-1] if run.history.get("val_loss") else None}
    record = {"methods": methods, "rows": list(ROWS), "runs": runs, "degradation": DEGRADATION.as_dict(),
              "test_images": int(len(x_test)), "test_subset_seed": SEEDS.test_subset,
              "realistic_test_seed": SEEDS.realistic_test, "bootstrap_seed": SEEDS.bootstrap,
              "families": {row: int(mask.sum()) for row, mask in masks.items()},
              "draws_sha256": draws_sha256(draws), "figure": args.figure}
    records.update_report(args.out, {"real_blur": record}, about=ABOUT, command=command)
    plots.family_bars(methods, rows=[r for r in ROWS if r != "all"], path=args.figure)
    for name, rows in methods.items():
        print(f"{name:36s} " + "  ".join(f"{row} {rows[row]['psnr']:.2f}" for row in ROWS))


def run_recipe(run):
    """The recipe a run folder recorded (its ``config.json``)."""
    return Recipe.from_dict(files.read_json(Path(run.run_dir) / "config.json"))


def draws_sha256(draws):
    """One checksum of everything the realistic test set drew (kernels as float32, levels, qualities, seeds)."""
    parts = [draws.family.astype(np.int64), draws.kernels.astype(np.float32), draws.noise_std, draws.photons,
             draws.jpeg_quality.astype(np.int64), draws.seeds.astype(np.int64)]
    return hashlib.sha256(b"".join(np.ascontiguousarray(p).tobytes() for p in parts)).hexdigest()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train_parser = sub.add_parser("train", help="train (or resume) the three models on the realistic family")
    evaluate_parser = sub.add_parser("evaluate", help="score per family; record and figure")
    evaluate_parser.add_argument("--figure", default=FIGURE)
    evaluate_parser.add_argument("--out", default=OUT)
    train_parser.add_argument("--models", nargs="+", default=list(study.MODEL_NAMES), choices=study.MODEL_NAMES)
    for p in (train_parser, evaluate_parser):
        p.add_argument("--data", default=None)
        p.add_argument("--run-root", type=Path, default=RUN_ROOT)
        p.add_argument("--minutes", type=float, default=20.0, help="CPU minutes of training per model")
    args = parser.parse_args(argv)
    command = records.command_line(argv, prog="python experiments/real_blur.py")
    if args.command == "train":
        x_train, _ = load_data(args.data)
        for name in args.models:
            run = train(x_train, name, minutes=args.minutes, run_root=args.run_root)
            print(f"{name}: {run.steps:,} steps, finished {run.finished}", flush=True)
    else:
        files.check_outputs([args.out, args.figure], [p for p in (args.data, args.run_root) if p], allow=(args.out,))
        evaluate(args, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
