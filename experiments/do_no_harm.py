"""Do no harm: a DeblurNet for the photos people have, sharp ones included.

The shipped networks were trained on the study's corruption only (sigma in [1, 4), noise 0.02) and over-sharpen anything
else: a sharp photo comes back at about 22 dB. This DeblurNet keeps the shipped one's architecture, recipe and length
(ours, the full profile's 49,000 training images, 19,823 steps of 32 = 634,336 images, the same seeds) and trains on
a corruption that covers what people have: a share of images left sharp (no blur), the others blurred with sigma
uniform in [0.3, 6), each with a noise level uniform in [0, 0.05]. A first model trained so (25 % sharp) left sharp
CIFAR images alone but over-sharpened sharp photos (36.9 dB): a photo's edges spread over more pixels than a CIFAR
image's, so it looks blurred. So a share of the clean images is also magnified (``Study.zoom_fraction``,
``deblur.corruption.magnify``): sharp but soft, as photos are. The photo experts (:data:`VARIANTS`: sharp share,
magnified share and range, batch) are compared at equal steps on validation images only (1,000 held out of the
training split, and crops of two photographs that are not among the evaluation's), never the test set; a second
round (:data:`ROUND2`) is recorded. The candidate to ship, :func:`deblurnet_mix`, weighs the shipped DeblurNet and
the chosen photo expert pixel by pixel with a small gate trained with both frozen. The bar (``BAR``): on the
extended grid (sigma 0, 0.25, 0.5 ... 6, noise 0, 0.01, 0.02, 0.05), on CIFAR test images and on crops of
scikit-image's photographs, the mean per-image PSNR is never below min(input PSNR, 40 dB) - 0.3 dB, it gains at
least 2 dB where sigma >= 1.5, and inside the study's range its test MSE (all 10,000 test images, the cards' test
corruption) is within 5 % of the shipped DeblurNet's. The mixture missed it; the model that ships is the third
round's (:data:`ROUND3`, trained on the CPU): crops of photographs in the training pool, 8 blocks, and a guard that
keeps each image's change in proportion to its size (:func:`deblur.inference.guard_changes`, chosen on validation
images from :data:`GUARDS`). Writes ``reports/do_no_harm.json`` and ``docs/figures/do_no_harm_round3.png``.

    bash experiments/gpu.sh run photo        # every variant at once on a GPU (5.4 min on an H200), or one by one:
    python experiments/do_no_harm.py train --variant NAME --data ../shared/data/cifar10-jpeg.tar.gz
    python experiments/do_no_harm.py ablate --data ../shared/data/cifar10-jpeg.tar.gz     # --round 2 for ROUND2
    python experiments/do_no_harm.py mix --data ../shared/data/cifar10-jpeg.tar.gz
    python experiments/do_no_harm.py evaluate --data ../shared/data/cifar10-jpeg.tar.gz
    python experiments/do_no_harm.py export --data ../shared/data/cifar10-jpeg.tar.gz

The shipped third round (about an hour on the 2-core AVX-512 CPU in bfloat16; checkpointed, a rerun resumes)::

    R=runs/do_no_harm/round3/s25z25p20k8 D=../shared/data/cifar10-jpeg.tar.gz
    python experiments/do_no_harm.py train --variant s25z25p20k8 --run-dir $R --data $D
    python experiments/do_no_harm.py guard --run-dir $R --data $D
    python experiments/do_no_harm.py evaluate --variant s25z25p20k8 --run-dir $R --data $D
    python experiments/do_no_harm.py export --run-dir $R --data $D

``train`` trains (or resumes) one variant into ``runs/do_no_harm/ablation/VARIANT``; ``ablate`` scores them and
picks the photo expert; ``mix`` trains the gate in ``runs/do_no_harm/deblurnet_photo``; ``evaluate`` scores that;
``export`` ships it (``deblur/weights/deblurnet_photo.*``) only if the record says it meets the bar. Two GPU-trained
photo experts are kept in ``experiments/do_no_harm_experts/`` (the chosen s40z50b64 and the 6-block s25z50b64k6:
weights without optimizer state, with their config and history), so ``mix --run-root experiments/do_no_harm_experts
--variant NAME`` needs no GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
from skimage import data as skdata, transform

from deblur import corruption, data, degradations, files, inference, metrics, models, natural, plots, study, sweep, training
from deblur.recipe import Recipe, Steps

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import export_weights, records  # noqa: E402

# ---------------------------------------------------------------- config
SIGMA_RANGE = (0.3, 6.0)
NOISE_RANGE = (0.0, 0.05)
#: The ablation's variants: sharp share, share of clean images magnified, their largest magnification, batch size,
#: DeblurNet's builder arguments.
VARIANTS = {
    "s25": dict(share=0.25, zoom=0.0),                 # the first photo model's recipe
    "s25z50": dict(share=0.25, zoom=0.5),
    "s40z50": dict(share=0.4, zoom=0.5),
    "s60z50": dict(share=0.6, zoom=0.5),
    "s40z50x3": dict(share=0.4, zoom=0.5, zoom_max=3.0),
    "s40z80": dict(share=0.4, zoom=0.8),
    "s40z50b64": dict(share=0.4, zoom=0.5, batch_size=64),  # twice the images in the same steps
}
#: A second round, after the first showed every magnified variant 1.10-1.16x the shipped DeblurNet inside the study's
#: range: more images, more blocks, milder magnification (batch 128 at twice the learning rate). Recorded, not chosen
#: from: most were stopped by the GPU's time before their last epochs.
ROUND2 = {
    "s25b128": dict(share=0.25, zoom=0.0, batch_size=128, lr=2e-3),
    "s25z50b128": dict(share=0.25, zoom=0.5, batch_size=128, lr=2e-3),
    "s25z30h15b128": dict(share=0.25, zoom=0.3, zoom_max=1.5, batch_size=128, lr=2e-3),
    "s15z30h15b128": dict(share=0.15, zoom=0.3, zoom_max=1.5, batch_size=128, lr=2e-3),
    "s25z50b64k6": dict(share=0.25, zoom=0.5, batch_size=64, build={"blocks": 6}),
    "s25z50b128k8": dict(share=0.25, zoom=0.5, batch_size=128, lr=2e-3, build={"blocks": 8}),
    "s25z30h15b128k8": dict(share=0.25, zoom=0.3, zoom_max=1.5, batch_size=128, lr=2e-3, build={"blocks": 8}),
}
#: A third round, on the CPU (bfloat16 where it computes it): the first rounds' photo experts over-sharpen sharp photos
#: (37.9 dB, floor 39.7) because CIFAR's thumbnails are sharper than photographs; so crops of photographs join the
#: training pool (``photos``: their share of it, :func:`training_photo_patches`), and the trunk is deeper (8 blocks:
#: 6 blocks were the second round's best inside the study's range).
ROUND3 = {
    "s25z25p20k8": dict(share=0.25, zoom=0.25, photos=0.2, build={"blocks": 8}, precision="auto"),
}
#: Candidate do-no-harm guards ``(low, high)`` of :func:`deblur.inference.guard_changes` for the third round: an
#: image's change is kept in full above an RMS of ``high`` (on the [0, 1] scale), not at all below ``low``.
GUARDS = ((0.01, 0.02), (0.012, 0.025), (0.01, 0.03), (0.015, 0.03))
#: Photographs whose crops may join the training pool (:func:`training_photo_patches`): bundled with scikit-image,
#: none of the evaluation's (:data:`PHOTOS`) nor of model choice (:data:`VALIDATION_PHOTOS`); grey ones as RGB.
TRAINING_PHOTOS = ("camera", "coins", "moon", "brick", "grass", "gravel", "cell", "motorcycle_left",
                   "motorcycle_right")
ALL_VARIANTS = {**VARIANTS, **ROUND2, **ROUND3}
#: Photographs for model choice, none of the evaluation's.
VALIDATION_PHOTOS = ("immunohistochemistry", "retina")
#: Where the photo experts were trained (``bash experiments/gpu.sh run photo``, 2026-12-04).
PHOTO_EXPERT_HARDWARE = "one NVIDIA H200, Keras 3.15.1 on JAX 0.11.2 (CUDA), 7 variants at once; numpy corruption"
GATE_STEPS = 1500                      # the mixture's gate, both experts frozen, on the photo expert's corruption
GRID = {"sigmas": (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0), "noise_levels": (0.0, 0.01, 0.02, 0.05)}
BAR = {"no_harm_db": 0.3, "psnr_cap_db": 40.0, "gain_db": 2.0, "gain_from_sigma": 1.5, "inside_mse_ratio": 1.05}
N_CIFAR = 200                          # CIFAR images of the grid (validation in the ablation, test after)
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field")
CROP = 256                             # photo crops, CROP x CROP from each photo's centre
PROFILE = "full"
SEEDS = study.Seeds(0)
SHIPPED_NAME = "deblurnet_photo"
RUN_ROOT = Path("runs/do_no_harm")
OUT = "reports/do_no_harm.json"
FIGURE = "docs/figures/do_no_harm_round3.png"  # the mixture's evaluation drew docs/figures/do_no_harm.png
# -------------------------------------------------------------------------

ABOUT = (" ".join(__doc__.split("\n\n")[1].split())
         + " Regenerate with the commands in experiments/do_no_harm.py's docstring.")


def photo_recipe(variant, *, steps=None):
    """The shipped DeblurNet's recipe and length on the photo corruption of :data:`VARIANTS` ``variant``."""
    v = ALL_VARIANTS[variant]
    recipe = study.get_profile(PROFILE).recipe_for("deblurnet")
    degradation = degradations.Study(sigma_range=SIGMA_RANGE, noise_std=NOISE_RANGE, sharp_fraction=v["share"],
                                     zoom_fraction=v["zoom"], zoom_range=(1.0, v.get("zoom_max", 2.0)))
    recipe = replace(recipe, degradation=degradation,
                     batch_size=v.get("batch_size", recipe.batch_size), build=v.get("build", {}),
                     learning_rate=v.get("lr", recipe.learning_rate), precision=v.get("precision", "float32"))
    return recipe if steps is None else replace(recipe, length=Steps(int(steps)))


