"""Ablation runs for a model that beats Win5-RB (research in progress).

Trains each named configuration below on the ``full`` profile's data (45,000
train / 5,000 validation stand-in images, the same seeds and corruption as the
shipped models), evaluates it on all 10,000 test images with the same test
corruption, and appends one record per configuration to ``<out>/ablation.json``
(parameters, conv FLOPs per pixel, epochs, training seconds, images seen,
test metrics, machine). Finished configurations are skipped and unfinished ones
resume, so the command can be repeated across time-limited sessions.

    KERAS_BACKEND=jax python experiments/ablation.py --data cifar10-jpeg.tar.gz \
        --out experiments/results --configs nafunet32-cosine win5rb_fixed-study

``--n-train``/``--n-test``/``--epochs`` shrink a run for smoke tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from deblur import candidates, metrics, models, profiles, reproduce, training
from deblur._io import atomic_write_json

# name -> (builder, builder kwargs, lr schedule ("study"/"cosine"), loss, epochs)
CONFIGS = {
    "win5rb_fixed-study": (candidates.win5rb_fixed, {}, "study", "mse", 20),
    "win5rb_fixed-cosine": (candidates.win5rb_fixed, {}, "cosine", "mse", 20),
    "win5rb-cosine": (models.win5rb, {}, "cosine", "mse", 20),
    "nafunet32-cosine": (candidates.nafunet, {"width": 32}, "cosine", "mse", 20),
    "nafunet48-cosine": (candidates.nafunet, {"width": 48}, "cosine", "mse", 20),
    "nafunet32-cosine-l1": (candidates.nafunet, {"width": 32}, "cosine", "mae", 20),
    "nafunet32deep-cosine": (candidates.nafunet, {"width": 32, "blocks": (2, 2, 8, 2, 2)}, "cosine", "mse", 20),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default="experiments/results")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None, help="override every config's epochs")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds; no new config starts after it")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    overrides = {k: v for k, v in {"n_train": args.n_train, "n_test": args.n_test}.items() if v}
    profile = profiles.get_profile("full", **overrides)
    arrays = reproduce.load_profile_data(profile, args.data)
    machine = profiles.machine_info()
    out = Path(args.out)
    record_path = out / "ablation.json"
    records = json.loads(record_path.read_text()) if record_path.exists() else {}
    identity = metrics.evaluate(None, arrays["x_test_corrupted"], arrays["x_test"])

    for name in args.configs:
        if name in records:
            print(f"== {name}: done already ({records[name]['test']['mse']:.5f})")
            continue
        if args.time_limit and time.perf_counter() - start > args.time_limit:
            print(f"== time limit reached before {name}")
            return 3
        builder, kwargs, schedule, loss, epochs = CONFIGS[name]
        epochs = args.epochs or epochs
        model = builder(seed=profile.seed, **kwargs)
        lr = "win5rb" if schedule == "study" else "cosine"
        print(f"== {name}: {model.count_params():,} parameters, {epochs} epochs, loss {loss}")
        run = training.train(
            model, arrays["x_train"], arrays["x_train_corrupted"], run_dir=out / "runs" / name,
            epochs=epochs, batch_size=profile.batch_size, lr_schedule=lr, loss=loss,
            validation_split=profile.validation_split, seed=profile.seed, verbose=2,
        )
        flops = candidates.conv_flops_per_pixel(run.model) * 32 * 32
        n_fit = len(arrays["x_train"]) - round(len(arrays["x_train"]) * profile.validation_split)
        records[name] = {
            "builder": builder.__name__, "kwargs": kwargs, "lr_schedule": schedule, "loss": loss,
            "epochs": len(run.history["loss"]), "parameters": run.model.count_params(),
            "conv_gflops_per_image": flops / 1e9,
            "train_gflops_total_approx": 3 * flops * n_fit * len(run.history["loss"]) / 1e9,
            "train_seconds": sum(run.history["seconds"]),
            "final_loss": run.history["loss"][-1], "final_val_loss": run.history["val_loss"][-1],
            "test": metrics.evaluate(run.model, arrays["x_test_corrupted"], arrays["x_test"]),
            "identity": identity, "machine": machine, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "n_train": n_fit, "n_test": len(arrays["x_test"]),
        }
        atomic_write_json(record_path, records)
        print(f"== {name}: test MSE {records[name]['test']['mse']:.5f} "
              f"(identity {identity['mse']:.5f}), {records[name]['train_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
