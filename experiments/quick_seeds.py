"""Repeat the quick profile's training over several base seeds: how much of a number is luck.

Every model of the quick profile is trained once per base seed (its
:class:`deblur.study.Seeds`: training subset, initialisation, split,
shuffle and corruption all change) with the profile's recipe, for exactly
the steps its time budget reached in the recorded quick run (the
``quick/<model>`` records of ``reports/results.json``; a time budget's step
count follows the CPU's load, which other jobs share here, a step count
does not), and scored on one fixed test set: the quick profile's own 1,000
test images and test corruption (``Seeds(TEST_SEED)``), so the spread is
training's alone. Writes one record per seed and model (``seed<S>/<model>``)
and one summary per model (``summary/<model>``: mean, sample standard
deviation, min and max over the seeds) to ``reports/quick_seeds.json``,
and ``docs/figures/quick_seeds.png`` (``--figure-only`` redraws it from the
record and trains nothing).

    python experiments/quick_seeds.py --data ../shared/data/cifar10-jpeg.tar.gz

About 15 minutes on 2 idle CPU cores (3 seeds x about 140 + 80 + 60 s of
training, plus evaluation); ``--budget`` trains for the time budgets instead.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

import numpy as np

from deblur import files, metrics, study

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import figures, records, reports  # noqa: E402

# ---------------------------------------------------------------- config
#: The base seeds of the repeated runs.
SEEDS = (0, 1, 2)
#: The profile repeated.
PROFILE = "quick"
#: Every seed is scored on this base seed's test images and corruption.
TEST_SEED = 0
OUT = "reports/quick_seeds.json"
FIGURE = "docs/figures/quick_seeds.png"
#: The record whose step counts the runs replay.
STEPS_FROM = "reports/results.json"
RUN_ROOT = study.SCRATCH_DIR / "quick_seeds"
# -------------------------------------------------------------------------

ABOUT = (__doc__.split("\n\n")[1].replace("\n", " ")
         + " Regenerate with: python experiments/quick_seeds.py --data PATH.")


def summarise(per_seed):
    """Mean, sample standard deviation, min and max over seeds of each metric.

    Parameters
    ----------
    per_seed : list of dict
        One record per seed, each with ``mse``, ``psnr`` and ``ssim``.

    Returns
    -------
    dict
        ``{metric: {"mean", "std", "min", "max"}}`` plus ``n_seeds`` and ``seeds``.
    """
    out = {"n_seeds": len(per_seed), "seeds": [r["seed"] for r in per_seed]}
    for name in metrics.METRICS:
        values = np.array([r[name] for r in per_seed], dtype=np.float64)
        out[name] = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                     "min": float(values.min()), "max": float(values.max())}
    return out


def recorded_steps(results_path, profile):
    """The steps (and hold steps) each model's time budget reached in a recorded run.

    Parameters
    ----------
    results_path : path
        ``reports/results.json``.
    profile : str
        Its records ``<profile>/<model>`` say ``replay with --steps N --hold-steps K``.

    Returns
    -------
    dict of str -> dict
        ``{model: {"steps": N, "hold_steps": K}}``, as :func:`deblur.study.get_profile`'s ``lengths``.
    """
    out = {}
    for key, record in records.read_report(results_path)["records"].items():
        match = re.search(r"--steps (\d+) --hold-steps (\d+)", str(record.get("trained", "")))
        if key.startswith(f"{profile}/") and match:
            out[record["method"]] = {"steps": int(match[1]), "hold_steps": int(match[2])}
    if not out:
        raise ValueError(f"{results_path} has no {profile!r} record with a step count to replay; "
                         "run `python tools/reproduce.py --profile quick` first, or pass --budget.")
    return out


def draw(report, path):
    """Each model's test MSE per base seed, beside doing nothing, from the record."""
    runs = [r for key, r in report["records"].items() if key.startswith("seed")]
    if not runs:
        raise SystemExit("error: no per-seed records in the report; run `python experiments/quick_seeds.py "
                         "--data PATH` first.")
    tables = {}
    for r in runs:
        tables.setdefault(f"seed {r['seed']}", {})[reports.MODEL_LABELS.get(r["model"], r["model"])] = r
    identity = report["records"].get("identity")
    if identity:
        tables["doing nothing"] = {label: identity for label in next(iter(tables.values()))}
    return figures.grouped_bars(tables, metric="mse", path=path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--models", nargs="+", default=list(study.MODEL_NAMES), choices=study.MODEL_NAMES)
    parser.add_argument("--profile", default=PROFILE, help="a training profile (tiny: a smoke test)")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--run-root", default=str(RUN_ROOT))
    parser.add_argument("--budget", action="store_true",
                        help="train for the profile's time budgets, not the recorded runs' step counts")
    parser.add_argument("--figure", default=FIGURE)
    parser.add_argument("--figure-only", action="store_true", help="redraw the figure from --out; train nothing")
    args = parser.parse_args(argv)
    command = records.command_line(argv, prog="python experiments/quick_seeds.py")
    files.check_outputs([args.out, args.run_root, args.figure], [args.data])
    if args.figure_only:
        draw(records.read_report(args.out), args.figure)
        print(f"drew {args.figure} from {args.out}")
        return 0

    test = study.load_profile_data(study.get_profile(args.profile, seed=TEST_SEED), args.data)
    x_test, c_test = test["x_test"], test["x_test_corrupted"]
    identity = metrics.evaluate(None, c_test, x_test)
    records.update_report(args.out, {"identity": {**identity, "test_seed": TEST_SEED}}, about=ABOUT,
                          command=command)
    lengths = {} if args.budget else recorded_steps(STEPS_FROM, args.profile)
    per_model = {name: [] for name in args.models}
    for seed in args.seeds:
        profile = study.get_profile(args.profile, seed=seed, lengths=lengths)
        arrays = study.load_profile_data(profile, args.data)
        for name in args.models:
            model_recipe = dataclasses.replace(profile.recipe_for(name), precision="float32")
            run = study.train_model(model_recipe, arrays["x_train"], arrays["x_train_corrupted"],
                                    run_dir=Path(args.run_root) / f"seed{seed}" / name, verbose=2)
            result = metrics.evaluate(run.model, c_test, x_test)
            record = {**result, "seed": seed, "model": name, "profile": profile.name, "test_seed": TEST_SEED,
                      "recipe": model_recipe.length, "steps": run.steps,
                      "train_seconds": float(sum(run.history.get("seconds", []))), "n_train": profile.n_train}
            per_model[name].append(record)
            records.update_report(args.out, {f"seed{seed}/{name}": record}, about=ABOUT, command=command)
            print(f"seed {seed} {name}: MSE {result['mse']:.5f}, PSNR {result['psnr']:.2f}, {run.steps} steps",
                  flush=True)
    summary = {f"summary/{name}": {"model": name, **summarise(rs)} for name, rs in per_model.items()}
    report = records.update_report(args.out, summary, about=ABOUT, command=command)
    draw(report, args.figure)
    print(reports.render_quick_seeds_table(report))
    print(f"wrote {args.out}; `python tools/reports.py` regenerates docs/results.md from it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