def training_photo_patches(n, seed):
    """``n`` random 32x32 crops of :data:`TRAINING_PHOTOS`, half at full size and half at half size, uint8 RGB.

    Photographs are softer pixel for pixel than CIFAR's thumbnails: these crops show the network what a sharp photo
    looks like (a share of them stays sharp, like any training image).
    """
    rng = np.random.default_rng(seed)
    photos = []
    for name in TRAINING_PHOTOS:
        image = skdata.stereo_motorcycle()[name.endswith("right")] if name.startswith("motorcycle") else getattr(
            skdata, name)()
        image = np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3]
        half = transform.rescale(image, 0.5, channel_axis=-1, anti_aliasing=True, preserve_range=True)
        photos += [image, np.round(half).astype(np.uint8)]
    patches = np.empty((n, 32, 32, 3), dtype=np.uint8)
    for i, k in enumerate(rng.integers(len(photos), size=n)):
        photo = photos[k]
        top, left = rng.integers(photo.shape[0] - 31), rng.integers(photo.shape[1] - 31)
        patches[i] = photo[top:top + 32, left:left + 32]
    return patches


def training_pool(x_train, variant, seed=SEEDS.init):
    """The variant's training pool: CIFAR's training images, plus photo crops where the variant has a share."""
    share = ALL_VARIANTS[variant].get("photos", 0.0)
    n = round(len(x_train) * share / (1 - share))
    return np.concatenate([x_train, training_photo_patches(n, seed)]) if n else x_train


