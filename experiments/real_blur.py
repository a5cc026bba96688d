"""The study under real blur: the three models trained on the realistic family, scored per family beside the shipped ones.

Every shipped model knows the study's 5x5 Gaussian. Here the CAE, Win5-RB and DeblurNet are trained with our CPU
recipe on :data:`deblur.degradations.REALISTIC_CIFAR` (camera shake, straight motion, defocus, untruncated Gaussians
or no blur; Poisson-Gaussian noise; JPEG), each for the same CPU time (``--minutes``, a budget in seconds that fixes
the steps it reached in the run's history), on the full profile's 49,000 training images (1,000 held out for
validation, as the shipped DeblurNet). They are scored on the fixed realistic test set
(:func:`deblur.study.realistic_test`: all 10,000 test images, seed 60) per blur family, with JPEG-compressed images as
their own row, beside doing nothing and the Gaussian-trained shipped models: does the study's ranking (Win5-RB over
the CAE) hold when the blur is real? Writes ``reports/real_blur.json`` and ``docs/figures/real_blur.png``.

    python experiments/real_blur.py train --data ../shared/data/cifar10-jpeg.tar.gz --minutes 30
    python experiments/real_blur.py evaluate --data ../shared/data/cifar10-jpeg.tar.gz --minutes 30
    python experiments/real_blur.py export --data ../shared/data/cifar10-jpeg.tar.gz --minutes 30

Training resumes from ``runs/real_blur/<model>`` (the run folders checkpoint every epoch). ``export`` ships the three
as ``<model>_realistic`` (weights and card in ``deblur/weights``, scored on the cards' study test set and on the
realistic one), which the notebook's real-blur section runs on.
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
ROWS = study.REALISTIC_ROWS  # a row per blur family; "jpeg": the compressed images of every family; "all"
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


def score(restored, clean, draws):
    """Per row: test MSE and mean per-image PSNR, each with its 95 % bootstrap interval, and the image count."""
    return study.family_scores(restored, clean, draws, seed=SEEDS.bootstrap)


def finished_run(run_root, name):
    """The finished realistic-trained run of ``name``; an error that says how to finish it."""
    run_dir = Path(run_root) / name
    run = training.load_run(run_dir)
    if not run.finished:
        raise SystemExit(f"error: {run_dir} has not finished training; run `python experiments/real_blur.py "
                         f"train --data PATH` again to complete it.")
    return run


def load_data(source):
    """The full profile's training images (uint8) and all 10,000 test images (uint8), the study's subsets."""
    arrays = study.load_profile_data(study.get_profile(PROFILE), source)
    return arrays["x_train"], arrays["x_test"]


def evaluate(args, command):
    """Score identity, the shipped models and the realistic-trained ones on the realistic test set; record, figure."""
    _, (x_test, _) = data.load_cifar10(args.data)  # all 10,000 test images; no training set or its corruption
    corrupted, draws = study.realistic_test(x_test, SEEDS, DEGRADATION)
    methods, runs = {"identity": score(corrupted, x_test, draws)}, {}
    for name in study.MODEL_NAMES:
        methods[f"{name} (Gaussian-trained)"] = score(metrics.predict(models.load_pretrained(name), corrupted),
                                                      x_test, draws)
        run = finished_run(args.run_root, name)
        methods[f"{name} (realistic-trained)"] = score(metrics.predict(run.model, corrupted), x_test, draws)
        runs[name] = {"run_dir": str(run.run_dir), "steps": run.steps, "images_seen": run.steps * run_recipe(run).batch_size,
                      "train_seconds": float(sum(run.history.get("seconds", []))), "recipe": run_recipe(run).as_dict(),
                      "final_val_loss": run.history["val_loss"][-1] if run.history.get("val_loss") else None}
    record = {"methods": methods, "rows": list(ROWS), "runs": runs, "degradation": DEGRADATION.as_dict(),
              "test_images": int(len(x_test)), "test_subset_seed": SEEDS.test_subset,
              "realistic_test_seed": SEEDS.realistic_test, "bootstrap_seed": SEEDS.bootstrap,
              "families": {row: rows["n"] for row, rows in methods["identity"].items()},
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


def export(args):
    """Ship each realistic-trained run as ``<model>_realistic``: scored on the cards' study test set (all 10,000 test
    images, test corruption seed 20, as every card) and, from the record, on the realistic test set."""
    from tools import export_weights  # writes into deblur/weights: repository maintenance

    record = files.read_json(args.out)["records"]["real_blur"]
    arrays = study.load_profile_data(study.get_profile("pretrained", n_test=None), args.data)  # all 10,000
    identity = metrics.evaluate(None, arrays["x_test_corrupted"], arrays["x_test"], ci_seed=SEEDS.bootstrap)
    train_command = f"python experiments/real_blur.py train --data {args.data} --minutes {args.minutes:g}"
    for name in args.models:
        run = finished_run(args.run_root, name)
        if Path(record["runs"][name]["run_dir"]) != Path(run.run_dir):
            raise SystemExit(f"error: {args.out} scored {record['runs'][name]['run_dir']}, not {run.run_dir}; run "
                             "evaluate first.")
        test = metrics.evaluate(run.model, arrays["x_test_corrupted"], arrays["x_test"], ci_seed=SEEDS.bootstrap)
        extra = {"test_metrics_measured_on": "all 10,000 stand-in test images, test corruption seed 20 (the "
                                             "study's Gaussian, outside this model's training family)",
                 "realistic_test_metrics": record["methods"][f"{name} (realistic-trained)"],
                 "realistic_test_measured_on": f"all 10,000 stand-in test images, {OUT} (realistic test seed "
                                               f"{SEEDS.realistic_test})"}
        card = export_weights.export_pretrained(
            run.run_dir, recipe=real_recipe(name, args.minutes), evaluation={"test": test, "identity": identity},
            command=f"{train_command} --models {name}", data_source=data.describe_source(args.data),
            data_sha256=export_weights.archive_sha256(args.data), name=f"{name}_realistic", extra=extra)
        print(f"exported {card['name']}: test MSE {test['mse']:.5f} (study's corruption), realistic PSNR "
              f"{extra['realistic_test_metrics']['all']['psnr']:.2f} dB", flush=True)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train_parser = sub.add_parser("train", help="train (or resume) the three models on the realistic family")
    evaluate_parser = sub.add_parser("evaluate", help="score per family; record and figure")
    export_parser = sub.add_parser("export", help="ship the realistic-trained runs as <model>_realistic")
    evaluate_parser.add_argument("--figure", default=FIGURE)
    for p in (evaluate_parser, export_parser):
        p.add_argument("--out", default=OUT)
    for p in (train_parser, export_parser):
        p.add_argument("--models", nargs="+", default=list(study.MODEL_NAMES), choices=study.MODEL_NAMES)
    for p in (train_parser, evaluate_parser, export_parser):
        p.add_argument("--data", default=None)
        p.add_argument("--run-root", type=Path, default=RUN_ROOT)
        p.add_argument("--minutes", type=float, default=20.0, help="CPU minutes of training per model")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    command = records.command_line(argv, prog="python experiments/real_blur.py")
    if args.command == "train":
        x_train, _ = load_data(args.data)
        for name in args.models:
            run = train(x_train, name, minutes=args.minutes, run_root=args.run_root)
            print(f"{name}: {run.steps:,} steps, finished {run.finished}", flush=True)
    elif args.command == "export":
        export(args)
    else:
        files.check_outputs([args.out, args.figure], [p for p in (args.data, args.run_root) if p], allow=(args.out,))
        evaluate(args, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
