"""What knowing the blur buys: a non-blind DeblurNet, its blind twin, and blind -> estimated sigma -> non-blind.

The shipped networks are blind. A non-blind DeblurNet is told each image's
blur sigma, normalised to ``(sigma - 2.5) / 1.5`` (the training range [1, 4)
maps to [-1, 1)), in one of two ways: ``plane``, a constant extra input
channel; ``film``, a per-block scale and shift of the first convolution's
features computed from sigma (a 32-unit hidden layer; scale 1 and shift 0
at initialisation). A blind DeblurNet is retrained beside it with the same
recipe (ours, the full profile's 49,000 training images, the shipped
DeblurNet's 19,823 steps of 32 = 634,336 images), the same seeds and so the
very same corrupted batches (``sigma_input`` only adds the drawn sigmas to
each batch). ``ablation`` picks the conditioning: both variants and a blind
control at 1,000 steps each, scored on the quick profile's 1,000 test
images. ``evaluate`` scores the twins on all 10,000 test images with the
cards' test corruption: blind; non-blind told the true sigma (oracle) and
the sigma estimated from the corrupted image by each of the two estimators
of ``experiments/blur_estimator.py`` (spectral and network; run that script
first, it trains the network); Wiener with the true and each estimated PSF;
each with a 95 % bootstrap interval, and the paired interval of each row's
MSE minus the blind twin's. The verdict: the non-blind model and the
estimator ship only if the best estimated-sigma pipeline beats the blind
twin (the paired interval wholly below zero). Writes
``reports/nonblind.json`` and ``docs/figures/nonblind.png``.

    python experiments/nonblind.py ablation --data ../shared/data/cifar10-jpeg.tar.gz
    python experiments/nonblind.py train --variant blind --data ../shared/data/cifar10-jpeg.tar.gz
    python experiments/nonblind.py train --variant film --data ../shared/data/cifar10-jpeg.tar.gz
    python experiments/blur_estimator.py --data ../shared/data/cifar10-jpeg.tar.gz
    python experiments/nonblind.py evaluate --variant film --data ../shared/data/cifar10-jpeg.tar.gz

Training resumes from its run folder (``runs/nonblind/<variant>``), so a run
cut short by the end of a session continues where it stopped.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops

from deblur import baselines, files, metrics, models, plots, study
from deblur.recipe import Steps

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import records, reports  # noqa: E402

# ---------------------------------------------------------------- config
CONDITIONINGS = ("plane", "film")
VARIANTS = ("blind", *CONDITIONINGS)
SIGMA_RANGE = (1.0, 4.0)  # mapped to [-1, 1] before the network sees it
PROFILE = "full"  # 49,000 training images, the shipped DeblurNet's 19,823 steps
ABLATION_STEPS = 1000
ABLATION_N_TEST = 1000
BATCH_SIZE = 256  # prediction
SEEDS = study.Seeds(0)
RUNS = Path("runs/nonblind")
OUT = "reports/nonblind.json"
FIGURE = "docs/figures/nonblind.png"
BASELINES_REPORT = "reports/baselines.json"
# -------------------------------------------------------------------------

ABOUT = (" ".join(__doc__.split("\n\n")[1].split())
         + " Regenerate with the commands in experiments/nonblind.py's docstring.")


def _load_sibling(name):
    """A module from this folder (``experiments/`` is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


blur_estimator = _load_sibling("blur_estimator")


@keras.saving.register_keras_serializable(package="nonblind")
class SigmaPlane(layers.Layer):
    """Append a per-image scalar as a constant channel: ``(B, H, W, C), (B, 1) -> (B, H, W, C + 1)``."""

    def call(self, image, value):
        plane = ops.ones_like(image[..., :1]) * ops.reshape(ops.cast(value, image.dtype), (-1, 1, 1, 1))
        return ops.concatenate([image, plane], axis=-1)

    def compute_output_shape(self, image_shape, value_shape):
        return (*image_shape[:-1], None if image_shape[-1] is None else image_shape[-1] + 1)


def deblurnet_nonblind(conditioning="film", *, seed=None):
    """DeblurNet told each image's blur sigma, one of two ways.

    Parameters
    ----------
    conditioning : {"film", "plane"}, default "film"
        ``"film"``: :func:`deblur.models.deblurnet_nonblind` (a hidden layer
        of 32 ReLUs from the normalised sigma, and from it a scale, starting
        at 1, and a shift, starting at 0, of each block's first convolution,
        before its ReLU). ``"plane"``: the normalised sigma as a fourth
        input channel of the head convolution (:class:`SigmaPlane`).
    seed : int, optional
        Initialisation seed.

    Returns
    -------
    keras.Model
        Inputs ``{"corrupted": (B, H, W, 3), "sigma": (B, 1)}`` (H, W even),
        output ``(B, H, W, 3)``; the identity at initialisation, like DeblurNet.
    """
    if conditioning not in CONDITIONINGS:
        raise ValueError(f"conditioning must be one of {CONDITIONINGS}; got {conditioning!r}.")
    if conditioning == "film":
        return models.deblurnet_nonblind(sigma_range=SIGMA_RANGE, seed=seed, name="deblurnet_film")
    image = keras.Input(shape=(None, None, 3), name="corrupted")
    sigma = keras.Input(shape=(1,), name="sigma")
    low, high = SIGMA_RANGE
    code = layers.Rescaling(2 / (high - low), offset=-(high + low) / (high - low), name="sigma_code")(sigma)
    features = SigmaPlane(name="sigma_plane")(image, code)
    restored = models._deblurnet_graph(image, features, width=64, blocks=4, head=32, seed=seed)
    return keras.Model({"corrupted": image, "sigma": sigma}, restored, name="deblurnet_plane")


def variant_recipe(variant, *, steps=None):
    """The full profile's DeblurNet recipe (the shipped 19,823 steps, or ``steps``), told sigma unless blind."""
    recipe = study.get_profile(PROFILE).recipe_for("deblurnet")
    if steps is not None:
        recipe = replace(recipe, length=Steps(int(steps)))
    return recipe if variant == "blind" else study.nonblind_recipe(recipe)


def train_variant(variant, x_train, *, run_dir, steps=None, verbose="auto"):
    """Train (or resume) one variant in ``run_dir``; the blind one is :func:`deblur.models.deblurnet`.

    Returns
    -------
    deblur.training.TrainedRun
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}.")
    model = None if variant == "blind" else deblurnet_nonblind(variant, seed=SEEDS.init)
    return study.train_model(replace(variant_recipe(variant, steps=steps), precision="float32"), x_train,
                             run_dir=run_dir, model=model, verbose=verbose)


def restore(model, corrupted, sigmas=None, *, batch_size=BATCH_SIZE):
    """A blind model's output, or a non-blind model's told ``sigmas`` (N,); float32 (N, H, W, 3), unclipped."""
    return metrics.predict(model, corrupted, batch_size=batch_size, sigmas=sigmas)


def score(restored, clean, sigmas):
    """Per-image MSE and PSNR, and the headline numbers with bootstrap intervals and per-bin MSE."""
    mse, psnr = metrics.per_image_mse(restored, clean), metrics.per_image_psnr(restored, clean)
    index, labels = metrics.sigma_bins(sigmas)
    summary = metrics.summary_with_ci(mse, psnr, seed=SEEDS.bootstrap)
    summary["mse_by_sigma_bin"] = {labels[b]: float(mse[index == b].mean()) for b in np.unique(index)}
    return mse, summary


def fitted_estimator(x_train_pool):
    """The classical blur estimator, fitted as ``experiments/blur_estimator.py`` fits it (tuning subset, seeds)."""
    from deblur import corruption, data

    x_fit, _ = data.subset(x_train_pool, np.zeros(len(x_train_pool)), blur_estimator.N_FIT,
                           seed=SEEDS.baseline_tuning_subset)
    c_fit, s_fit = corruption.corrupt(x_fit, seed=SEEDS.baseline_tuning_corruption)
    return blur_estimator.fit_estimator(blur_estimator.spectrum_features(c_fit), s_fit)


def compare(rows_restored, clean, sigmas, *, blind_key):
    """Score every row; add each row's paired MSE difference to the blind row (95 % bootstrap interval)."""
    scored = {name: score(restored, clean, sigmas) for name, restored in rows_restored.items()}
    blind_mse = scored[blind_key][0]
    out = {}
    for name, (mse, summary) in scored.items():
        if name != blind_key:
            summary["mse_minus_blind"] = float((mse - blind_mse).mean())
            summary["mse_minus_blind_ci"] = list(metrics.bootstrap_ci(mse - blind_mse, seed=SEEDS.bootstrap))
        out[name] = summary
    return out


def _trained(variant, x_train, *, steps, root):
    run = train_variant(variant, x_train, run_dir=root / variant, steps=steps, verbose=2)
    history = run.history
    return run.model, {"steps": run.steps, "images_seen": run.steps * variant_recipe(variant).batch_size,
                       "parameters": int(run.model.count_params()), "run_dir": str(root / variant),
                       "final_loss": float(history["loss"][-1]) if history.get("loss") else None}


def run_ablation(args, command):
    """Both conditionings and a blind control at ABLATION_STEPS, oracle sigma, the quick profile's test images."""
    profile = study.get_profile(PROFILE, n_test=args.n_test)
    arrays = study.load_profile_data(profile, args.data)
    clean, corrupted, sigmas = arrays["x_test"], arrays["x_test_corrupted"], arrays["sigma_test"]
    restored, info = {}, {}
    for variant in VARIANTS:
        start = time.perf_counter()
        model, info[variant] = _trained(variant, arrays["x_train"], steps=args.steps, root=RUNS / "ablation")
        info[variant]["wall_seconds"] = time.perf_counter() - start
        restored[variant] = restore(model, corrupted, None if variant == "blind" else sigmas)
    rows = compare(restored, clean, sigmas, blind_key="blind")
    for variant in VARIANTS:
        rows[variant].update(info[variant])
    record = {"rows": rows, "steps": args.steps, "n_images": len(clean), "sigma": "true (oracle)",
              "test_subset_seed": SEEDS.test_subset, "test_corruption_seed": SEEDS.test_corruption,
              "load_average": os.getloadavg()[0]}
    report = records.update_report(args.out, {"ablation": record}, about=ABOUT, command=command)
    print(reports.render_nonblind_table(report))


def estimated_sigmas(x_train, corrupted, *, network_file=blur_estimator.NET_FILE):
    """Each corrupted image's sigma from the two estimators of ``experiments/blur_estimator.py``.

    Returns
    -------
    dict of str -> ndarray, shape (N,)
        ``"spectral"`` (fitted here as that script fits it) and ``"network"``
        (the network that script trained and saved at ``network_file``).
    """
    network_file = Path(network_file)
    if not network_file.exists():
        raise SystemExit(f"error: no trained blur-estimator network at {network_file}; train it first with "
                         "`python experiments/blur_estimator.py --data PATH`.")
    network, _ = blur_estimator.load_or_train_network(None, path=network_file)
    return {"spectral": blur_estimator.estimate_sigmas(fitted_estimator(x_train),
                                                       blur_estimator.spectrum_features(corrupted)),
            "network": blur_estimator.network_sigmas(network, corrupted)}


def verdict(rows, estimators, *, variant):
    """Does blind image -> estimated sigma -> non-blind model beat the blind twin?

    It does when some estimator's row has a paired MSE difference to the
    blind twin whose whole 95 % interval is below zero; then the non-blind
    model and that estimator are worth shipping (the issue's rule).
    """
    pipelines = {name: rows[f"DeblurNet-{variant}, {name}-estimated sigma"] for name in estimators}
    best = min(pipelines, key=lambda name: pipelines[name]["mse"])
    beats = pipelines[best]["mse_minus_blind_ci"][1] < 0
    return {"best_estimator": best, "pipeline_beats_blind": bool(beats), "ships": bool(beats),
            "rule": "ships when the best estimated-sigma pipeline's paired MSE difference to the blind twin "
                    "has its whole 95 % interval below zero"}


def run_evaluate(args, command):
    """The twins on the full test set: blind, estimated sigma, oracle sigma; Wiener likewise; the figure."""
    profile = study.get_profile(PROFILE)
    arrays = study.load_profile_data(profile, args.data)
    clean, corrupted, sigmas = arrays["x_test"], arrays["x_test_corrupted"], arrays["sigma_test"]
    estimated = estimated_sigmas(arrays["x_train"], corrupted, network_file=args.network)
    blind, blind_info = _trained("blind", arrays["x_train"], steps=None, root=args.runs)
    nonblind, nonblind_info = _trained(args.variant, arrays["x_train"], steps=None, root=args.runs)
    balance = records.read_report(BASELINES_REPORT)["records"]["wiener"]["params"]["balance"]
    restored = {"identity": corrupted, "DeblurNet, blind (retrained twin)": restore(blind, corrupted),
                "DeblurNet, shipped": restore(models.load_pretrained("deblurnet"), corrupted)}
    for name, values in estimated.items():
        restored[f"DeblurNet-{args.variant}, {name}-estimated sigma"] = restore(nonblind, corrupted, values)
    restored[f"DeblurNet-{args.variant}, true sigma (oracle)"] = restore(nonblind, corrupted, sigmas)
    for name, values in estimated.items():
        restored[f"Wiener, {name}-estimated sigma"] = baselines.wiener_oracle(corrupted, values, balance=balance)
    restored["Wiener, true sigma (oracle)"] = baselines.wiener_oracle(corrupted, sigmas, balance=balance)
    rows = compare(restored, clean, sigmas, blind_key="DeblurNet, blind (retrained twin)")
    record = {"rows": rows, "variant": args.variant, "n_images": len(clean),
              "estimator_mae_by_bin": {name: blur_estimator.mae_by_bin(values, sigmas)
                                       for name, values in estimated.items()},
              "verdict": verdict(rows, estimated, variant=args.variant),
              "training": {v: {**info, "recipe": variant_recipe(v).as_dict()}
                           for v, info in (("blind", blind_info), (args.variant, nonblind_info))},
              "estimator_network": str(args.network), "wiener_balance": balance,
              "test_subset_seed": SEEDS.test_subset, "test_corruption_seed": SEEDS.test_corruption,
              "figure": args.figure}
    report = records.update_report(args.out, {"twins": record}, about=ABOUT, command=command)
    by_bin = {name: {b: {"mse": v} for b, v in row["mse_by_sigma_bin"].items()}
              for name, row in rows.items() if name != "identity"}
    plots.metric_by_group(by_bin, metric="mse", xlabel="true blur sigma", path=args.figure)
    print(reports.render_nonblind_table(report))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ablation = sub.add_parser("ablation", help="plane vs film vs blind, short runs")
    ablation.add_argument("--steps", type=int, default=ABLATION_STEPS)
    ablation.add_argument("--n-test", type=int, default=ABLATION_N_TEST)
    train = sub.add_parser("train", help="one variant, the shipped DeblurNet's 19,823 steps (resumes)")
    train.add_argument("--variant", choices=VARIANTS, required=True)
    train.add_argument("--steps", type=int, default=None, help="default: the shipped DeblurNet's 19,823")
    evaluate = sub.add_parser("evaluate", help="the twins and the estimated-sigma pipeline on 10,000 test images")
    evaluate.add_argument("--variant", choices=CONDITIONINGS, default="film")
    evaluate.add_argument("--figure", default=FIGURE)
    evaluate.add_argument("--network", default=blur_estimator.NET_FILE,
                          help="the blur-estimator network that experiments/blur_estimator.py trained")
    for p in (ablation, train, evaluate):
        p.add_argument("--data", default=None)
        p.add_argument("--out", default=OUT)
    for p in (train, evaluate):
        p.add_argument("--runs", type=Path, default=RUNS, help="the twins' run folders: RUNS/<variant>")
    args = parser.parse_args(argv)
    command = records.command_line(argv, prog="python experiments/nonblind.py")
    evaluating = args.command == "evaluate"
    files.check_outputs([args.out, *([args.figure] if evaluating else [])],
                          [args.data, *([args.network] if evaluating else [])], allow=(args.out,))
    if args.command == "ablation":
        run_ablation(args, command)
    elif args.command == "train":
        arrays = study.load_profile_data(study.get_profile(PROFILE), args.data)
        _trained(args.variant, arrays["x_train"], steps=args.steps, root=args.runs)
    else:
        run_evaluate(args, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
