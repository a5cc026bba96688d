"""A blur estimator: each image's sigma from the corrupted image alone, and Wiener with the estimated PSF.

The networks are blind; the Wiener baseline is an oracle (the true PSF).
What does the oracle's knowledge cost to replace? A classical estimator:
the log power spectrum of the corrupted image (channel mean, Hann window)
in radial frequency bands, each relative to the lowest band (a Gaussian
blur damps high frequencies by ``exp(-2 pi^2 sigma^2 f^2)``; noise adds a
flat floor), expanded to degree 2 and mapped to sigma by ridge regression
(numpy least squares: scikit-learn is not a dependency), fitted on
corrupted images of the training split (the baselines' tuning subset and
corruption seeds of :class:`deblur.study.Seeds`), never the test set.
Scored on the pretrained profile's 1,000 test images and test corruption:
mean absolute error per sigma bin against predicting the training mean
sigma, and Wiener (balance from ``reports/baselines.json``) with the true,
the estimated and the mean sigma. Writes ``reports/blur_estimator.json``.

    python experiments/blur_estimator.py --data ../shared/data/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from deblur import baselines, corruption, data, metrics, records, study

# ---------------------------------------------------------------- config
N_FIT = 5000
N_TEST = 1000
BANDS = 10
RIDGE = 1e-3
SEEDS = study.Seeds(0)
OUT = "reports/blur_estimator.json"
BASELINES_REPORT = "reports/baselines.json"
# -------------------------------------------------------------------------

ABOUT = (__doc__.split("\n\n")[1].replace("\n", " ") + " " + __doc__.split("\n\n")[2].replace("\n", " ")
         + " Regenerate with: python experiments/blur_estimator.py --data PATH.")


def spectrum_features(images, *, bands=BANDS):
    """Log power of each image in radial frequency bands, relative to the lowest band.

    Parameters
    ----------
    images : ndarray, shape (N, H, W, C)
        Corrupted images, float (unclipped) or uint8.
    bands : int, default 10
        Equal-width bands of radial frequency from 0 to Nyquist (the DC term excluded).

    Returns
    -------
    ndarray of float64, shape (N, bands)
        Column 0: log of the image's variance; columns 1..: log power of
        band k over band 0.
    """
    x = np.asarray(images)
    if x.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C); got shape {x.shape}.")
    x = (x / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)).mean(axis=-1)
    _, h, w = x.shape
    x = x - x.mean(axis=(1, 2), keepdims=True)
    window = np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(x * window)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    radius = np.hypot(fy, fx)
    edges = np.linspace(0, 0.5, bands + 1)
    edges[0] = 1e-9  # leave out the DC term
    band_power = np.stack([power[:, (radius >= lo) & (radius < hi)].mean(axis=1)
                           for lo, hi in zip(edges[:-1], edges[1:])], axis=1)
    logs = np.log(band_power + 1e-12)
    return np.column_stack([np.log(x.var(axis=(1, 2)) + 1e-12), logs[:, 1:] - logs[:, :1]])


def _expand(features):
    """Features, their squares and pairwise products, and a constant column."""
    i, j = np.triu_indices(features.shape[1])
    return np.column_stack([np.ones(len(features)), features, features[:, i] * features[:, j]])


def fit_estimator(features, sigmas, *, ridge=RIDGE):
    """Ridge regression of sigma on degree-2 features (standardised).

    Parameters
    ----------
    features : ndarray, shape (N, F)
        :func:`spectrum_features` of corrupted training images.
    sigmas : ndarray, shape (N,)
        Their true blur sigmas.
    ridge : float, default 1e-3
        L2 penalty (on standardised features; the intercept is not penalised).

    Returns
    -------
    dict
        ``mean``, ``scale`` (standardisation), ``coef`` and the sigma range
        predictions are clipped to.
    """
    features = np.asarray(features, dtype=np.float64)
    sigmas = np.asarray(sigmas, dtype=np.float64)
    if features.ndim != 2 or len(features) != len(sigmas) or len(sigmas) < 2:
        raise ValueError(f"Need features (N, F) and N sigmas, N >= 2; got {features.shape} and {sigmas.shape}.")
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-12
    design = _expand((features - mean) / scale)
    penalty = ridge * len(design) * np.eye(design.shape[1])
    penalty[0, 0] = 0.0
    coef = np.linalg.solve(design.T @ design + penalty, design.T @ sigmas)
    return {"mean": mean, "scale": scale, "coef": coef, "clip": (float(sigmas.min()), float(sigmas.max()))}


def estimate_sigmas(estimator, features):
    """Predicted blur sigma of each image (clipped to the fitted range).

    Returns
    -------
    ndarray of float64, shape (N,)
    """
    design = _expand((np.asarray(features, dtype=np.float64) - estimator["mean"]) / estimator["scale"])
    return np.clip(design @ estimator["coef"], *estimator["clip"])


def mae_by_bin(predicted, true_sigmas):
    """Mean absolute error of sigma predictions in each of the study's sigma bins, and overall.

    Returns
    -------
    dict of str -> dict
        Bin label (``metrics.sigma_bins``) or ``"all"`` -> ``{"mae": float, "n_images": int}``.
    """
    index, labels = metrics.sigma_bins(true_sigmas)
    errors = np.abs(np.asarray(predicted) - np.asarray(true_sigmas))
    out = {labels[b]: {"mae": float(errors[index == b].mean()), "n_images": int(np.sum(index == b))}
           for b in np.unique(index)}
    out["all"] = {"mae": float(errors.mean()), "n_images": int(len(errors))}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--n-fit", type=int, default=N_FIT)
    parser.add_argument("--n-test", type=int, default=N_TEST)
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    command = records.command_line(argv, prog="python experiments/blur_estimator.py")
    records.check_outputs([args.out])

    (x_train, y_train), _ = data.load_cifar10(args.data)
    x_fit, _ = data.subset(x_train, y_train, args.n_fit, seed=SEEDS.baseline_tuning_subset)
    c_fit, s_fit = corruption.corrupt(x_fit, seed=SEEDS.baseline_tuning_corruption)
    estimator = fit_estimator(spectrum_features(c_fit), s_fit)
    arrays = study.load_profile_data(study.get_profile("pretrained", n_test=args.n_test, seed=SEEDS.base), args.data)
    clean, corrupted, s_test = arrays["x_test"], arrays["x_test_corrupted"], arrays["sigma_test"]
    estimated = estimate_sigmas(estimator, spectrum_features(corrupted))
    mean_sigma = np.full(len(s_test), s_fit.mean())
    balance = records.read_report(BASELINES_REPORT)["records"]["wiener"]["params"]["balance"]
    wiener = {"true sigma (oracle)": s_test, "estimated sigma": estimated, "mean sigma": mean_sigma}
    wiener_rows = {"identity": metrics.evaluate(None, corrupted, clean)}
    for name, sigmas in wiener.items():
        restored = baselines.wiener_oracle(corrupted, sigmas, balance=balance)
        wiener_rows[f"wiener, {name}"] = metrics.mean_metrics(metrics.per_image_metrics(restored, clean))
    record = {
        "estimator": {"mae_by_bin": mae_by_bin(estimated, s_test),
                      "mean_predictor_mae_by_bin": mae_by_bin(mean_sigma, s_test),
                      "mean_sigma": float(s_fit.mean()), "bands": BANDS, "ridge": RIDGE,
                      "n_fit": args.n_fit, "fit_subset_seed": SEEDS.baseline_tuning_subset,
                      "fit_corruption_seed": SEEDS.baseline_tuning_corruption},
        "wiener": wiener_rows, "wiener_balance": balance, "n_images": len(clean),
        "test_subset_seed": SEEDS.test_subset, "test_corruption_seed": SEEDS.test_corruption,
    }
    records.write_report(args.out, about=ABOUT, records={"blur_estimator": record}, command=command)
    for label, cell in record["estimator"]["mae_by_bin"].items():
        print(f"sigma {label}: MAE {cell['mae']:.3f} (mean predictor "
              f"{record['estimator']['mean_predictor_mae_by_bin'][label]['mae']:.3f}), {cell['n_images']} images")
    for name, row in wiener_rows.items():
        print(f"{name}: MSE {row['mse']:.5f}, PSNR {row['psnr']:.2f}")
    print(f"wrote {args.out}; `python -m deblur.reports` regenerates docs/research.md from it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