def photo_crops(names=PHOTOS, size=CROP):
    """Centre crops of scikit-image's photographs, uint8 (len(names), size, size, 3)."""
    crops = []
    for photo in natural.load_natural_images(names).values():
        top, left = (photo.shape[0] - size) // 2, (photo.shape[1] - size) // 2
        crops.append(photo[top:top + size, left:left + size])
    return np.stack(crops)


def _gate_init(seed, index):
    """Glorot-uniform seeded per layer, as ``deblur.models``' builders do (unseeded for None)."""
    return "glorot_uniform" if seed is None else keras.initializers.GlorotUniform(seed=seed + index)


def deblurnet_mix(input_shape=(None, None, 3), *, width=64, blocks=4, head=32, gate=16, seed=None,
                  name="deblurnet_mix"):
    """Two DeblurNets and a gate that weighs them pixel by pixel: the study's expert where its corruption is.

    Expert ``study`` is a DeblurNet for the study's corruption (sigma 1-4, noise 0.02), expert ``photo`` one for the
    photos people have (sharp, soft or blurred, noise up to 0.05; ``experiments/do_no_harm.py``). A photo expert costs
    a few % inside the study's range and the study's expert over-sharpens sharp photos, so a gate (three stride-2 3x3
    convolutions and one more of ``gate`` ReLUs, a 1x1 sigmoid, bilinear upsampling by 8) looks at about 60x60 pixels
    around each pixel and returns ``photo + g * (study - photo)``, g in (0, 1). Trained with both experts frozen, it
    learns where the study's expert is the better one. Its reach is bounded, so tiled restoration shows no seams.

    Parameters
    ----------
    input_shape, width, blocks, head, seed
        As in :func:`deblur.models.deblurnet` (both experts); height and width multiples of 8.
    gate : int, default 16
        Channels of the gate's convolutions.
    name : str, default "deblurnet_mix"

    Returns
    -------
    model : keras.Model
        ``(batch, H, W, 3)`` to ``(batch, H, W, 3)``; nested models ``study`` and ``photo``. 634,759 parameters with
        the defaults (twice DeblurNet's 313,667, and 7,425 of the gate); 0.327 GFLOP per 32x32 image.
    """
    inputs = keras.Input(shape=input_shape, name="corrupted")
    study, photo = (models.deblurnet(input_shape, width=width, blocks=blocks, head=head, seed=seed, name=n)(inputs)
                    for n in ("study", "photo"))
    g = inputs
    for i in range(4):
        g = keras.layers.Conv2D(gate, 3, strides=2 if i < 3 else 1, padding="same", activation="relu",
                          kernel_initializer=_gate_init(seed, 200 + i), name=f"gate_conv{i + 1}")(g)
    g = keras.layers.Conv2D(1, 1, activation="sigmoid", kernel_initializer=_gate_init(seed, 204), name="gate")(g)
    g = keras.layers.UpSampling2D(8, interpolation="bilinear", name="gate_upsampled")(g)
    gated = keras.layers.Multiply(name="gated")([g, keras.layers.Subtract(name="study_minus_photo")([study, photo])])
    return keras.Model(inputs, keras.layers.Add(name="restored")([photo, gated]), name=name)


