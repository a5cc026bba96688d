"""Ablation runs for a model that beats Win5-RB (research in progress).

Trains each named configuration below on the ``full`` profile's data (45,000
train / 5,000 validation stand-in images, the same seeds and corruption as the
shipped models), evaluates it on all 10,000 test images with the same test
corruption, and adds one record per configuration (a :class:`deblur.study.Recipe`
trained by :func:`deblur.study.train_model`) to the report ``--out``
(default ``reports/ablation_gpu.json``): parameters, conv GFLOP per image,
epochs, training seconds, images seen, test metrics, with command, machine
and date. Finished configurations are skipped and unfinished ones resume (run
folders in ``runs/ablation/``), so the command can be repeated across
time-limited sessions.

    KERAS_BACKEND=jax python experiments/ablation.py --data cifar10-jpeg.tar.gz \
        --configs nafunet32-cosine win5rb_fixed-study

``--n-train``/``--n-test``/``--epochs`` shrink a run for smoke tests.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from deblur import metrics, models, study
from deblur.recipe import Epochs

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import records  # noqa: E402

if str(Path(__file__).resolve().parent) not in sys.path:  # loaded by a test, not run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import candidates  # noqa: E402 - experiments/candidates.py


def win5rb_fixed(input_shape=(None, None, 3), *, seed=None, name="win5rb_fixed"):
    """Win5-RB whose residual BatchNorm starts at gamma = 0 (identity at init)."""
    return models.win5rb(input_shape, seed=seed, identity_init=True, name=name)


#: Builders by recipe model name: the package's and the research candidates.
BUILDERS = {**models.MODELS, "win5rb_fixed": win5rb_fixed, "nafunet": candidates.nafunet}


def _on_full_profile(model, **changes):
    """The study's recipe (fixed corruption, the study's epochs) with ``changes``, for a candidate ``model``."""
    return study.Recipe(model, length=Epochs(study.STUDY_EPOCHS), **changes)


#: Configuration name -> recipe, all on the full profile's data and seeds.
CONFIGS = {
    "win5rb_fixed-study": _on_full_profile("win5rb_fixed", lr_schedule="win5rb"),
    "win5rb_fixed-cosine": _on_full_profile("win5rb_fixed", lr_schedule="cosine"),
    "win5rb-cosine": _on_full_profile("win5rb", lr_schedule="cosine"),
    "nafunet32-cosine": _on_full_profile("nafunet", build={"width": 32}, lr_schedule="cosine"),
    "nafunet48-cosine": _on_full_profile("nafunet", build={"width": 48}, lr_schedule="cosine"),
    "nafunet32-cosine-l1": _on_full_profile("nafunet", build={"width": 32}, lr_schedule="cosine", loss="mae"),
    "nafunet32deep-cosine": _on_full_profile("nafunet", build={"width": 32, "blocks": (2, 2, 8, 2, 2)},
                                             lr_schedule="cosine"),
}

REPORT = "reports/ablation_gpu.json"
ABOUT = ("GPU ablation (research beyond the study): candidate architectures and recipes trained on the full "
         "profile's data and seeds, scored on all 10,000 stand-in test images (experiments/ablation.py).")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default=REPORT, help="the report to add records to")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="override every config's epochs")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds; no new config starts after it")
    args = parser.parse_args(argv)
    if (args.n_train or args.n_test or args.epochs) and Path(args.out) == Path(REPORT):
        parser.error(f"a shrunk run (--n-train/--n-test/--epochs) must not write into {REPORT}: give --out")
    start = time.perf_counter()

    overrides = {k: v for k, v in {"n_train": args.n_train, "n_test": args.n_test}.items() if v}
    profile = study.get_profile("full", **overrides)
    arrays = study.load_profile_data(profile, args.data)
    identity = metrics.evaluate(None, arrays["x_test_corrupted"], arrays["x_test"])
    command = records.command_line(argv)

    for name in args.configs:
        done = records.read_report(args.out)["records"]
        if name in done:
            print(f"== {name}: done already ({done[name]['test']['mse']:.5f})")
            continue
        if args.time_limit and time.perf_counter() - start > args.time_limit:
            print(f"== time limit reached before {name}")
            return 3
        recipe = CONFIGS[name] if not args.epochs else replace(CONFIGS[name], length=Epochs(args.epochs))
        model = BUILDERS[recipe.model](seed=profile.seeds.init, **recipe.build)
        print(f"== {name}: {model.count_params():,} parameters, {recipe}")
        run = study.train_model(replace(recipe, precision="float32"), arrays["x_train"], arrays["x_train_corrupted"],
                                run_dir=study.SCRATCH_DIR / "ablation" / Path(args.out).stem / name,
                                verbose=2, model=model)
        gflops = models.gflops_per_image(run.model)
        record = {
            "recipe": recipe.as_dict(), "epochs": len(run.history["loss"]), "steps": run.steps,
            "parameters": run.model.count_params(), "conv_gflops_per_image": gflops,
            "images_seen": run.steps * recipe.batch_size,
            "training_compute_gflop": round(run.steps * recipe.batch_size * gflops, 1),
            "train_seconds": sum(run.history["seconds"]),
            "final_loss": run.history["loss"][-1], "final_val_loss": run.history["val_loss"][-1],
            "test": metrics.evaluate(run.model, arrays["x_test_corrupted"], arrays["x_test"]),
            "identity": identity, "n_test": len(arrays["x_test"]),
        }
        records.update_report(args.out, {name: record}, about=ABOUT, command=command)
        print(f"== {name}: test MSE {record['test']['mse']:.5f} (identity {identity['mse']:.5f}), "
              f"{record['train_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
