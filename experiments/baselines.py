"""Classical baselines beside the shipped networks, on the notebook's test images.

Each baseline's parameter is tuned on validation images drawn from the
training split (never the test set); then every method runs on the same
corrupted test images as the notebook's ``quick``/``pretrained`` profiles
(1,000 images, subset seed 1, corruption seed 20). Writes
``reports/baselines.json`` and prints a Markdown table.

    python experiments/baselines.py --data cifar10-jpeg.tar.gz [--n-val 200] [--n-test 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from deblur import baselines, corruption, data, metrics, models, study

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import records, reports  # noqa: E402

ORACLE_NOTE = "oracle: given each image's true PSF"
ABOUT = (__doc__.split("\n\n")[1].replace("\n", " ")
         + " Regenerate with: python experiments/baselines.py --data PATH.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--n-val", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--n-slow", type=int, default=200,
                        help="test images for unsupervised_wiener (a slow Gibbs sampler)")
    parser.add_argument("--out", default="reports/baselines.json")
    args = parser.parse_args(argv)

    profile = study.get_profile("pretrained", n_test=args.n_test)
    arrays = study.load_profile_data(profile, args.data)
    x_test, c_test, s_test = arrays["x_test"], arrays["x_test_corrupted"], arrays["sigma_test"]
    (x_train, y_train), _ = data.load_cifar10(args.data)
    seeds = profile.seeds
    x_val, _ = data.subset(x_train, y_train, args.n_val, seed=seeds.baseline_tuning_subset)
    c_val, s_val = corruption.corrupt(x_val, seed=seeds.baseline_tuning_corruption)

    validation = {"n_images": args.n_val, "subset_seed": seeds.baseline_tuning_subset,
                  "corruption_seed": seeds.baseline_tuning_corruption}
    rows = {"identity (corrupted input)": {**metrics.evaluate(None, c_test, x_test), "params": {}}}
    for name, (_, needs_sigma, _, _, oracle) in baselines.BASELINES.items():
        best, scores = baselines.tune(name, c_val, x_val, s_val)
        n = args.n_slow if name == "unsupervised_wiener" else len(x_test)
        restored, ips = baselines.run_timed(name, c_test[:n], s_test[:n] if needs_sigma else None, **best)
        rows[name] = {**metrics.mean_metrics(metrics.per_image_metrics(restored, x_test[:n])),
                      "params": best, "validation_mse": scores, "images_per_s": ips,
                      "note": ORACLE_NOTE if oracle else "no PSF: denoising only", "validation": validation}
        print(name, best, rows[name]["mse"])
    for name in models.pretrained_names():
        model = models.load_pretrained(name)
        start = time.perf_counter()
        restored = metrics.predict(model, c_test)
        ips = len(c_test) / (time.perf_counter() - start)
        rows[f"{name} (shipped)"] = {**metrics.mean_metrics(metrics.per_image_metrics(restored, x_test)),
                                     "params": {}, "images_per_s": ips, "note": "network, blind (no PSF)"}
    command = records.command_line(argv, prog="python experiments/baselines.py")
    report = records.write_report(args.out, about=ABOUT, records=rows, command=command)
    print(reports.render_baselines_table(report))
    print(f"wrote {args.out}; `python tools/reports.py` regenerates docs/results.md from it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