def gate_recipe(variant):
    """The recipe that trains the gate of :func:`deblur.models.deblurnet_mix`: ``variant``'s corruption, batch 32."""
    return replace(photo_recipe(variant, steps=GATE_STEPS), model="deblurnet_mix", build={}, batch_size=32,
                   learning_rate=1e-3)


def shipped_recipe(variant):
    """The recipe of the model that ships: a third-round variant alone, or an earlier one's mixture's gate."""
    return photo_recipe(variant) if variant in ROUND3 else gate_recipe(variant)


def mix(args):
    """The shipped model: the shipped DeblurNet (study expert), the chosen variant (photo expert), a gate trained."""
    variant = args.variant or chosen_variant(args.out)
    model = deblurnet_mix(seed=SEEDS.init, name=SHIPPED_NAME)
    model.get_layer("study").set_weights(models.load_pretrained("deblurnet").get_weights())
    model.get_layer("photo").set_weights(training.load_run(Path(args.run_root) / variant).model.get_weights())
    for expert in ("study", "photo"):
        model.get_layer(expert).trainable = False
    x_train = study.load_profile_data(study.get_profile(PROFILE), args.data)["x_train"]
    return study.train_model(replace(gate_recipe(variant), precision="float32"), x_train, run_dir=args.run_dir,
                             model=model, verbose=2)


def run_recipe(run_dir):
    """The recipe a run folder was trained with (its ``config.json``)."""
    return Recipe.from_dict(json.loads((Path(run_dir) / "config.json").read_text(encoding="utf-8")))


def validation_photo_crops(size=CROP):
    """Crops of the validation photographs (:data:`VALIDATION_PHOTOS`): two corners of each, uint8 (4, size, size,
    3)."""
    photos = natural.load_natural_images(VALIDATION_PHOTOS).values()
    return np.stack([crop for photo in photos for crop in (photo[:size, :size], photo[-size:, -size:])])


def predictor(model, guard=None):
    """``f(corrupted) -> restored``: :func:`deblur.restore` in float32, with ``guard`` (``(low, high)`` or None)."""
    return lambda c: inference.restore(model, c, batch_size=64, progress=False, precision="float32", guard=guard)


def grid_rows(models_by_name, images, *, seed=SEEDS.sweep_corruption):
    """The extended grid (:data:`GRID`) on ``images``: identity and each model (a Keras model or a
    :func:`predictor`), mean per-image PSNR."""
    methods = {name: (lambda c, s, f=(model if callable(model) and not isinstance(model, keras.Model)
                                      else predictor(model)): f(c)) for name, model in models_by_name.items()}
    return sweep.degradation_sweep(methods, images, **GRID, seed=seed)


