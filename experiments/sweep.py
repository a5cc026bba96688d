"""Degradation sweep: the shipped networks, Wiener with the true PSF and doing nothing, beyond the study's blur.

Every method is scored (test MSE and mean PSNR) on the same test images at
every setting of a grid: blur sigma 0.5 to 6 (the networks were trained on
[1, 4)) and noise 0, 0.01, 0.02 (the study's) and 0.05. Each setting is one
fixed sigma for every image and seeded noise (``deblur.sweep``), the same
corrupted images for every method. Wiener's balance is the one tuned on
validation images at the study's corruption (``reports/baselines.json``),
so at other noise levels it is not re-tuned. Writes ``reports/sweep.json``
(a record per method and setting, and a ``summary`` record saying where each
method stops beating doing nothing) and ``docs/figures/degradation_sweep.png``.

    python experiments/sweep.py --data ../shared/data/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deblur import data, files, models, plots, study, sweep

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import records, reports  # noqa: E402

# ---------------------------------------------------------------- config
#: Test images (the first of the quick/pretrained profiles' 1,000, subset seed Seeds().test_subset).
N_TEST = 200
SIGMAS = sweep.SIGMAS
NOISE_LEVELS = sweep.NOISE_LEVELS
SEEDS = study.Seeds(0)
OUT = "reports/sweep.json"
FIGURE = "docs/figures/degradation_sweep.png"
BASELINES_REPORT = "reports/baselines.json"
# -------------------------------------------------------------------------

ABOUT = (__doc__.split("\n\n")[1].replace("\n", " ")
         + " Regenerate with: python experiments/sweep.py --data PATH.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--n-test", type=int, default=N_TEST)
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--figure", default=FIGURE)
    args = parser.parse_args(argv)
    command = records.command_line(argv, prog="python experiments/sweep.py")
    files.check_outputs([args.out, args.figure])

    _, (x_test, y_test) = data.load_cifar10(args.data)
    x_test, _ = data.subset(x_test, y_test, args.n_test, seed=SEEDS.test_subset)
    balance = records.read_report(BASELINES_REPORT)["records"]["wiener"]["params"]["balance"]
    methods = sweep.model_methods({n: n for n in models.pretrained_names()}, wiener_balance=balance)
    rows = sweep.degradation_sweep(
        methods, x_test, sigmas=SIGMAS, noise_levels=NOISE_LEVELS, seed=SEEDS.sweep_corruption,
        progress=lambda r: print(f"noise {r['noise_std']:g} sigma {r['sigma']:g} {r['method']}: "
                                 f"MSE {r['mse']:.5f} PSNR {r['psnr']:.2f}", flush=True))
    notes = sweep.describe_crossovers(rows)
    settings = {"n_images": args.n_test, "test_subset_seed": SEEDS.test_subset,
                "noise_seed": SEEDS.sweep_corruption, "sigmas": list(SIGMAS), "noise_levels": list(NOISE_LEVELS),
                "wiener_balance": balance, "kernel_size": 5}
    recs = {f"{r['method']}/noise={r['noise_std']:g}/sigma={r['sigma']:g}": r for r in rows}
    crossovers = {m: {f"{n:g}": cell for n, cell in by_noise.items()} for m, by_noise in sweep.crossovers(rows).items()}
    recs["summary"] = {"settings": settings, "crossovers": crossovers, "notes": notes,
                       "figure": args.figure}
    report = records.write_report(args.out, about=ABOUT + " " + " ".join(notes), records=recs, command=command)
    plots.sweep_panels(rows, metric="psnr", path=args.figure)
    print(reports.render_sweep_table(report))
    print(f"wrote {args.out} and {args.figure}; `python tools/reports.py` regenerates docs/research.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
