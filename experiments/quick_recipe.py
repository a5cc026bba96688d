"""Issue 25, part 5: a quick-profile recipe with which every model beats doing nothing on a laptop-class CPU.

On the CPU type without AVX-512 (like most laptops) the quick profile's time budgets reach few steps (the
``quick/<model>`` records of ``reports/results.json``: CAE 122 steps of 32 in 140 s, Win5-RB 19 in 80 s, DeblurNet 120
in 60 s), and over three seeds the CAE ends worse than doing nothing (``reports/quick_seeds.json``).

**The slower CPU's budget, replayed on any CPU.** A candidate recipe changes the learning rate and the batch size only;
its length is the number of *images* that type's budget reached at batch 32 (steps x 32), turned into steps at the
candidate's batch size and its per-image speed relative to batch 32, measured in this process (small batches cost a
little more per image on a CPU; where one measures faster here, it is counted as equally fast). Training runs in
float32, as "auto" does on that type. So the screen (one seed) and the check (three seeds) measure what the slower CPU
would reach in the same seconds, on whichever type runs them; the record says which. Each model's recipe is chosen by
the screen's validation MSE (seed 0: the 120 images the run holds out of its 1,200, under its fixed validation
corruption), never the test set; every run is then scored on the quick profile's 1,000 test images and test corruption
(base seed 0, the set of ``reports/quick_seeds.json``), and the chosen recipes on three seeds. Writes
``reports/quick_recipe.json``.

    python experiments/quick_recipe.py --data ../shared/data/cifar10-jpeg.tar.gz            # screen, then check
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from deblur import corruption, files, metrics, models, study
from deblur.recipe import length_from_dict

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import records  # noqa: E402

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import quick_seeds  # noqa: E402 - experiments/quick_seeds.py

OUT = "reports/quick_recipe.json"
RUN_ROOT = study.SCRATCH_DIR / "quick_recipe"
#: (learning rate, batch size) candidates per model; (1e-3, 32) is today's quick recipe.
CANDIDATES = {
    "cae": [(1e-3, 32), (3e-3, 32), (1e-3, 8), (3e-3, 8)],
    "win5rb": [(1e-3, 32), (3e-3, 32), (1e-3, 8), (3e-3, 8)],
    "deblurnet": [(1e-3, 32), (1e-3, 8)],
}
CHECK_SEEDS = (0, 1, 2)
ABOUT = (" ".join(__doc__.split("\n\n")[1].split()) + " " + " ".join(__doc__.split("\n\n")[2].split())
         + " Regenerate with: python experiments/quick_recipe.py --data PATH")


def relative_speed(name, batch_size, *, images=256, reference=32, rounds=3):
    """Per-image training speed of ``name`` at ``batch_size`` over that at ``reference`` (float32, this CPU).

    The two batch sizes are timed in turn, ``rounds`` times each, so that other load touches both alike; the ratio of
    the medians.
    """
    compiled = {}
    for b in (batch_size, reference):
        model = models.build(name, **study.recipe("ours", name).build)
        models.set_precision(model, "float32")
        model.compile(optimizer="adam", loss="mse")
        clean = np.random.default_rng(0).random((b, 32, 32, 3), dtype=np.float32)
        noisy = corruption.corrupt(clean, seed=0)[0]
        for _ in range(3):
            model.train_on_batch(noisy, clean)
        compiled[b] = model, noisy, clean
    rates = {b: [] for b in compiled}
    for _ in range(rounds):
        for b, (model, noisy, clean) in compiled.items():
            steps = max(2, images // b)
            start = time.perf_counter()
            for _ in range(steps):
                model.train_on_batch(noisy, clean)
            rates[b].append(steps * b / (time.perf_counter() - start))
    return statistics.median(rates[batch_size]) / statistics.median(rates[reference])


def candidate_length(recorded, batch_size, speed):
    """Steps and hold steps at ``batch_size`` for the images a recorded batch-32 run reached."""
    images = recorded["steps"] * 32 * speed
    steps = max(2, round(images / batch_size))
    return {"steps": steps, "hold_steps": min(steps - 1, round(recorded["hold_steps"] * 32 / batch_size))}


def run(name, lr, batch_size, length, seed, test, run_root):
    """Train one candidate for one seed and score it on the fixed test set."""
    profile = study.get_profile("quick", seed=seed)
    arrays = study.load_profile_data(profile, test["data"])
    recipe = replace(profile.recipe_for(name), learning_rate=lr, batch_size=batch_size,
                     precision="float32", length=length_from_dict(length))
    folder = Path(run_root) / f"{name}_lr{lr:g}_b{batch_size}" / f"seed{seed}"
    trained = study.train_model(recipe, arrays["x_train"], arrays["x_train_corrupted"], run_dir=folder, verbose=0)
    result = metrics.evaluate(trained.model, test["corrupted"], test["clean"])
    return {**result, "validation_mse": float(trained.history["val_loss"][-1]), "model": name, "learning_rate": lr,
            "batch_size": batch_size, "seed": seed, **length,
            "images_seen": trained.steps * batch_size,
            "train_seconds_here": round(float(sum(trained.history.get("seconds", []))), 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--run-root", default=str(RUN_ROOT))
    args = parser.parse_args(argv)
    files.check_outputs([args.out, args.run_root], [args.data], allow=(args.out,))  # never into the data
    command = records.command_line(argv, prog="python experiments/quick_recipe.py")
    recorded = quick_seeds.recorded_steps(quick_seeds.STEPS_FROM, "quick")
    data = study.load_profile_data(study.get_profile("quick", seed=quick_seeds.TEST_SEED), args.data)
    test = {"data": args.data, "clean": data["x_test"], "corrupted": data["x_test_corrupted"]}
    identity = metrics.evaluate(None, test["corrupted"], test["clean"])
    print(f"identity: MSE {identity['mse']:.5f}", flush=True)

    # Measured once and kept beside the runs: a rerun resumes its runs with the step counts they started with.
    speeds_file = Path(args.run_root) / "speeds.json"
    speeds = files.read_json(speeds_file) if speeds_file.is_file() else {}
    screen, chosen = {}, {}
    for name, candidates in CANDIDATES.items():
        for lr, b in candidates:
            if b != 32 and f"{name}/{b}" not in speeds:
                speeds[f"{name}/{b}"] = relative_speed(name, b)
                speeds_file.parent.mkdir(parents=True, exist_ok=True)
                files.atomic_write_json(speeds_file, speeds)
            speed = speeds.get(f"{name}/{b}", 1.0)
            # Capped at 1: a smaller batch measured faster per image here need not be so on the slower type.
            length = candidate_length(recorded[name], b, min(speed, 1.0))
            row = run(name, lr, b, length, 0, test, args.run_root)
            screen[f"{name}/lr{lr:g}/b{b}"] = {**row, "relative_speed": round(speed, 3)}
            print(f"screen {name} lr {lr:g} batch {b}: {length['steps']} steps, "
                  f"validation MSE {row['validation_mse']:.5f}, "
                  f"test MSE {row['mse']:.5f}", flush=True)
        best = min((r for k, r in screen.items() if k.startswith(f"{name}/")), key=lambda r: r["validation_mse"])
        chosen[name] = best
    check = {}
    for name, best in chosen.items():
        rows = [best if seed == 0 else run(name, best["learning_rate"], best["batch_size"],
                                           {"steps": best["steps"], "hold_steps": best["hold_steps"]}, seed, test,
                                           args.run_root)
                for seed in CHECK_SEEDS]
        check[name] = {"learning_rate": best["learning_rate"], "batch_size": best["batch_size"],
                       "steps": best["steps"], "per_seed_mse": [r["mse"] for r in rows],
                       **quick_seeds.summarise(rows), "beats_identity_every_seed": all(
                           r["mse"] < identity["mse"] for r in rows)}
        print(f"check {name}: MSE {[round(r['mse'], 5) for r in rows]} (identity {identity['mse']:.5f})", flush=True)
    records.update_report(args.out, {"quick_recipe": {
        "identity": identity, "recorded_steps": recorded, "screen": screen, "check": check,
        "check_seeds": list(CHECK_SEEDS), "test_seed": quick_seeds.TEST_SEED,
        "rule": "lowest seed-0 validation MSE per model among its candidates; then that recipe on three seeds"}},
        about=ABOUT, command=command)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