def bar_check(rows, method):
    """Where ``method`` misses the bar on a grid's rows: harm (below the input's capped PSNR) and missed gains."""
    cells = {}
    for r in rows:
        cells.setdefault((r["sigma"], r["noise_std"]), {})[r["method"]] = r["psnr"]
    misses = []
    for (sigma, noise), cell in sorted(cells.items()):
        given, got = cell[sweep.IDENTITY], cell[method]
        floor = min(given, BAR["psnr_cap_db"]) - BAR["no_harm_db"]
        if got < floor:
            misses.append({"sigma": sigma, "noise_std": noise, "kind": "harm", "input_psnr": given, "psnr": got,
                           "floor": floor})
        if sigma >= BAR["gain_from_sigma"] and got - given < BAR["gain_db"]:
            misses.append({"sigma": sigma, "noise_std": noise, "kind": "gain", "input_psnr": given, "psnr": got,
                           "gain": got - given})
    return misses


def train(x_train, recipe, run_dir, *, workers=1, verbose=2):
    """Train (or resume) one photo DeblurNet; returns the TrainedRun."""
    model = models.deblurnet(seed=SEEDS.init, name=SHIPPED_NAME, **recipe.build)
    return study.train_model(recipe, x_train, run_dir=run_dir, model=model, workers=workers, verbose=verbose)


def validation_scorer(data_source, variant="s25"):
    """``score(model)``: its grids, bar misses and in-range ratio on the validation images (never the test set).

    In range: the CIFAR images ``variant``'s run held out of its training pool (1,000 for the first two rounds), the
    study's corruption (``Seeds.test_corruption``), against the shipped DeblurNet; grids: :data:`N_CIFAR` of them and
    :func:`validation_photo_crops`.
    """
    x_train = study.load_profile_data(study.get_profile(PROFILE), data_source)["x_train"]
    pool = training_pool(x_train, variant)
    _, val_idx = training.split_train_val(len(pool), val_fraction=photo_recipe(variant).validation_split,
                                          seed=study.Seeds(photo_recipe(variant).seed).training)
    val = x_train[val_idx[val_idx < len(x_train)]]
    val_corrupted, _ = corruption.corrupt(val, seed=SEEDS.test_corruption)
    shipped_mse = metrics.evaluate(None, predictor(models.load_pretrained("deblurnet"))(val_corrupted), val)["mse"]
    images = {"cifar": val[:N_CIFAR], "photos": validation_photo_crops()}

    def score(model, guard=None):
        grids = {k: grid_rows({"model": predictor(model, guard)}, x) for k, x in images.items()}
        misses = [dict(m, images=k) for k, rows in grids.items() for m in bar_check(rows, "model")]
        inside = metrics.evaluate(None, predictor(model, guard)(val_corrupted), val)["mse"]
        return {"inside_ratio": inside / shipped_mse, "misses": misses,
                "n_misses": len(misses),
                "worst_harm_db": min([m["psnr"] - m["floor"] for m in misses if m["kind"] == "harm"], default=0.0),
                "grids": grids}

    score.n_validation = len(val)
    return score


def ablate(args, command):
    """Score each variant's finished run folder under ``--run-root`` on validation images; the record names one.

    Every variant must meet the in-range part of the bar on validation images (1,000 of the training split held out,
    the study's corruption, against the shipped DeblurNet); of those, the fewest bar misses on the validation grids
    (CIFAR and photographs), then the smallest worst harm, then the lowest in-range MSE.
    """
    score = validation_scorer(args.data)
    results = {}
    for variant in VARIANTS:
        run = training.load_run(Path(args.run_root) / variant)
        if not run.finished:
            raise SystemExit(f"error: {args.run_root}/{variant} is not finished ({run.steps:,} steps).")
        recipe = run_recipe(run.run_dir)
        results[variant] = r = {"variant": variant, **VARIANTS[variant], "steps": run.steps,
                                "images_seen": run.steps * recipe.batch_size,
                                "train_seconds": sum(run.history["seconds"]), **score(run.model),
                                "recipe": recipe.as_dict()}
        print(f"{variant}: {r['n_misses']} misses (worst harm {r['worst_harm_db']:.2f} dB), in-range "
              f"{r['inside_ratio']:.3f}x the shipped DeblurNet", flush=True)
    eligible = [r for r in results.values() if r["inside_ratio"] <= BAR["inside_mse_ratio"]] or list(results.values())
    chosen = min(eligible, key=lambda r: (r["n_misses"], -r["worst_harm_db"], r["inside_ratio"]))
    record = {"variants": results, "chosen": chosen["variant"], "n_validation": score.n_validation,
              "n_cifar_grid": N_CIFAR, "validation_photos": list(VALIDATION_PHOTOS), "crop": CROP,
              "rule": "in-range MSE on the validation images within the bar's ratio of the shipped DeblurNet's; then "
                      "fewest bar misses on the validation grids (CIFAR and photographs), then the smallest worst "
                      "harm, then the lowest in-range MSE"}
    records.update_report(args.out, {"ablation": record}, about=ABOUT, command=command)
    print(f"chosen: {chosen['variant']}")


