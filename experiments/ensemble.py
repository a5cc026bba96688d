"""Self-ensemble: what averaging a model over the 8 flips and rotations of its input buys, and costs.

Each shipped model restores the same corrupted test images (the pretrained
profile's, test subset and corruption of ``Seeds(0)``) twice through
``deblur.restore``: plainly, and with ``ensemble=True`` (8 passes, each
undone, averaged). Gain: test MSE and mean PSNR, plain against ensemble,
with a 95 % bootstrap interval of the per-image MSE difference (paired, the
same images). Cost: wall time of the ensemble over the plain pass, same
batch size, same process. Both outputs are clipped to [0, 1], as restore
returns them (the study's test numbers are unclipped, so the plain numbers
here sit a little below those). Writes ``reports/ensemble.json`` and
``docs/figures/ensemble.png`` (``--figure-only`` redraws the figure from
the record and measures nothing).

    python experiments/ensemble.py --data ../shared/data/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from deblur import files, inference, metrics, models, study

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import figures, records, reports  # noqa: E402

# ---------------------------------------------------------------- config
N_TEST = 500
BATCH_SIZE = 256
SEEDS = study.Seeds(0)
OUT = "reports/ensemble.json"
FIGURE = "docs/figures/ensemble.png"
# -------------------------------------------------------------------------

ABOUT = (__doc__.split("\n\n")[1].replace("\n", " ")
         + " Regenerate with: python experiments/ensemble.py --data PATH.")


def timed_restore(model, images, **options):
    """``(restored, seconds)`` of one :func:`deblur.restore` call."""
    start = time.perf_counter()
    out = inference.restore(model, images, batch_size=BATCH_SIZE, progress=False, **options)
    return out, time.perf_counter() - start


def draw(report, path):
    """Test MSE of each model, plain and 8-fold ensemble, from the record."""
    recs = report["records"]
    if not recs:
        raise SystemExit("error: no ensemble records in the report; run `python experiments/ensemble.py "
                         "--data PATH` first.")
    tables = {kind: {reports.MODEL_LABELS.get(r["model"], r["model"]): r[kind] for r in recs.values()}
              for kind in ("plain", "ensemble")}
    return figures.grouped_bars({"plain": tables["plain"], "8-fold ensemble": tables["ensemble"]}, metric="mse",
                              path=path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--n-test", type=int, default=N_TEST)
    parser.add_argument("--models", nargs="+", default=list(study.MODEL_NAMES), choices=study.MODEL_NAMES)
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--figure", default=FIGURE)
    parser.add_argument("--figure-only", action="store_true", help="redraw the figure from --out; measure nothing")
    args = parser.parse_args(argv)
    command = records.command_line(argv, prog="python experiments/ensemble.py")
    files.check_outputs([args.out, args.figure], [args.data])
    if args.figure_only:
        draw(records.read_report(args.out), args.figure)
        print(f"drew {args.figure} from {args.out}")
        return 0

    profile = study.get_profile("pretrained", n_test=args.n_test, seed=SEEDS.base)
    arrays = study.load_profile_data(profile, args.data)
    clean, corrupted = arrays["x_test"], arrays["x_test_corrupted"]
    for name in args.models:
        model = inference.as_any_size_model(models.load_pretrained(name))
        inference.restore(model, corrupted[:BATCH_SIZE], batch_size=BATCH_SIZE, progress=False)  # warm up
        plain, plain_s = timed_restore(model, corrupted)
        ensembled, ensemble_s = timed_restore(model, corrupted, ensemble=True)
        mse_plain, mse_ens = metrics.per_image_mse(plain, clean), metrics.per_image_mse(ensembled, clean)
        psnr_plain, psnr_ens = metrics.per_image_psnr(plain, clean), metrics.per_image_psnr(ensembled, clean)
        record = {
            "model": name, "n_images": len(clean), "batch_size": BATCH_SIZE,
            "plain": {"mse": float(mse_plain.mean()), "psnr": float(psnr_plain.mean()), "seconds": plain_s},
            "ensemble": {"mse": float(mse_ens.mean()), "psnr": float(psnr_ens.mean()), "seconds": ensemble_s},
            "mse_reduction": float(1 - mse_ens.mean() / mse_plain.mean()),
            "psnr_gain_db": float(psnr_ens.mean() - psnr_plain.mean()),
            "mse_difference_ci": list(metrics.bootstrap_ci(mse_plain - mse_ens, seed=SEEDS.bootstrap)),
            "images_better": float(np.mean(mse_ens < mse_plain)),
            "time_ratio": ensemble_s / plain_s,
            "load_average": os.getloadavg()[0],
            "test_subset_seed": SEEDS.test_subset, "test_corruption_seed": SEEDS.test_corruption,
        }
        report = records.update_report(args.out, {name: record}, about=ABOUT, command=command)
        print(f"{name}: MSE {record['plain']['mse']:.5f} -> {record['ensemble']['mse']:.5f} "
              f"({record['mse_reduction']:.1%}), {record['time_ratio']:.1f}x the time", flush=True)
    draw(report, args.figure)
    print(reports.render_ensemble_table(report))
    print(f"wrote {args.out}; `python tools/reports.py` regenerates docs/results.md from it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
