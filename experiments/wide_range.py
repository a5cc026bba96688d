"""A wide-range DeblurNet: trained on blur sigma in [0.5, 6) and noise in [0, 0.05], scored inside and outside the study's range.

The degradation sweep (``reports/sweep.json``) shows the shipped networks
failing outside what they were trained on: below sigma 1 every one makes
images worse than doing nothing, and at noise 0.05 DeblurNet barely beats
it. This DeblurNet is trained with the shipped one's recipe and length (ours,
the full profile's 49,000 training images, 19,823 steps of 32 = 634,336
images, the same seeds), on a wider corruption: sigma uniform in [0.5, 6),
noise level uniform in [0, 0.05] per image. It qualifies to ship if, inside
the study's range (all 10,000 test images, the cards' test corruption), its
test MSE is at most 3 % above the shipped DeblurNet's, and outside it (the
sweep's settings with sigma outside [1, 4) or noise other than 0.02, its 200
test images and noise seed) it beats every shipped model at every setting.
Writes ``reports/wide_range.json`` and ``docs/figures/wide_range_sweep.png``.

    python experiments/wide_range.py train --data ../shared/data/cifar10-jpeg.tar.gz
    python experiments/wide_range.py evaluate --data ../shared/data/cifar10-jpeg.tar.gz
    python experiments/wide_range.py export --data ../shared/data/cifar10-jpeg.tar.gz

``export`` ships it (weights and model card, ``deblur/weights/deblurnet_wide.*``)
only if the record's verdict says it qualifies.

Training resumes from ``runs/wide_range/deblurnet_wide``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from deblur import data, files, metrics, models, plots, study, sweep
from deblur.recipe import Steps

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import export_weights, records  # noqa: E402

# ---------------------------------------------------------------- config
INSIDE_MSE_RATIO = 1.03  # at most 3 % worse than the shipped DeblurNet inside the study's range
PROFILE = "full"
N_SWEEP = 200  # as experiments/sweep.py
SEEDS = study.Seeds(0)
SHIPPED_NAME = "deblurnet_wide"
WIDE = "deblurnet (wide range)"  # its name in the record
RUN_DIR = Path("runs/wide_range") / SHIPPED_NAME
OUT = "reports/wide_range.json"
FIGURE = "docs/figures/wide_range_sweep.png"
BASELINES_REPORT = "reports/baselines.json"
# -------------------------------------------------------------------------

ABOUT = (" ".join(__doc__.split("\n\n")[1].split())
         + " Regenerate with the commands in experiments/wide_range.py's docstring.")


def wide_recipe():
    """The shipped DeblurNet's recipe and length, with the wide corruption."""
    return study.wide_recipe(study.get_profile(PROFILE).recipe_for("deblurnet"))


def train(x_train, *, run_dir=RUN_DIR, recipe=None, verbose=2):
    """Train (or resume) the wide-range DeblurNet; returns the TrainedRun."""
    return study.train_model(replace(recipe or wide_recipe(), precision="float32"), x_train, run_dir=run_dir,
                             model=models.deblurnet(seed=SEEDS.init, name="deblurnet_wide"), verbose=verbose)


def outside(row, *, sigma_range=(1.0, 4.0), noise_std=0.02):
    """Whether a sweep row's setting lies outside the study's training range."""
    return not (sigma_range[0] <= row["sigma"] < sigma_range[1]) or row["noise_std"] != noise_std


def verdict(inside, rows, *, wide=WIDE, shipped=None):
    """Does the wide model qualify? Inside: MSE ratio to the shipped DeblurNet; outside: wins per setting.

    Parameters
    ----------
    inside : dict of str -> dict
        Method -> ``{"mse": ...}`` on the study's test corruption; holds
        ``wide`` and ``"deblurnet"``.
    rows : list of dict
        Sweep rows (:func:`deblur.sweep.degradation_sweep`) including ``wide``.
    shipped : sequence of str, optional
        The shipped networks (default: every one).

    Returns
    -------
    dict
        ``inside_ratio``, ``inside_ok``, ``outside_settings``, ``outside_wins``
        (settings where ``wide`` beats every shipped model), ``outside_losses``
        (the others, with the best shipped model there), ``outside_ok``, ``qualifies``.
    """
    shipped = list(shipped or models.pretrained_names())
    ratio = inside[wide]["mse"] / inside["deblurnet"]["mse"]
    by_setting = {}
    for r in rows:
        if outside(r):
            by_setting.setdefault((r["sigma"], r["noise_std"]), {})[r["method"]] = r["mse"]
    wins, losses = [], []
    for (sigma, noise), cell in sorted(by_setting.items()):
        best = min(shipped, key=lambda m: cell[m])
        (wins if cell[wide] < cell[best] else losses).append(
            {"sigma": sigma, "noise_std": noise, "wide_mse": cell[wide], "best_shipped": best,
             "best_shipped_mse": cell[best]})
    return {"inside_ratio": ratio, "inside_ok": ratio <= INSIDE_MSE_RATIO, "outside_settings": len(by_setting),
            "outside_wins": len(wins), "outside_losses": losses, "outside_ok": not losses,
            "qualifies": ratio <= INSIDE_MSE_RATIO and not losses}


