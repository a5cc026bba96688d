"""Issue 25's ablation: one factor at a time against today's DeblurNet, at equal CPU time.

    python experiments/block_ablation.py --data ../shared/data/cifar10-jpeg.tar.gz --minutes 15

Candidates (:data:`CANDIDATES`), each changing one thing in the shipped DeblurNet's recipe (``study.recipe("ours",
"deblurnet")``: Adam 1e-3, MSE, cosine, fresh corruption with flips, batch 32):

- ``deblurnet``: as shipped (the reference);
- ``gated``: NAFNet-style gated blocks in the same half-resolution trunk (``candidates.deblurnet_gated``, 11 blocks:
  DeblurNet's FLOPs);
- ``ema``: the weights' moving average (momentum 0.999) at the end;
- ``adamw``: NAFNet's optimizer settings (beta_2 0.9, decoupled weight decay 1e-3);
- ``wide``: scale, DeblurNet's trunk at 96 channels instead of 64 (2.2x the FLOPs, so fewer images in the budget).
- ``two_scale``: the trunk's middle 2 blocks at quarter resolution, twice the channels
  (``candidates.deblurnet_two_scale``, 1.05x DeblurNet's FLOPs).
- ``charbonnier``: the Charbonnier loss (a smooth L1) for the first 80 % of the steps, then MSE
  (:func:`charbonnier_then_mse`, switched by :class:`SwitchToMSE`).

**Equal CPU time, whatever else runs.** Each candidate's training speed is measured first, all candidates
interleaved in this process (twice each, 40 steps after a warm-up), and its budget of ``--minutes`` becomes a step
count at that speed; the run then trains exactly that many steps (a cosine over them), so a busy machine slows a run
but does not shorten it. Training uses the package's precision (``"auto"``: bfloat16 on a CPU with native bfloat16):
the cost compared is the cost a run pays on this CPU. Evaluation is in float32.

**Model choice never touches the test set**: the score is the MSE on 2,000 of the run's validation images (held out
of the training split, corrupted with the study's corruption under a fixed seed). The record also says images seen,
GFLOP per image, CPU prediction speed (float32, batches of 256 32x32 images) and, for the table only, the test MSE
on all 10,000 test images with the model cards' test corruption, plainly and averaged over the input's 4 flips.
Records go to ``reports/block_ablation.json``; run folders to ``runs/block_ablation/<candidate>`` (a rerun resumes
them, and a finished candidate is not retrained).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np

from deblur import corruption, data, files, machine, metrics, models, study, training
from deblur.recipe import Steps

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import records  # noqa: E402

if str(Path(__file__).resolve().parent) not in sys.path:  # loaded by a test, not run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import candidates  # noqa: E402 - experiments/candidates.py

REPORT = ROOT / "reports" / "block_ablation.json"
ABOUT = ("Issue 25's ablation: one factor at a time against DeblurNet at equal CPU time (a step count from each "
         "candidate's measured speed), scored on 2,000 validation images. Regenerate with: python "
         "experiments/block_ablation.py --data PATH --minutes 15")
N_VALIDATION = 2000
SEED = 0

_REFERENCE = study.recipe("ours", "deblurnet", seed=SEED)
CHARBONNIER_EPSILON = 1e-3  # as in MPRNet and many restoration papers
MSE_FROM = 0.8  # the fraction of the steps after which charbonnier_then_mse is the MSE
#: The weight of the MSE in :func:`charbonnier_then_mse` (the rest is Charbonnier's): 0, then 1 (:class:`SwitchToMSE`).
MSE_WEIGHT = keras.Variable(0.0, trainable=False, name="mse_weight")


@keras.saving.register_keras_serializable(package="block_ablation")
def charbonnier_then_mse(y_true, y_pred):
    """Per image, ``mean(sqrt(d**2 + eps**2))`` (Charbonnier) while :data:`MSE_WEIGHT` is 0, ``mean(d**2)`` once it
    is 1, ``d = y_pred - y_true``. Registered, so a recipe names it (``"block_ablation>charbonnier_then_mse"``) and a
    checkpoint compiled with it loads here."""
    d = keras.ops.cast(y_pred, "float32") - keras.ops.cast(y_true, "float32")
    charbonnier = keras.ops.mean(keras.ops.sqrt(keras.ops.square(d) + CHARBONNIER_EPSILON ** 2), axis=(1, 2, 3))
    return MSE_WEIGHT * keras.ops.mean(keras.ops.square(d), axis=(1, 2, 3)) + (1.0 - MSE_WEIGHT) * charbonnier


class SwitchToMSE(keras.callbacks.Callback):
    """Sets :data:`MSE_WEIGHT` from the optimizer's step before each batch: 0 before ``at_step``, 1 from it (a resumed
    run included). Unlike a new ``compile``, it keeps the optimizer's moments and the traced training step."""

    def __init__(self, at_step):
        super().__init__()
        self.at_step = at_step

    def on_train_batch_begin(self, batch, logs=None):
        MSE_WEIGHT.assign(1.0 if int(self.model.optimizer.iterations) >= self.at_step else 0.0)

