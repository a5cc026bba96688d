"""Train one study model with a notebook profile, outside the notebook.

The same steps, seeds and run folder layout as the notebook
(``CIFAR_10_Image_Deblurring.ipynb``), for long runs: on a GPU machine, or in
the background on a CPU. A run resumes from its last finished epoch when the
command is repeated, and ``--time-limit`` stops it cleanly at an epoch
boundary (for machines that limit how long one command may run).

Example (the study's protocol on the JAX backend)::

    KERAS_BACKEND=jax python tools/train_study.py --model win5rb --profile full \
        --data cifar10-jpeg.tar.gz --out results/full --time-limit 540
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import keras

from deblur import corruption, data, metrics, models, profiles, training


class _TimeLimit(keras.callbacks.Callback):
    """Stop at the end of the first epoch that ends after ``seconds``."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if time.perf_counter() - self.start > self.seconds:
            print(f"time limit of {self.seconds:.0f} s reached after epoch {epoch + 1}; stopping")
            self.model.stop_training = True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, choices=sorted(models.MODELS))
    parser.add_argument("--profile", default="quick", choices=sorted(profiles.PROFILES))
    parser.add_argument("--data", default=None, help="CIFAR-10 source (default: $DEBLUR_DATA or download)")
    parser.add_argument("--out", default=None, help="results folder (default: results/<profile>)")
    parser.add_argument("--time-limit", type=float, default=None, help="seconds; stop at an epoch end after it")
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)

    profile = profiles.get_profile(args.profile)
    out_dir = Path(args.out or f"results/{profile.name}")
    run_dir = out_dir / "runs" / args.model
    print(profile.banner())
    print("machine:", profiles.machine_info())

    (x_train, y_train), (x_test, y_test) = data.load_cifar10(args.data)
    x_train, y_train = data.subset(x_train, y_train, profile.n_train, seed=profile.seed)
    x_test, y_test = data.subset(x_test, y_test, profile.n_test, seed=profile.seed + 1)
    x_train_corrupted, _ = corruption.corrupt(x_train, seed=profile.seed + 10)

    callbacks = [_TimeLimit(args.time_limit)] if args.time_limit else []
    start = time.perf_counter()
    run = training.train(
        models.build(args.model, seed=profile.seed),
        x_train,
        x_train_corrupted,
        run_dir=run_dir,
        epochs=profile.epochs[args.model],
        batch_size=profile.batch_size,
        validation_split=profile.validation_split,
        seed=profile.seed,
        callbacks=callbacks,
        verbose=args.verbose,
        **profiles.STUDY_TRAINING[args.model],
    )
    seconds = time.perf_counter() - start
    done = len(run.history.get("loss", []))
    print(f"{args.model}: {done}/{profile.epochs[args.model]} epochs, this call {seconds:.0f} s")
    if done < profile.epochs[args.model]:
        return 3  # not finished: run the same command again to resume

    x_test_corrupted, _ = corruption.corrupt(x_test, seed=profile.seed + 20)
    result = {
        "model": args.model,
        "profile": profile.name,
        "data_source": data.describe_source(args.data),
        "machine": profiles.machine_info(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "epochs": done,
        "train_seconds_total": sum(run.history.get("seconds", [])),
        "test": metrics.evaluate(run.model, x_test_corrupted, x_test),
        "identity": metrics.evaluate(None, x_test_corrupted, x_test),
    }
    metrics.save_results(result, run_dir / "test_results.json")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
