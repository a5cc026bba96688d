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

from deblur import baselines, corruption, data, metrics, models, profiles, reproduce
from deblur._io import atomic_write_json

ORACLE_NOTE = "oracle: given each image's true PSF"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--n-val", type=int, default=200)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--n-slow", type=int, default=200,
                        help="test images for unsupervised_wiener (a slow Gibbs sampler)")
    parser.add_argument("--out", default="reports/baselines.json")
    args = parser.parse_args(argv)

    profile = profiles.get_profile("pretrained", n_test=args.n_test)
    arrays = reproduce.load_profile_data(profile, args.data)
    x_test, c_test, s_test = arrays["x_test"], arrays["x_test_corrupted"], arrays["sigma_test"]
    (x_train, y_train), _ = data.load_cifar10(args.data)
    x_val, _ = data.subset(x_train, y_train, args.n_val, seed=1234)
    c_val, s_val = corruption.corrupt(x_val, seed=4321)

    rows = {"identity (corrupted input)": {**metrics.evaluate(None, c_test, x_test), "params": {}}}
    for name, (_, needs_sigma, _, _, oracle) in baselines.BASELINES.items():
        best, scores = baselines.tune(name, c_val, x_val, s_val)
        n = args.n_slow if name == "unsupervised_wiener" else len(x_test)
        restored, ips = baselines.run_timed(name, c_test[:n], s_test[:n] if needs_sigma else None, **best)
        rows[name] = {**metrics.mean_metrics(metrics.per_image_metrics(restored, x_test[:n])),
                      "params": best, "validation_mse": scores, "images_per_s": ips,
                      "note": ORACLE_NOTE if oracle else "no PSF: denoising only"}
        print(name, best, rows[name]["mse"])
    for name in models.pretrained_names():
        model = models.load_pretrained(name)
        start = time.perf_counter()
        restored = metrics.predict(model, c_test)
        ips = len(c_test) / (time.perf_counter() - start)
        rows[f"{name} (shipped)"] = {**metrics.mean_metrics(metrics.per_image_metrics(restored, x_test)),
                                     "params": {}, "images_per_s": ips, "note": "network, blind (no PSF)"}
    doc = {
        "about": __doc__.split("\n\n")[1].replace("\n", " "),
        "command": "python experiments/baselines.py " + " ".join(argv or sys.argv[1:]),
        "machine": profiles.machine_info(),
        "date": time.strftime("%Y-%m-%d"),
        "validation": {"n_images": args.n_val, "subset_seed": 1234, "corruption_seed": 4321},
        "rows": rows,
    }
    atomic_write_json(args.out, doc)
    lines = ["| method | test MSE | PSNR (dB) | SSIM | images | images/s | tuned on validation | note |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        ips = f"{r['images_per_s']:.0f}" if "images_per_s" in r else "–"
        lines.append(f"| {name} | {r['mse']:.5f} | {r['psnr']:.2f} | {r['ssim']:.4f} | {r['n_images']} | {ips} | "
                     f"{r['params'] or '–'} | {r.get('note', '')} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