#: Candidate name -> (recipe without a length, builder).
CANDIDATES = {
    "deblurnet": (_REFERENCE, models.deblurnet),
    "gated": (replace(_REFERENCE, model="deblurnet_gated"), candidates.deblurnet_gated),
    "ema": (replace(_REFERENCE, ema_momentum=0.999), models.deblurnet),
    "adamw": (replace(_REFERENCE, beta_2=0.9, weight_decay=1e-3), models.deblurnet),
    "wide": (replace(_REFERENCE, build={"width": 96}), models.deblurnet),
    "two_scale": (replace(_REFERENCE, model="deblurnet_two_scale"), candidates.deblurnet_two_scale),
    "charbonnier": (replace(_REFERENCE, loss="block_ablation>charbonnier_then_mse"), models.deblurnet),
}


def build(name):
    recipe, builder = CANDIDATES[name]
    return builder(seed=study.Seeds(recipe.seed).init, **recipe.build)


def training_speeds(names, *, steps=40, rounds=2, batch_size=32):
    """Images/s of each candidate's training step on this CPU, in the package's precision: the median of ``rounds``
    timings of ``steps`` steps, candidates interleaved so that other load touches all alike."""
    rng = np.random.default_rng(SEED)
    clean = rng.random((batch_size, 32, 32, 3), dtype=np.float32)
    noisy = corruption.corrupt(clean, seed=SEED)[0]
    compiled = {}
    for name in names:
        recipe = CANDIDATES[name][0]
        model = build(name)
        models.set_precision(model, recipe.precision)
        model.compile(optimizer=training.make_optimizer(recipe), loss=training.make_loss(recipe))
        for _ in range(5):
            model.train_on_batch(noisy, clean)
        compiled[name] = model
    rates = {name: [] for name in names}
    for _ in range(rounds):
        for name, model in compiled.items():
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(noisy, clean)
            rates[name].append(steps * batch_size / (time.perf_counter() - start))
    return {name: statistics.median(r) for name, r in rates.items()}


def prediction_speed(model, *, batch=256, repeats=3):
    """Images/s of a float32 forward pass over batches of 32x32 images: the best of ``repeats``."""
    x = np.random.default_rng(SEED).random((batch, 32, 32, 3), dtype=np.float32)
    model(x, training=False)
    best = min(_timed(lambda: model(x, training=False)) for _ in range(repeats))
    return batch / best


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def flips_averaged(model):
    """``model`` averaged over the 4 flips of its input (each undone): a self-ensemble without the quarter turns of
    ``deblur.restore(ensemble=True)``, which upright CIFAR-10 pictures never show (on the 150-minute model, in a probe,
    the 8-fold average scored a little worse than the 4 flips)."""
    def predict(x):
        views = [(), (1,), (2,), (1, 2)]  # none, upside down, mirrored, both
        outs = [np.flip(np.asarray(model(np.ascontiguousarray(np.flip(x, v)), training=False)), v) for v in views]
        return np.mean(outs, axis=0, dtype=np.float32)
    return predict


