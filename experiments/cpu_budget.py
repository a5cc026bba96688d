"""Train one model for a fixed CPU wall-clock budget; record its time-to-quality curve.

The equal-budget comparison of the model issue, and the time-to-quality
benchmark of the speed issue: every configuration trains on the same
stand-in training pool (all 50,000 training images, 1,000 of them held out
for validation), is scored on the same 1,000 test images with the same test
corruption as the notebook's quick profile (``subset(seed + 1)``,
``corrupt(seed + 20)``), and stops when its *training* time reaches the
budget (time spent on the curve's evaluations is not counted).

    python experiments/cpu_budget.py --data ../shared/data/cifar10-jpeg.tar.gz \
        --config deblurnet-ours --minutes 30 --out reports/cpu_budget.json

One record per configuration goes into ``--out`` (JSON): the recipe, the
machine, the date, the command, the curve (training seconds, images seen,
validation and test MSE every ``--eval-every`` seconds) and the final test
metrics. The run folder (``runs/cpu_budget/<config>-<minutes>min``) keeps
the trained model.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import shlex
import sys
import time
from pathlib import Path

import keras
import numpy as np

from deblur import candidates, corruption, data, metrics, models, profiles, training
from deblur._io import atomic_write_json

# name -> (builder, kwargs, recipe). Recipes:
#   corruption "fixed" (the study's: corrupted once) or "fresh" (every batch);
#   schedule "constant", "win5rb" (the study's, per epoch) or "cosine" (over the
#   time budget, per batch); loss; flips; base learning rate.
STUDY = {"corruption": "fixed", "schedule": "constant", "loss": "mse", "flips": False, "lr": 1e-3}
OURS = {"corruption": "fresh", "schedule": "cosine", "loss": "mse", "flips": True, "lr": 1e-3}


def _cfg(builder, kwargs=None, **recipe):
    return builder, kwargs or {}, recipe


CONFIGS = {
    # The study's models and recipes.
    "win5rb-study": _cfg(models.win5rb, **{**STUDY, "schedule": "win5rb"}),
    "cae-study": _cfg(models.cae, **STUDY),
    # Win5-RB, one fix at a time, then all of ours.
    "win5rb_fixed-study": _cfg(candidates.win5rb_fixed, **{**STUDY, "schedule": "win5rb"}),
    "win5rb_fixed-ours": _cfg(candidates.win5rb_fixed, **OURS),
    # New architectures. "halfres" is DeblurNet's design (models.deblurnet) at
    # different widths and depths; the ablation that chose its defaults.
    "plain_resnet-ours": _cfg(candidates.plain_resnet, **OURS),
    "halfres64x4-ours": _cfg(models.deblurnet, {"width": 64, "blocks": 4}, **OURS),
    "halfres64x4-fixed": _cfg(models.deblurnet, {"width": 64, "blocks": 4},
                              **{**OURS, "corruption": "fixed", "flips": False}),
    "halfres64x4-constant": _cfg(models.deblurnet, {"width": 64, "blocks": 4},
                                 **{**OURS, "schedule": "constant"}),
    "halfres64x4-l1": _cfg(models.deblurnet, {"width": 64, "blocks": 4}, **{**OURS, "loss": "mae"}),
    "halfres64x4-lr3e-3": _cfg(models.deblurnet, {"width": 64, "blocks": 4}, **{**OURS, "lr": 3e-3}),
    "halfres96x4-ours": _cfg(models.deblurnet, {"width": 96, "blocks": 4}, **OURS),
    "halfres64x8-ours": _cfg(models.deblurnet, {"width": 64, "blocks": 8}, **OURS),
    "nafunet32-ours": _cfg(candidates.nafunet, {"width": 32}, **OURS),
    "cae_fixed-ours": _cfg(models.cae, {"bn_momentum": 0.9}, **OURS),
    "cae-ours": _cfg(models.cae, **OURS),
    "win5rb_bn-ours": _cfg(models.win5rb, {"identity_init": True, "bn_momentum": 0.9}, **OURS),
    "win5rb_fixed-ours-lr3e-4": _cfg(candidates.win5rb_fixed, **{**OURS, "lr": 3e-4}),
    "deblurnet-ours": _cfg(models.deblurnet, **OURS),
}


class BudgetAndCurve(keras.callbacks.Callback):
    """Stops at a training-time budget, sets a time-based cosine LR, records a curve."""

    def __init__(self, *, budget_s, eval_every_s, cosine, base_lr, val, test, batch_size):
        super().__init__()
        self.budget_s = budget_s
        self.eval_every_s = eval_every_s
        self.cosine = cosine
        self.base_lr = base_lr
        self.val = val
        self.test = test
        self.batch_size = batch_size
        self.train_s = 0.0
        self.images = 0
        self.curve = []
        self._next_eval = eval_every_s
        self._t = None

    def on_train_batch_begin(self, batch, logs=None):
        if self.cosine:
            t = min(1.0, self.train_s / self.budget_s)
            self.model.optimizer.learning_rate.assign(self.base_lr * 0.5 * (1 + math.cos(math.pi * t)))
        self._t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.train_s += time.perf_counter() - self._t
        self.images += self.batch_size
        if self.train_s >= self._next_eval or self.train_s >= self.budget_s:
            self.evaluate()
            self._next_eval += self.eval_every_s
        if self.train_s >= self.budget_s:
            self.model.stop_training = True

    def evaluate(self):
        point = {"train_s": round(self.train_s, 1), "images_seen": self.images}
        for key, (noisy, clean) in (("val_mse", self.val), ("test_mse", self.test)):
            point[key] = metrics.evaluate(self.model, noisy, clean)["mse"]
        self.curve.append(point)
        print(f"   {point}", flush=True)


def render_table(records):
    """Markdown table of budget records (one row each), best recipe first per budget."""
    lines = [
        "| configuration | model (kwargs) | corruption | flips | LR schedule | loss | base LR | budget | images seen | "
        "images/s | GFLOP/image | test MSE | vs identity |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in sorted(records.items(), key=lambda kv: (kv[1]["budget_s"], kv[1]["test"]["mse"])):
        rec = r["recipe"]
        kwargs = ", ".join(f"{k}={v}" for k, v in r["builder_kwargs"].items())
        lines.append(
            f"| {r['config']} | {r['builder']}({kwargs}) | {rec['corruption']} | {'yes' if rec['flips'] else 'no'} | "
            f"{rec['schedule']} | {rec['loss']} | {rec['lr']:g} | {r['budget_s'] / 60:g} min | {r['images_seen']:,} | "
            f"{r['images_per_s']:.0f} | {r['gflops_per_image']:.3f} | {r['test']['mse']:.5f} | "
            f"{r['test']['mse'] / r['identity_test_mse']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", default=None, metavar="RECORDS",
                        help="print a Markdown table of a records file and exit")
    parser.add_argument("--config", choices=list(CONFIGS))
    parser.add_argument("--minutes", type=float, help="training-time budget")
    parser.add_argument("--data", default=None, help="CIFAR-10 source (default: DEBLUR_DATA or download)")
    parser.add_argument("--out", default="reports/cpu_budget.json")
    parser.add_argument("--eval-every", type=float, default=None, help="seconds (default: budget / 6)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--export", action="store_true",
                        help="ship the trained model: weights and model card into deblur/weights/, "
                             "scored on all 10,000 test images")
    args = parser.parse_args(argv)
    if args.table:
        print(render_table(json.loads(Path(args.table).read_text())))
        return 0
    if not args.config or not args.minutes:
        parser.error("--config and --minutes are required (or --table RECORDS)")
    builder, kwargs, recipe = CONFIGS[args.config]
    budget = args.minutes * 60
    seed = args.seed

    (x_train, _), (x_test, y_test) = data.load_cifar10(args.data)
    x_test, _ = data.subset(x_test, y_test, args.n_test, seed=seed + 1)
    test = (corruption.corrupt(x_test, seed=seed + 20)[0], x_test)
    train_idx, val_idx = training.split_train_val(len(x_train), val_fraction=0.02, seed=seed)
    val = (corruption.corrupt(x_train[val_idx], seed=[seed, 1])[0], x_train[val_idx])

    model = builder(seed=seed, **kwargs)
    curve = BudgetAndCurve(
        budget_s=budget, eval_every_s=args.eval_every or budget / 6,
        cosine=recipe["schedule"] == "cosine", base_lr=recipe["lr"], val=val, test=test, batch_size=32,
    )
    schedule = "win5rb" if recipe["schedule"] == "win5rb" else "constant"
    run_dir = Path("runs") / "cpu_budget" / f"{args.config}-{args.minutes:g}min"
    print(f"== {args.config}: {model.count_params():,} parameters, recipe {recipe}, budget {budget:.0f} s")
    wall = time.perf_counter()
    # Validation is done by the curve callback on a fixed set, so train() holds none out.
    training.train(
        model, x_train[train_idx], run_dir=run_dir, epochs=1000, batch_size=32,
        learning_rate=recipe["lr"], lr_schedule=schedule, loss=recipe["loss"], validation_split=0.0,
        seed=seed, corruption=recipe["corruption"], flips=recipe["flips"], resume=False, verbose=2,
        callbacks=[curve],
    )
    wall = time.perf_counter() - wall
    final = metrics.evaluate(curve.model, *test)
    record = {
        "config": args.config,
        "builder": builder.__name__,
        "builder_kwargs": kwargs,
        "recipe": recipe,
        "budget_s": budget,
        "train_s": round(curve.train_s, 1),
        "wall_s_including_evaluations": round(wall, 1),
        "images_seen": curve.images,
        "images_per_s": round(curve.images / curve.train_s, 1),
        "parameters": int(curve.model.count_params()),
        "gflops_per_image": round(candidates.conv_flops_per_pixel(curve.model) * 1024 / 1e9, 4),
        "curve": curve.curve,
        "test": {k: final[k] for k in ("mse", "psnr", "ssim", "n_images")},
        "identity_test_mse": metrics.evaluate(None, *test)["mse"],
        "data": {"source": data.describe_source(args.data), "train_pool": len(train_idx),
                 "val": len(val_idx), "test": len(x_test), "test_corruption_seed": seed + 20},
        "machine": profiles.machine_info(),
        "date": datetime.date.today().isoformat(),
        "command": "python experiments/cpu_budget.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "run_dir": str(run_dir),
    }
    out = Path(args.out)
    key = f"{args.config}@{args.minutes:g}min"
    records = json.loads(out.read_text()) if out.exists() else {}
    records[key] = record
    atomic_write_json(out, records)  # recorded before exporting, so a failed export loses nothing
    if args.export:
        record["export"] = _export(curve.model, run_dir, record, args, recipe)
        records = json.loads(out.read_text())
        records[key] = record
        atomic_write_json(out, records)
    print(f"== {args.config}: test MSE {final['mse']:.5f} after {curve.images} images "
          f"({record['images_per_s']} img/s); identity {record['identity_test_mse']:.5f}")
    return 0


def _export(model, run_dir, record, args, recipe):
    """Ship the model: score it on all 10,000 test images, write weights and card."""
    from deblur import reproduce

    model.save(run_dir / training.FINAL_MODEL_FILE)
    (_, _), (x_test, _) = data.load_cifar10(args.data)
    noisy, _ = corruption.corrupt(x_test, seed=args.seed + 20)
    evaluation = {"test": metrics.evaluate(model, noisy, x_test), "identity": metrics.evaluate(None, noisy, x_test),
                  "machine": record["machine"], "date": record["date"]}
    source = record["data"]["source"]
    archive = Path(args.data) if args.data else None
    sha = hashlib.sha256(archive.read_bytes()).hexdigest() if archive and archive.is_file() else None
    card = reproduce.export_pretrained(
        run_dir, evaluation=evaluation, command=record["command"], data_source=source, data_sha256=sha,
        description=f"our CPU recipe, {args.minutes:g} minutes of training on {record['machine']['cpu_count']} CPU cores",
        extra={
            "recipe": recipe,
            "seeds": {"split_shuffle_init_and_corruption": args.seed, "validation_corruption": [args.seed, 1],
                      "test_subset": args.seed + 1, "test_corruption": args.seed + 20},
            "test_metrics_measured_on": "the machine above, all 10,000 stand-in test images, test corruption seed 20",
            "images_seen": record["images_seen"],
            # The model issue's measure of training compute: images seen x forward FLOPs per image.
            "training_compute_gflop": round(record["images_seen"] * record["gflops_per_image"], 1),
            "protocol": {
                "description": f"our CPU recipe, {args.minutes:g} minutes of training",
                "budget_seconds": record["budget_s"],
                "train_seconds": record["train_s"],
                "epochs_run": len(training.load_history(run_dir).get("loss", [])),
                "loss": recipe["loss"],
                "optimizer": "Adam",
                "learning_rate": recipe["lr"],
                "lr_schedule": "cosine over the time budget, per batch" if recipe["schedule"] == "cosine"
                               else recipe["schedule"],
                "corruption": recipe["corruption"],
                "flips": recipe["flips"],
                "batch_size": 32,
                "n_train": record["data"]["train_pool"],
                "n_val": record["data"]["val"],
            },
        },
    )
    print(f"exported {card['name']}: test MSE {card['test_metrics']['mse']:.5f} on 10,000 images "
          f"(identity {card['identity_metrics']['mse']:.5f})")
    return {"test_10k": card["test_metrics"], "identity_10k": card["identity_metrics"]}


if __name__ == "__main__":
    sys.exit(main())
