"""Train one configuration for a CPU time budget; record its time-to-quality curve.

The equal-budget comparison and the CPU ablation: every configuration is a
:class:`deblur.study.Recipe` with a time budget (``budget_seconds``), trains
by :func:`deblur.study.train_model` on the stand-in training pool (all
50,000 training images, 2 % held out for validation), and is scored on the
quick profile's 1,000 test images with the study's test corruption
(:class:`deblur.study.Seeds`). The budget counts time inside training steps
(the curve's evaluations are not counted); the run records the step count
it reached, and ``--steps N --hold-steps K`` replays that run on any machine.

    python experiments/cpu_budget.py --data ../shared/data/cifar10-jpeg.tar.gz \
        --config deblurnet-ours --minutes 30 --out reports/cpu_budget.json

One record per configuration and budget goes into ``--out`` (a report in
``reports/``, written by :mod:`tools.records`): the recipe, the steps, the
curve (training seconds, images seen, validation and test MSE every
``--eval-every`` seconds) and the final test metrics. The run folder
(``runs/cpu_budget/<config>-<minutes>min``) keeps the trained model.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import keras

from deblur import data, metrics, models, study
from deblur.recipe import Budget, Steps

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import records  # noqa: E402

if str(Path(__file__).resolve().parent) not in sys.path:  # loaded by a test, not run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import candidates  # noqa: E402 - experiments/candidates.py

#: Builders by recipe model name: the package's and the research candidates.
BUILDERS = {**models.MODELS, "plain_resnet": candidates.plain_resnet, "nafunet": candidates.nafunet}

_HALFRES = {"width": 64, "blocks": 4}  # DeblurNet's design at the width and depth the ablation chose
#: Held out of the 50,000 training images: 1,000, as for the shipped DeblurNet.
_VALIDATION = study.SHIPPED_DEBLURNET["validation_split"]


def _ours(model, **changes):
    return study.recipe("ours", model, validation_split=_VALIDATION, **changes)


def _study(model, **changes):
    return study.recipe("study", model, validation_split=_VALIDATION, **changes)


def _ours_for_candidate(model, **changes):
    """Our recipe (as DeblurNet's) for an architecture outside the package."""
    return replace(_ours("deblurnet"), model=model, **changes)


#: Configuration name -> recipe (its length comes from --minutes).
CONFIGS = {
    # The study's models and recipes.
    "win5rb-study": _study("win5rb"),
    "cae-study": _study("cae"),
    # Win5-RB, one fix at a time, then all of ours.
    "win5rb_fixed-study": _study("win5rb", build={"identity_init": True}),
    "win5rb_fixed-ours": _ours("win5rb", build={"identity_init": True}),
    "win5rb_fixed-ours-lr3e-4": _ours("win5rb", build={"identity_init": True}, learning_rate=3e-4),
    "win5rb_bn-ours": _ours("win5rb"),
    "cae-ours": _ours("cae", build={}),
    "cae_fixed-ours": _ours("cae"),
    # New architectures. "halfres" is DeblurNet's design at other widths and depths.
    "plain_resnet-ours": _ours_for_candidate("plain_resnet"),
    "nafunet32-ours": _ours_for_candidate("nafunet", build={"width": 32}),
    "halfres64x4-ours": _ours("deblurnet", build=_HALFRES),
    "halfres64x4-fixed": _ours("deblurnet", build=_HALFRES, corruption="fixed", flips=False),
    "halfres64x4-constant": _ours("deblurnet", build=_HALFRES, lr_schedule="constant"),
    "halfres64x4-l1": _ours("deblurnet", build=_HALFRES, loss="mae"),
    "halfres64x4-lr3e-3": _ours("deblurnet", build=_HALFRES, learning_rate=3e-3),
    "halfres96x4-ours": _ours("deblurnet", build={"width": 96, "blocks": 4}),
    "halfres64x8-ours": _ours("deblurnet", build={"width": 64, "blocks": 8}),
    "deblurnet-ours": _ours("deblurnet"),
}

ABOUT = ("Equal CPU budget and CPU ablation: each configuration (a deblur.study.Recipe) trained for a "
         "training-time budget by experiments/cpu_budget.py, with its time-to-quality curve (test MSE on the "
         "quick profile's 1,000 test images). Regenerate one with: python experiments/cpu_budget.py "
         "--config NAME --minutes M --out THIS_FILE")


class Curve(keras.callbacks.Callback):
    """Validation and test MSE every ``every_s`` seconds of training-step time."""

    def __init__(self, *, every_s, val, test, batch_size):
        super().__init__()
        self.every_s, self.val, self.test, self.batch_size = every_s, val, test, batch_size
        self.train_s, self.images, self.points = 0.0, 0, []
        self._next = every_s

    def on_train_batch_begin(self, batch, logs=None):
        self._t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.train_s += time.perf_counter() - self._t
        self.images += self.batch_size
        if self.train_s >= self._next:
            self.evaluate()
            self._next += self.every_s

    def on_train_end(self, logs=None):
        self.evaluate()

    def evaluate(self):
        point = {"train_s": round(self.train_s, 1), "images_seen": self.images}
        for key, (noisy, clean) in (("val_mse", self.val), ("test_mse", self.test)):
            point[key] = metrics.evaluate(self.model, noisy, clean)["mse"]
        self.points.append(point)
        print(f"   {point}", flush=True)


def test_set(source, *, n_test, seed):
    """The quick profile's test images and their fixed corruption."""
    profile = study.get_profile("pretrained", n_test=n_test, seed=seed)
    arrays = study.load_profile_data(profile, source)
    return arrays["x_test_corrupted"], arrays["x_test"]


def validation_set(x_pool, recipe, seed):
    """The run's held-out images, corrupted as :func:`deblur.training.train` corrupts them."""
    from deblur import corruption, training

    seeds = study.Seeds(seed)
    _, val_idx = training.split_train_val(len(x_pool), val_fraction=recipe.validation_split, seed=seeds.training)
    return corruption.corrupt(x_pool[val_idx], seed=seeds.validation_corruption)[0], x_pool[val_idx]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, choices=list(CONFIGS))
    length = parser.add_mutually_exclusive_group(required=True)
    length.add_argument("--minutes", type=float, help="training-time budget")
    length.add_argument("--steps", type=int, help="replay a recorded budget's step count")
    parser.add_argument("--hold-steps", type=int, default=0, help="with --steps: the budget's hold steps")
    parser.add_argument("--data", default=None, help="CIFAR-10 source (default: DEBLUR_DATA or download)")
    parser.add_argument("--out", default="reports/cpu_budget.json")
    parser.add_argument("--eval-every", type=float, default=None, help="seconds (default: budget / 6)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-test", type=int, default=1000)
    args = parser.parse_args(argv)
    command = records.command_line(argv)
    for value, name in ((args.minutes, "--minutes"), (args.steps, "--steps")):
        if value is not None and value <= 0:
            parser.error(f"{name} must be positive")

    if args.minutes is not None:
        recipe = replace(CONFIGS[args.config], length=Budget(args.minutes * 60))
        key = f"{args.config}@{args.minutes:g}min"
    else:
        recipe = replace(CONFIGS[args.config], length=Steps(args.steps, args.hold_steps))
        key = f"{args.config}@{args.steps}steps"

    (x_pool, _), _ = data.load_cifar10(args.data)
    test = test_set(args.data, n_test=args.n_test, seed=args.seed)
    curve = Curve(every_s=args.eval_every or (getattr(recipe.length, 'budget_seconds', None) or 600) / 6,
                  val=validation_set(x_pool, recipe, args.seed), test=test, batch_size=recipe.batch_size)
    model = BUILDERS[recipe.model](seed=study.Seeds(args.seed).init, **recipe.build)
    print(f"== {args.config}: {model.count_params():,} parameters, {recipe}")
    run = study.train_model(replace(recipe, precision="float32"), x_pool,
                            run_dir=study.SCRATCH_DIR / "cpu_budget" / key.replace("@", "-"),
                            verbose=2, callbacks=[curve], model=model)
    final = metrics.evaluate(run.model, *test)
    if not curve.points or curve.train_s == 0:
        parser.error(f"{run.run_dir} holds a finished run already; its record is in {args.out} "
                     "(delete the run folder to train it again)")
    record = {
        "config": args.config,
        "recipe": recipe.as_dict(),
        "budget_s": getattr(recipe.length, "budget_seconds", None),
        "steps": run.steps,
        "hold_steps": run.length.get("hold_steps", getattr(recipe.length, "hold_steps", 0)),
        "train_s": round(curve.train_s, 1),
        "images_seen": run.steps * recipe.batch_size,
        "images_per_s": round(run.steps * recipe.batch_size / curve.train_s, 1),
        "parameters": int(run.model.count_params()),
        "gflops_per_image": round(models.gflops_per_image(run.model), 4),
        "curve": curve.points,
        "test": {k: final[k] for k in ("mse", "psnr", "ssim", "n_images")},
        "identity_test_mse": metrics.evaluate(None, *test)["mse"],
        "data": {"source": data.describe_source(args.data), "train_pool": len(x_pool),
                 "test": len(test[1]), "seeds": study.Seeds(args.seed).as_dict()},
        "run_dir": str(run.run_dir),
    }
    records.update_report(args.out, {key: record}, about=ABOUT, command=command)
    print(f"== {args.config}: test MSE {final['mse']:.5f} after {record['images_seen']:,} images "
          f"({run.steps} steps; replay with --steps {run.steps} --hold-steps {record['hold_steps']}); "
          f"identity {record['identity_test_mse']:.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