def validation_pairs(x_pool, recipe):
    """2,000 of the run's validation images (never trained on) and their corruption under a fixed seed."""
    _, val_idx = training.split_train_val(len(x_pool), val_fraction=recipe.validation_split,
                                          seed=study.Seeds(recipe.seed).training)
    clean = x_pool[val_idx[:N_VALIDATION]]
    return corruption.corrupt(clean, seed=study.Seeds(recipe.seed).validation_corruption)[0], clean


def run_candidate(name, steps, x_pool, test, run_root):
    """Train ``name`` for ``steps`` (or resume it) and score it: the record's measurements."""
    recipe = replace(CANDIDATES[name][0], length=Steps(steps))
    start = time.perf_counter()
    switch = [SwitchToMSE(int(MSE_FROM * steps))] if training.make_loss(recipe) is charbonnier_then_mse else []
    run = study.train_model(recipe, x_pool, run_dir=Path(run_root) / name, model=build(name), verbose=2,
                            callbacks=switch)
    wall = time.perf_counter() - start
    if not run.finished:
        raise SystemExit(f"{name} stopped before {steps} steps; run the same command again to resume")
    validation = metrics.evaluate(run.model, *validation_pairs(x_pool, recipe))
    tested = metrics.evaluate(run.model, *test, ci_seed=SEED)
    flipped = metrics.evaluate(flips_averaged(run.model), *test, ci_seed=SEED)
    return {
        "recipe": recipe.as_dict(), "steps": run.steps, "images_seen": run.steps * recipe.batch_size,
        "parameters": int(run.model.count_params()), "gflops_per_image": round(models.gflops_per_image(run.model), 4),
        "validation_mse": validation["mse"], "validation_images": validation["n_images"],
        "test_mse": tested["mse"], "test_mse_ci95": tested["ci"]["mse_ci"], "test_images": tested["n_images"],
        "test_mse_flips_averaged": flipped["mse"], "test_mse_flips_averaged_ci95": flipped["ci"]["mse_ci"],
        "predict_images_per_s_float32": round(prediction_speed(run.model), 1),
        "train_wall_seconds_this_call": round(wall, 1),
        "train_seconds_recorded": round(sum(run.history.get("seconds", [])), 1),
        "training_precision": machine.resolve_precision(recipe.precision),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="CIFAR-10 source (default: $DEBLUR_DATA, else download)")
    parser.add_argument("--minutes", type=float, default=15.0, help="CPU-time budget of each candidate")
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    parser.add_argument("--run-root", default=str(study.SCRATCH_DIR / "block_ablation"))
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error("--minutes must be positive")
    files.check_outputs([args.out, args.run_root], [args.data], allow=(args.out,))  # never into the data
    command = records.command_line(argv, prog="python experiments/block_ablation.py")

    # Measured once and kept beside the runs: a resumed run needs the step count it started with.
    speeds_file = Path(args.run_root) / "speeds.json"
    speeds = files.read_json(speeds_file) if speeds_file.is_file() else {}
    missing = [n for n in args.candidates if n not in speeds]
    if missing:
        speeds.update(training_speeds(missing))
        speeds_file.parent.mkdir(parents=True, exist_ok=True)
        files.atomic_write_json(speeds_file, speeds)
    print("training images/s:", {n: round(v, 1) for n, v in speeds.items()}, flush=True)
    (x_pool, _), _ = data.load_cifar10(args.data)
    arrays = study.load_profile_data(study.get_profile("pretrained", n_test=10_000), args.data)
    test = (arrays["x_test_corrupted"], arrays["x_test"])
    for name in args.candidates:
        steps = int(args.minutes * 60 * speeds[name] / _REFERENCE.batch_size)
        print(f"== {name}: {steps:,} steps ({args.minutes:g} min at {speeds[name]:.0f} images/s)", flush=True)
        found = run_candidate(name, steps, x_pool, test, args.run_root)
        record = {"candidate": name, "budget_minutes": args.minutes,
                  "measured_train_images_per_s": round(speeds[name], 1), **found,
                  "data": data.describe_source(args.data)}
        records.update_report(args.out, {name: record}, about=ABOUT, command=command)
        print(f"== {name}: validation MSE {found['validation_mse']:.5f}, test MSE {found['test_mse']:.5f}, "
              f"{found['images_seen']:,} images", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