def ablate_round2(args, command):
    """The second round's run folders: how far each got; the finished ones scored as in :func:`ablate`."""
    score = validation_scorer(args.data)
    results = {}
    for variant in ROUND2:
        run_dir = Path(args.run_root) / variant
        history = files.read_json(run_dir / training.HISTORY_FILE)
        recipe = run_recipe(run_dir)
        steps_per_epoch = -(-history["data"]["n_train"] // recipe.batch_size)
        row = {"variant": variant, **ROUND2[variant], "epochs": len(history["epochs"]),
               "steps": history.get("final_step") or len(history["epochs"]) * steps_per_epoch,
               "finished": history.get("final_step") == getattr(recipe.length, "steps", None), "final_loss": history["epochs"][-1]["loss"],
               "recipe": recipe.as_dict()}
        if row["finished"]:
            row.update(score(training.load_run(run_dir).model))
        results[variant] = row
        print(variant, {k: row.get(k) for k in ("epochs", "finished", "final_loss", "inside_ratio", "n_misses")},
              flush=True)
    records.update_report(args.out, {"ablation_round2": {"variants": results, "command": command}}, about=ABOUT,
                          command=command)


def choose_guard(args, command):
    """Score :data:`GUARDS` on the validation images with the third round's model; the record names the strongest
    guard that keeps the validation grids free of bar misses and the in-range MSE within the bar's ratio."""
    variant = next(iter(ROUND3))
    run = training.load_run(args.run_dir)
    score = validation_scorer(args.data, variant)
    results = {}
    for guard in (None, *GUARDS):
        found = score(run.model, guard)
        results[str(guard)] = {"guard": guard, **{k: found[k] for k in ("inside_ratio", "misses", "n_misses")}}
        print(f"guard {guard}: {found['n_misses']} misses, in-range {found['inside_ratio']:.3f}x", flush=True)
    passing = [g for g in GUARDS if not results[str(g)]["n_misses"]
               and results[str(g)]["inside_ratio"] <= BAR["inside_mse_ratio"]]
    chosen = max(passing, key=lambda g: (g[1], g[0])) if passing else None
    record = {"variant": variant, "run_dir": str(args.run_dir), "candidates": results, "chosen": chosen,
              "n_validation": score.n_validation, "validation_photos": list(VALIDATION_PHOTOS),
              "rule": "the strongest guard (highest high, then low) with no bar miss on the validation grids and the "
                      "in-range validation MSE within the bar's ratio of the shipped DeblurNet's"}
    records.update_report(args.out, {"guard": record}, about=ABOUT, command=command)
    print(f"chosen guard: {chosen}")


def chosen_guard(path):
    record = records.read_report(path)["records"].get("guard")
    if not record or not record.get("chosen"):
        raise SystemExit(f"error: {path} has no chosen guard; run `python experiments/do_no_harm.py guard` first.")
    return tuple(record["chosen"])


def evaluation_key(variant):
    """Where a variant's evaluation goes in the record: the third round's beside the earlier mixture's."""
    return "evaluation_round3" if variant in ROUND3 else "evaluation"


def chosen_variant(path):
    record = records.read_report(path)["records"].get("ablation")
    if not record or "chosen" not in record:
        raise SystemExit(f"error: {path} has no ablation record of the variants; run `python "
                         "experiments/do_no_harm.py ablate` first, or pass --variant.")
    return record["chosen"]


def evaluate(args, command):
    """Inside the range on 10,000 test images, the grid on CIFAR test images and photo crops; record, figure."""
    variant = args.variant or chosen_variant(args.out)
    profile = study.get_profile(PROFILE)
    arrays = study.load_profile_data(profile, args.data)
    run = training.load_run(args.run_dir)
    if not run.finished:
        raise SystemExit(f"error: {args.run_dir} is not finished ({run.steps:,} steps); run train first.")
    guard = chosen_guard(args.out) if variant in ROUND3 else None
    networks = {"deblurnet": predictor(models.load_pretrained("deblurnet")), SHIPPED_NAME: predictor(run.model, guard)}
    clean, corrupted = arrays["x_test"], arrays["x_test_corrupted"]
    inside = {"identity": metrics.evaluate(None, corrupted, clean, per_image=True)}
    for name, restore_fn in networks.items():
        inside[name] = metrics.evaluate(None, restore_fn(corrupted), clean, per_image=True)
    blind_mse = np.asarray(inside["deblurnet"]["per_image"]["mse"])
    for name, result in inside.items():
        per_image = result.pop("per_image")
        result["ci"] = metrics.summary_with_ci(per_image["mse"], per_image["psnr"], seed=SEEDS.bootstrap)
        if name == SHIPPED_NAME:
            result["mse_minus_deblurnet_ci"] = list(metrics.bootstrap_ci(np.asarray(per_image["mse"]) - blind_mse,
                                                                         seed=SEEDS.bootstrap))
    ratio = inside[SHIPPED_NAME]["mse"] / inside["deblurnet"]["mse"]
    x_grid, _ = data.subset(arrays["x_test"], arrays["y_test"], N_CIFAR, seed=SEEDS.test_subset)
    grids = {"cifar": grid_rows(networks, x_grid), "photos": grid_rows(networks, photo_crops())}
    misses = {k: bar_check(rows, SHIPPED_NAME) for k, rows in grids.items()}
    verdict = {"inside_ratio": ratio, "inside_ok": ratio <= BAR["inside_mse_ratio"],
               "misses": misses, "grid_ok": not any(misses.values())}
    verdict["meets_bar"] = verdict["inside_ok"] and verdict["grid_ok"]
    recipe = run_recipe(args.run_dir)
    if recipe != shipped_recipe(variant):
        raise SystemExit(f"error: {args.run_dir} was not trained as variant {variant} "
                         f"({'`train`' if variant in ROUND3 else '`mix`'}).")
    record = {"inside": inside, "grids": grids, "verdict": verdict, "bar": BAR, "variant": variant, "guard": guard,
              "recipe": recipe.as_dict(), "steps": run.steps,
              "images_seen": run.steps * recipe.batch_size, "train_seconds": sum(run.history["seconds"]),
              "n_cifar": N_CIFAR, "photos": list(PHOTOS), "crop": CROP, "run_dir": str(args.run_dir),
              "test_subset_seed": SEEDS.test_subset, "test_corruption_seed": SEEDS.test_corruption,
              "grid_noise_seed": SEEDS.sweep_corruption, "figure": args.figure}
    records.update_report(args.out, {evaluation_key(variant): record}, about=ABOUT, command=command)
    plots.sweep_panels(grids["photos"], metric="psnr", train_sigma_range=SIGMA_RANGE, path=args.figure)
    print(f"inside: {inside[SHIPPED_NAME]['mse']:.5f} vs shipped DeblurNet {inside['deblurnet']['mse']:.5f} "
          f"(ratio {ratio:.3f}); grid misses: cifar {len(misses['cifar'])}, photos {len(misses['photos'])}; "
          f"meets the bar: {verdict['meets_bar']}")


def export(args):
    """Ship the photo DeblurNet with its card, if the record's verdict says it meets the bar."""
    weights_dir = Path(args.weights_dir or models.PRETRAINED_DIR)
    files.check_outputs([weights_dir / f"{SHIPPED_NAME}.weights.h5", weights_dir / f"{SHIPPED_NAME}.json"],
                        [args.out, args.run_dir, args.data])
    saved = records.read_report(args.out)["records"]
    record = saved.get(evaluation_key(next(iter(ROUND3)))) or saved.get("evaluation")
    if not record:
        raise SystemExit(f"error: {args.out} has no evaluation record; run `python experiments/do_no_harm.py "
                         "evaluate --data PATH` first.")
    if not record["verdict"]["meets_bar"]:
        raise SystemExit(f"error: the photo DeblurNet misses the bar (inside ratio "
                         f"{record['verdict']['inside_ratio']:.3f}, grid misses "
                         f"{ {k: len(v) for k, v in record['verdict']['misses'].items()} }), so it does not ship.")
    sha = export_weights.archive_sha256(args.data)
    data_arg = f" --data {args.data}" if args.data else ""
    variant = record["variant"]
    if variant in ROUND3:
        card = export_weights.export_pretrained(
            args.run_dir, name=SHIPPED_NAME, recipe=photo_recipe(variant),
            command=f"python experiments/do_no_harm.py train --variant {variant}{data_arg}",
            evaluation={"test": record["inside"][SHIPPED_NAME], "identity": record["inside"]["identity"]},
            data_source=data.describe_source(args.data), data_sha256=sha, out_dir=weights_dir,
            extra={"training_photos": {"share_of_pool": ROUND3[variant]["photos"], "photos": list(TRAINING_PHOTOS),
                                       "how": "random 32x32 crops, half at full size, half at half size"},
                   "restore_guard": list(record["guard"])})
        print(f"exported {SHIPPED_NAME}: deblur/weights/{card['weights_file']} and its model card")
        return
    ablation = records.read_report(args.out)["records"]["ablation"]["variants"][variant]
    experts = {"study": "the shipped deblurnet, unchanged (its card: deblur/weights/deblurnet.json)",
               "photo": {"variant": variant, "recipe": ablation["recipe"], "steps": ablation["steps"],
                         "images_seen": ablation["images_seen"], "train_seconds": round(ablation["train_seconds"], 1),
                         "hardware": PHOTO_EXPERT_HARDWARE,
                         "command": f"python experiments/do_no_harm.py train --variant {variant}{data_arg}"},
               "gate": "trained by the command below with both experts frozen; its recipe is this card's"}
    card = export_weights.export_pretrained(
        args.run_dir, name=SHIPPED_NAME, command=f"python experiments/do_no_harm.py mix{data_arg}",
        evaluation={"test": record["inside"][SHIPPED_NAME], "identity": record["inside"]["identity"]},
        data_source=data.describe_source(args.data), data_sha256=sha, out_dir=weights_dir, extra={"experts": experts})
    print(f"exported {SHIPPED_NAME}: deblur/weights/{card['weights_file']} and its model card")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ablate_parser = sub.add_parser("ablate", help="score the variants' run folders on validation images; pick one")
    ablate_parser.add_argument("--round", type=int, choices=(1, 2), default=1, help="2: the second round, recorded")
    train_parser = sub.add_parser("train", help="train (or resume) one variant, by default the ablation's choice")
    mix_parser = sub.add_parser("mix", help="the shipped model: both experts and the gate, trained on the photo "
                                            "corruption with the experts frozen")
    evaluate_parser = sub.add_parser("evaluate", help="inside the range and on the extended grid; record, figure")
    guard_parser = sub.add_parser("guard", help="choose the third round's do-no-harm guard on validation images")
    export_parser = sub.add_parser("export", help="ship it with its model card, if the record says it meets the bar")
    for p in (ablate_parser, mix_parser):
        p.add_argument("--run-root", type=Path, default=RUN_ROOT / "ablation",
                       help="a folder holding one finished run folder per variant, named as the variant")
    train_parser.add_argument("--steps", type=int, default=None, help="default: the shipped DeblurNet's 19,823")
    train_parser.add_argument("--workers", type=int, default=1, help="threads preparing batches (default 1)")
    evaluate_parser.add_argument("--figure", default=FIGURE)
    export_parser.add_argument("--weights-dir", type=Path, default=None, help="default: the package's deblur/weights")
    for p in (ablate_parser, train_parser, mix_parser, evaluate_parser, export_parser, guard_parser):
        p.add_argument("--data", default=None)
        p.add_argument("--out", default=OUT, help="the record")
    train_parser.add_argument("--run-dir", type=Path, default=None, help="default: runs/do_no_harm/ablation/VARIANT")
    for p in (mix_parser, evaluate_parser, export_parser, guard_parser):
        p.add_argument("--run-dir", type=Path, default=RUN_ROOT / SHIPPED_NAME)
    for p in (train_parser, mix_parser, evaluate_parser):
        p.add_argument("--variant", choices=sorted(ALL_VARIANTS), default=None,
                       help="default: the ablation's choice")
    args = parser.parse_args(argv)
    command = records.command_line(argv, prog="python experiments/do_no_harm.py")
    if args.command == "ablate":
        files.check_outputs([args.out, args.run_root], [args.data], allow=(args.out,))
        (ablate if args.round == 1 else ablate_round2)(args, command)
    elif args.command == "train":
        variant = args.variant or chosen_variant(args.out)
        x_train = study.load_profile_data(study.get_profile(PROFILE), args.data)["x_train"]
        train(training_pool(x_train, variant), photo_recipe(variant, steps=args.steps),
              args.run_dir or RUN_ROOT / "ablation" / variant, workers=args.workers)
    elif args.command == "guard":
        files.check_outputs([args.out], [args.data, args.run_dir], allow=(args.out,))
        choose_guard(args, command)
    elif args.command == "mix":
        mix(args)
    elif args.command == "evaluate":
        files.check_outputs([args.out, args.figure], [args.data, args.run_dir], allow=(args.out,))
        evaluate(args, command)
    else:
        export(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
