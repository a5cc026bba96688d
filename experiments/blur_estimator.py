"""Blur estimators: each image's sigma from the corrupted image alone, and Wiener with the estimated PSF.

The networks are blind; the Wiener baseline is an oracle (the true PSF).
What does the oracle's knowledge cost to replace? A classical estimator:
the log power spectrum of the corrupted image (channel mean, Hann window)
in radial frequency bands, each relative to the lowest band (a Gaussian
blur damps high frequencies by ``exp(-2 pi^2 sigma^2 f^2)``; noise adds a
flat floor), expanded to degree 2 and mapped to sigma by ridge regression
(numpy least squares: scikit-learn is not a dependency), fitted on
corrupted images of the training split (the baselines' tuning subset and
corruption seeds of :class:`deblur.study.Seeds`), never the test set. And a
small network: five 3x3 convolutions of 32 ReLUs (two with stride 2),
global average pooling and a linear output, trained with MSE on the whole
training split, corrupted anew each epoch (``Seeds.estimator_training``).
Scored on the pretrained profile's 1,000 test images and test corruption:
mean absolute error per sigma bin against predicting the training mean
sigma, and Wiener (balance from ``reports/baselines.json``) with the true,
each estimated and the mean sigma. Writes ``reports/blur_estimator.json``
and ``docs/figures/blur_estimator.png``.

    python experiments/blur_estimator.py --data ../shared/data/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import sys

import time
from pathlib import Path

import numpy as np

from deblur import baselines, corruption, data, files, metrics, plots, study

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import records  # noqa: E402

# ---------------------------------------------------------------- config
N_FIT = 5000
N_TEST = 1000
BANDS = 10
RIDGE = 1e-3
NET_WIDTH = 32
NET_EPOCHS = 4
NET_BATCH = 64
NET_LEARNING_RATE = 1e-3
NET_FILE = "runs/blur_estimator/network.keras"
SEEDS = study.Seeds(0)
OUT = "reports/blur_estimator.json"
FIGURE = "docs/figures/blur_estimator.png"
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


def estimator_network(*, width=NET_WIDTH, seed=None):
    """A small CNN from a corrupted image to its blur sigma.

    Each image is standardised first (per-image zero mean and unit variance);
    the pooled features are batch-normalised before the linear output.

    Parameters
    ----------
    width : int, default 32
        Channels of each of the five 3x3 convolutions (ReLU; the second and
        fourth with stride 2).
    seed : int, optional
        Initialisation seed.

    Returns
    -------
    keras.Model
        ``(B, H, W, 3)`` float -> ``(B, 1)`` sigma (unclipped); its output
        starts at 2.5, the middle of the training range.
    """
    import keras
    from keras import layers

    # One initialisation seed per layer, all derived from ``seed``.
    layer_seeds = [None] * 6 if seed is None else [int(v) for v in np.random.SeedSequence(seed).generate_state(6)]
    image = keras.Input(shape=(None, None, 3), name="corrupted")
    # Each image standardised (zero mean, unit variance): the blur shows in
    # how its energy spreads over frequencies, not in its contrast.
    h = layers.LayerNormalization(axis=(1, 2, 3), center=False, scale=False, name="standardise")(image)
    for i, stride in enumerate((1, 2, 1, 2, 1)):
        h = layers.Conv2D(width, 3, strides=stride, padding="same", activation="relu",
                          kernel_initializer=keras.initializers.HeNormal(layer_seeds[i]),
                          name=f"conv{i + 1}")(h)
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    # The pooled features differ little between images in absolute terms:
    # standardised over the batch, the output layer learns in tens of steps.
    h = layers.BatchNormalization(momentum=0.9, name="pool_norm")(h)
    sigma = layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(layer_seeds[5]),
                         bias_initializer=keras.initializers.Constant(2.5), name="sigma")(h)
    return keras.Model(image, sigma, name="sigma_estimator")


def train_estimator_network(x_clean, *, seed, epochs=NET_EPOCHS, batch_size=NET_BATCH,
                            learning_rate=NET_LEARNING_RATE, verbose=2):
    """Train :func:`estimator_network` on clean images corrupted anew each epoch (the study's corruption).

    Parameters
    ----------
    x_clean : ndarray, shape (N, H, W, 3), uint8
    seed : int
        Initialisation, and epoch ``e``'s corruption (``[seed, e]``) and order (``[seed, e, 1]``).
    epochs, batch_size, learning_rate
        Adam with a cosine decay over all steps; MSE on sigma.

    Returns
    -------
    model : keras.Model
    seconds : float
        Training wall time.
    """
    import keras

    model = estimator_network(seed=seed)
    steps = epochs * -(-len(x_clean) // batch_size)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(learning_rate, steps)),
                  loss="mse")
    model.optimizer.build(model.trainable_variables)  # now, not while TensorFlow traces the step (a second trace)
    start = time.perf_counter()
    for epoch in range(epochs):
        corrupted, sigmas = corruption.corrupt(x_clean, seed=[seed, epoch])
        order = np.random.default_rng([seed, epoch, 1]).permutation(len(x_clean))
        # Our own permutation: Keras's shuffle draws from the global RNG.
        model.fit(corrupted[order], sigmas[order, None].astype(np.float32), batch_size=batch_size, epochs=1,
                  shuffle=False, verbose=verbose)
    return model, time.perf_counter() - start


def network_sigmas(model, corrupted, *, sigma_range=(1.0, 4.0)):
    """The network's sigma of each image, clipped to the training range; float64 (N,)."""
    return np.clip(model.predict(np.asarray(corrupted, np.float32), batch_size=256, verbose=0)[:, 0],
                   *sigma_range).astype(np.float64)


def load_or_train_network(x_clean, *, path=NET_FILE, seed=SEEDS.estimator_training, **options):
    """The saved network at ``path``, or one trained now (and saved there); ``(model, info)``."""
    import keras

    path = Path(path)
    if path.exists():
        return keras.models.load_model(path), {"trained": f"loaded from {path}"}
    model, seconds = train_estimator_network(x_clean, seed=seed, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_save(path, model.save, suffixes={".keras"})
    return model, {"train_seconds": seconds, "parameters": int(model.count_params()), "n_train": len(x_clean),
                   "epochs": options.get("epochs", NET_EPOCHS), "seed": seed, "saved": str(path)}


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


def draw(record, path):
    """The estimators' mean absolute error per true-sigma bin, beside predicting the mean sigma."""
    est = record["estimator"]
    series = {"spectral": est["mae_by_bin"], "network": record["network"]["mae_by_bin"],
              f"the mean sigma ({est['mean_sigma']:.2f})": est["mean_predictor_mae_by_bin"]}
    tables = {name: {b: cell for b, cell in bins.items() if b != "all"} for name, bins in series.items()}
    return plots.metric_by_group(tables, metric="mae", xlabel="true blur sigma", path=path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--n-fit", type=int, default=N_FIT)
    parser.add_argument("--n-test", type=int, default=N_TEST)
    parser.add_argument("--epochs", type=int, default=NET_EPOCHS, help="the network's training epochs")
    parser.add_argument("--network", default=NET_FILE, help="the trained network (trained and saved if missing)")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--figure", default=FIGURE)
    args = parser.parse_args(argv)
    command = records.command_line(argv, prog="python experiments/blur_estimator.py")
    files.check_outputs([args.out, args.network, args.figure], [args.data], allow=(args.out,))

    (x_train, y_train), _ = data.load_cifar10(args.data)
    x_fit, _ = data.subset(x_train, y_train, args.n_fit, seed=SEEDS.baseline_tuning_subset)
    c_fit, s_fit = corruption.corrupt(x_fit, seed=SEEDS.baseline_tuning_corruption)
    estimator = fit_estimator(spectrum_features(c_fit), s_fit)
    network, network_info = load_or_train_network(x_train, path=args.network, epochs=args.epochs)
    if "train_seconds" not in network_info:  # loaded: keep what the run that trained it recorded
        previous = records.read_report(args.out)["records"].get("blur_estimator", {})
        network_info = previous.get("network", {}).get("training", network_info)
    arrays = study.load_profile_data(study.get_profile("pretrained", n_test=args.n_test, seed=SEEDS.base), args.data)
    clean, corrupted, s_test = arrays["x_test"], arrays["x_test_corrupted"], arrays["sigma_test"]
    estimated = estimate_sigmas(estimator, spectrum_features(corrupted))
    from_network = network_sigmas(network, corrupted)
    mean_sigma = np.full(len(s_test), s_fit.mean())
    balance = records.read_report(BASELINES_REPORT)["records"]["wiener"]["params"]["balance"]
    wiener = {"true sigma (oracle)": s_test, "estimated sigma": estimated,
              "network-estimated sigma": from_network, "mean sigma": mean_sigma}
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
        "network": {"mae_by_bin": mae_by_bin(from_network, s_test), "training": network_info,
                    "width": NET_WIDTH, "batch_size": NET_BATCH, "learning_rate": NET_LEARNING_RATE},
        "wiener": wiener_rows, "wiener_balance": balance, "n_images": len(clean),
        "test_subset_seed": SEEDS.test_subset, "test_corruption_seed": SEEDS.test_corruption,
        "figure": args.figure,
    }
    records.write_report(args.out, about=ABOUT, records={"blur_estimator": record}, command=command)
    draw(record, args.figure)
    for label, cell in record["estimator"]["mae_by_bin"].items():
        print(f"sigma {label}: MAE {cell['mae']:.3f}, network {record['network']['mae_by_bin'][label]['mae']:.3f} "
              f"(mean predictor {record['estimator']['mean_predictor_mae_by_bin'][label]['mae']:.3f}), "
              f"{cell['n_images']} images")
    for name, row in wiener_rows.items():
        print(f"{name}: MSE {row['mse']:.5f}, PSNR {row['psnr']:.2f}")
    print(f"wrote {args.out}; `python tools/reports.py` regenerates docs/research.md from it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