def evaluate(args, command):
    """Score the trained wide model inside the range (10,000 images) and over the sweep; record, figure."""
    profile = study.get_profile(PROFILE)
    arrays = study.load_profile_data(profile, args.data)
    run = train(arrays["x_train"], run_dir=args.run_dir)
    wide = WIDE
    networks = {name: models.load_pretrained(name) for name in models.pretrained_names()}
    networks[wide] = run.model
    clean, corrupted = arrays["x_test"], arrays["x_test_corrupted"]
    inside = {"identity": metrics.evaluate(None, corrupted, clean, per_image=True)}
    for name, model in networks.items():
        inside[name] = metrics.evaluate(model, corrupted, clean, per_image=True)
    for name, result in inside.items():
        per_image = result.pop("per_image")
        result["ci"] = metrics.summary_with_ci(per_image["mse"], per_image["psnr"], seed=SEEDS.bootstrap)
    _, (x_test, y_test) = data.load_cifar10(args.data)
    x_sweep, _ = data.subset(x_test, y_test, N_SWEEP, seed=SEEDS.test_subset)
    balance = records.read_report(BASELINES_REPORT)["records"]["wiener"]["params"]["balance"]
    rows = sweep.degradation_sweep(sweep.model_methods(networks, wiener_balance=balance), x_sweep,
                                   seed=SEEDS.sweep_corruption)
    result = verdict(inside, rows)
    record = {"inside": inside, "sweep": rows, "verdict": result, "recipe": wide_recipe().as_dict(),
              "steps": run.steps, "images_seen": run.steps * wide_recipe().batch_size, "run_dir": str(args.run_dir),
              "n_sweep": N_SWEEP, "wiener_balance": balance, "test_subset_seed": SEEDS.test_subset,
              "test_corruption_seed": SEEDS.test_corruption, "sweep_noise_seed": SEEDS.sweep_corruption,
              "figure": args.figure}
    records.update_report(args.out, {"wide_range": record}, about=ABOUT, command=command)
    plots.sweep_panels(rows, metric="psnr", path=args.figure)
    print(f"inside: {inside[wide]['mse']:.5f} vs shipped DeblurNet {inside['deblurnet']['mse']:.5f} "
          f"(ratio {result['inside_ratio']:.3f}); outside: wins {result['outside_wins']} of "
          f"{result['outside_settings']} settings; qualifies: {result['qualifies']}")


def export(args):
    """Ship the trained wide-range DeblurNet with its card, if its record's verdict says it qualifies."""
    weights_dir = Path(args.weights_dir or models.PRETRAINED_DIR)
    files.check_outputs([weights_dir / f"{SHIPPED_NAME}.weights.h5", weights_dir / f"{SHIPPED_NAME}.json"],
                          [args.out, args.run_dir, args.data])
    record = records.read_report(args.out)["records"].get("wide_range")
    if not record:
        raise SystemExit(f"error: {args.out} has no wide-range record; run `python experiments/wide_range.py "
                         "evaluate --data PATH` first.")
    v = record["verdict"]
    if not v["qualifies"]:
        raise SystemExit(f"error: the wide-range model does not qualify (inside ratio {v['inside_ratio']:.3f}, "
                         f"limit {INSIDE_MSE_RATIO}; {len(v['outside_losses'])} outside settings lost), so it does "
                         "not ship; it stays in experiments/.")
    sha = export_weights.archive_sha256(args.data)
    train_command = "python experiments/wide_range.py train" + (f" --data {args.data}" if args.data else "")
    card = export_weights.export_pretrained(
        args.run_dir, name=SHIPPED_NAME, command=train_command,
        evaluation={"test": record["inside"][WIDE], "identity": record["inside"]["identity"]},
        data_source=data.describe_source(args.data), data_sha256=sha, out_dir=weights_dir)
    print(f"exported {SHIPPED_NAME}: deblur/weights/{card['weights_file']} and its model card")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    train_parser = sub.add_parser("train", help="train (or resume) the wide-range DeblurNet")
    evaluate_parser = sub.add_parser("evaluate", help="inside and outside the range; record and figure")
    export_parser = sub.add_parser("export", help="ship it with its model card, if the record says it qualifies")
    export_parser.add_argument("--out", default=OUT, help="the record written by evaluate")
    export_parser.add_argument("--weights-dir", type=Path, default=None, help="default: the package's deblur/weights")
    evaluate_parser.add_argument("--figure", default=FIGURE)
    evaluate_parser.add_argument("--out", default=OUT)
    train_parser.add_argument("--steps", type=int, default=None, help="default: the shipped DeblurNet's 19,823")
    for p in (train_parser, evaluate_parser, export_parser):
        p.add_argument("--data", default=None)
        p.add_argument("--run-dir", type=Path, default=RUN_DIR)
    args = parser.parse_args(argv)
    command = records.command_line(argv, prog="python experiments/wide_range.py")
    if args.command == "train":
        recipe = wide_recipe() if args.steps is None else replace(wide_recipe(), length=Steps(args.steps))
        train(study.load_profile_data(study.get_profile(PROFILE), args.data)["x_train"], run_dir=args.run_dir,
              recipe=recipe)
    elif args.command == "evaluate":
        files.check_outputs([args.out, args.figure], allow=(args.out,))
        evaluate(args, command)
    else:
        export(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
