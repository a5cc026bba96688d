"""A restore model for real photos (issue 40, parts 1 and 2): camera shake, defocus, Gaussians, noise and JPEG.

Trained at photo scale on random 128x128 crops of BSDS500's photographs (Arbelaez et al., TPAMI 2011: its ``train``
and ``test`` folders, 400 photos), degraded afresh every batch by ``deblur.degradations.REALISTIC_PHOTO`` (kernels up
to 33x33: shake up to 29 px, motion up to 25 px, defocus radius up to 6, Gaussians sigma up to 4; noise; JPEG). The
architecture is chosen by a short ablation at equal CPU time (:data:`CANDIDATES`), scored per blur family on crops
of BSDS500's ``val`` photographs (never trained on). The winner then trains on from its ablation weights. The bar
(:data:`BAR`) is checked on Levin et al.'s 32 images (``bench/levin.py --model``; evaluation only), on crops of
scikit-image's photographs (not in training) per family and strength, on the do-no-harm grid and inside the study's
range. Writes ``reports/photo_model.json``.

Budgets are **CPU seconds** of the training process (``time.process_time``: every thread, both cores), measured
inside training steps, so that a candidate's share does not depend on what else runs on the machine::

    D=../shared/data/bsds500-images.tar.gz C=../shared/data/cifar10-jpeg.tar.gz
    python experiments/photo_model.py ablate --data $D              # each candidate, 1,200 CPU-s; then scored
    python experiments/photo_model.py train --data $D               # the winner on, 6,000 CPU-s (resumable)
    python experiments/photo_model.py evaluate --data $D --cifar $C --levin ../shared/data/levin09   # the bar

A rerun of ``ablate`` or ``train`` resumes its run folders (``runs/photo_model/``) after their last epoch.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
for path in (ROOT, HERE, ROOT / "bench"):  # run as a script: tools/ and bench/'s levin and camera, the candidates
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
from tools import records  # noqa: E402

import deblur  # noqa: E402
from deblur import data, degradations, files, metrics, models, study, training  # noqa: E402
from deblur.inference import receptive_radius  # noqa: E402
from deblur.recipe import Budget, Recipe  # noqa: E402
from deblur.training import schedule  # noqa: E402

import candidates  # noqa: E402

# ---------------------------------------------------------------- config
DEGRADATION = degradations.REALISTIC_PHOTO
CROP = 128                  # training and validation crops (a multiple of every candidate's size multiple)
PER_PHOTO = 32              # random crops per training photo (400 photos: 12,800 crops, 630 MB as uint8)
VAL_PER_PHOTO = 4           # crops per BSDS500 validation photo (100 photos: 400 crops)
BATCH_SIZE = 16
ABLATION_SECONDS = 1200.0   # CPU seconds per candidate (about 10 minutes on the 2 cores)
FINAL_SECONDS = 6000.0      # CPU seconds for the winner, on from its ablation weights (about 55 minutes)
SEEDS = study.Seeds(0)
VAL_SEED = 41               # the validation crops' positions and degradations
#: name -> (builder, build keyword arguments). Each about 5 GFLOP per 128x128 crop; receptive radii 38, 62, 102 px.
CANDIDATES = {
    "deblurnet": (models.deblurnet, {"blocks": 8}),
    "deblurnet_two_scale": (candidates.deblurnet_two_scale, {"blocks": [2, 4, 2]}),
    "resunet": (candidates.resunet, {}),
}
RUN_ROOT = Path("runs/photo_model")
OUT = "reports/photo_model.json"
#: Issue 40's bar. Levin: mean PSNR, no shift search. Photos: gains over the input at noise 0.01 per family.
BAR = {"levin_db": 27.0, "gain_db": {"shake": 2.0, "defocus": 2.0, "gaussian": 2.0, "jpeg": 0.5},
       "no_harm_db": 0.3, "psnr_cap_db": 40.0, "inside_mse_ratio": 1.10, "inside_reference_mse": 0.00211}
ABOUT = " ".join(__doc__.split("\n\n")[0].split())


def extract_bsds(archive, folder=RUN_ROOT / "bsds500"):
    """BSDS500's photographs unpacked once into ``folder/{train,val,test}`` (the archive is not changed)."""
    folder = Path(folder)
    if not (folder / "images" / "val").is_dir():
        with tarfile.open(archive) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith(".jpg")]
            if not members:
                raise SystemExit(f"error: {archive} holds no BSDS500 photographs (images/<split>/*.jpg)")
            tar.extractall(folder, members=members, filter="data")
    roots = list(folder.glob("**/images"))
    if len(roots) != 1:
        raise SystemExit(f"error: {folder} should hold one images/ folder of BSDS500; found {len(roots)}")
    return roots[0]


def training_crops(images_root):
    """Random crops of the ``train`` and ``test`` photographs (seeded), uint8 (N, CROP, CROP, 3)."""
    return np.concatenate([data.load_photo_crops(images_root / split, crop=CROP, per_photo=PER_PHOTO,
                                                 seed=SEEDS.train_subset + i)
                           for i, split in enumerate(("train", "test"))])


def validation_set(images_root):
    """Crops of the ``val`` photographs and their fixed degradation: ``(clean, corrupted, draws)``."""
    clean = data.load_photo_crops(images_root / "val", crop=CROP, per_photo=VAL_PER_PHOTO, seed=VAL_SEED)
    corrupted, draws = DEGRADATION(clean, seed=VAL_SEED)
    return clean, corrupted, draws


def recipe(name, seconds):
    """The candidate's recipe: ours (Adam 1e-3, cosine, flips), fresh realistic degradations, a CPU-second budget."""
    return Recipe(name, build=CANDIDATES[name][1], lr_schedule="cosine", corruption="fresh", flips=True,
                  degradation=DEGRADATION, batch_size=BATCH_SIZE, validation_split=0.02, length=Budget(seconds))


def build(name):
    builder, kwargs = CANDIDATES[name]
    return builder(seed=SEEDS.init, **{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})


def train_one(crops, name, run_dir, *, seconds, init=None):
    """Train (or resume) one candidate; ``init``: a run folder whose final weights it starts from."""
    model = build(name)
    if init is not None:
        model.set_weights(training.load_run(init).model.get_weights())
    started = time.process_time(), time.perf_counter()
    run = study.train_model(recipe(name, seconds), crops, run_dir=run_dir, model=model, verbose=2)
    print(f"{name}: {run.steps:,} steps, {time.process_time() - started[0]:.0f} CPU-s, "
          f"{time.perf_counter() - started[1]:.0f} s wall this session", flush=True)
    return run


def score(model, val):
    """Per-family PSNR and MSE on the validation crops (:func:`deblur.study.family_scores`): the network on whole
    crops in float32, as ``experiments/real_blur.py`` scores (the degraded crops are not clipped, so not Restorer)."""
    clean, corrupted, draws = val
    return study.family_scores(metrics.predict(model, corrupted), clean, draws)


def run_summary(name, run, seconds):
    """What a run cost and did: parameters, GFLOP per crop, steps, images seen, CPU seconds, its recipe."""
    doc = files.read_json(Path(run.run_dir) / training.HISTORY_FILE)  # the budget used: not in run.history
    return {"parameters": int(run.model.count_params()),
            "gflop_per_crop": round(models.gflops_per_image(run.model, size=CROP), 3),
            "receptive_radius": int(receptive_radius(run.model)),
            "steps": int(run.steps), "images_seen": int(run.steps * BATCH_SIZE),
            "train_cpu_seconds": doc.get("budget_used_seconds"), "train_wall_seconds": sum(run.history["seconds"]),
            "epochs": len(run.history["loss"]), "precision": doc.get("precision"),
            "recipe": recipe(name, seconds).as_dict(), "length": run.length}


def ablate(args, command):
    root = extract_bsds(args.data)
    crops, val = training_crops(root), validation_set(root)
    print(f"{len(crops):,} training crops, {len(val[0])} validation crops of {CROP}x{CROP}", flush=True)
    rows = {"identity": {"validation": study.family_scores(val[1], val[0], val[2])}}
    for name in args.candidates:
        run = train_one(crops, name, args.run_root / "ablation" / name, seconds=args.seconds)
        rows[name] = {**run_summary(name, run, args.seconds), "validation": score(run.model, val)}
        print(f"{name}: validation {rows[name]['validation']['all']['psnr']:.2f} dB "
              f"(input {rows['identity']['validation']['all']['psnr']:.2f})", flush=True)
    winner = max(args.candidates, key=lambda n: rows[n]["validation"]["all"]["psnr"])
    record = {"budget_cpu_seconds": args.seconds, "crop": CROP, "batch_size": BATCH_SIZE,
              "training_crops": len(crops), "validation_crops": len(val[0]), "winner": winner, "rows": rows,
              "degradation": DEGRADATION.as_dict(), "data": f"BSDS500 ({Path(args.data).name}): train+test to "
              "train, val to validate"}
    records.update_report(args.out, {"ablation": record}, about=ABOUT, command=command)
    print(f"winner: {winner}", flush=True)


def winner(out):
    """The ablation's winner, from its record; an error that says to run ``ablate`` first."""
    record = records.read_report(out)["records"].get("ablation")  # a missing file reads as no records
    if record is None:
        raise SystemExit(f"error: {out} has no ablation record; run `python experiments/photo_model.py ablate` first")
    return record["winner"]


def final_run_dir(run_root):
    return Path(run_root) / "final"


def train_final(args, command):
    """The winner, trained on from its ablation weights for :data:`FINAL_SECONDS` more CPU seconds, then scored on the
    validation crops as in the ablation (a rerun of a finished run only scores it)."""
    name = winner(args.out)
    root = extract_bsds(args.data)
    crops, val = training_crops(root), validation_set(root)
    run = train_one(crops, name, final_run_dir(args.run_root), seconds=args.seconds,
                    init=args.run_root / "ablation" / name)
    record = {"winner": name, "init": str(args.run_root / "ablation" / name), "run_dir": str(run.run_dir),
              "finished": run.finished, **run_summary(name, run, args.seconds), "validation": score(run.model, val)}
    print(f"{name}: validation {record['validation']['all']['psnr']:.2f} dB", flush=True)
    records.update_report(args.out, {"final": record}, about=ABOUT, command=command)


# ---------------------------------------------------------------- the bar
#: The photo lines of the bar: family -> strengths (px; JPEG: quality), at noise 0.01, on every :data:`PHOTOS` crop.
PHOTO_GRID = {"shake": (7.0, 14.0, 21.0), "defocus": (1.5, 3.0, 5.0), "gaussian": (1.0, 2.0, 3.0),
              "jpeg": (20, 30, 40)}
PHOTO_NOISE = 0.01
SHAKES_PER_EXTENT = 4       # camera-shake kernels per extent (seeded), each on every photo crop


def clipped(x):
    """A degraded image as a camera or file stores it: in [0, 1]."""
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def photo_cases(photos, rng):
    """``{(family, strength): (clean, degraded)}`` for :data:`PHOTO_GRID`; degraded images clipped to [0, 1]."""
    clean = photos.astype(np.float32) / 255
    n, cases = len(clean), {}
    for family, strengths in PHOTO_GRID.items():
        for strength in strengths:
            if family == "jpeg":
                x, kernels = clean, np.ones((n, 1, 1))
            elif family == "shake":
                x = np.repeat(clean, SHAKES_PER_EXTENT, axis=0)
                kernels = degradations.shake_kernels(np.full(len(x), strength), DEGRADATION.kernel_size, rng)
            else:
                x = clean
                kernels = np.stack([degradations.family_kernel(family, strength, size=DEGRADATION.kernel_size)] * n)
            blurred = degradations.convolve(x, kernels)
            noisy = degradations.add_noise(blurred, np.full(len(x), PHOTO_NOISE), np.zeros(len(x)),
                                           rng.integers(0, 2**63, size=len(x)))
            degraded = degradations.jpeg(clipped(noisy), np.full(len(x), strength)) if family == "jpeg" else noisy
            cases[family, strength] = (x, clipped(degraded))
    return cases


def photo_lines(model, photos, *, seed=SEEDS.sweep_corruption):
    """Mean PSNR of the input and of the model per family and strength, the gain, and whether it meets the bar."""
    rows = []
    for (family, strength), (clean, degraded) in photo_cases(photos, np.random.default_rng(seed)).items():
        given = float(metrics.per_image_metrics(degraded, clean)["psnr"].mean())
        got = float(metrics.per_image_metrics(clipped(metrics.predict(model, degraded)), clean)["psnr"].mean())
        rows.append({"family": family, "strength": strength, "images": len(clean), "input_psnr": given,
                     "psnr": got, "gain": got - given, "ok": got - given >= BAR["gain_db"][family]})
    return rows


def inside_line(model, arrays):
    """Inside the study's range: test MSE (with interval) on all 10,000 CIFAR test images, the cards' corruption."""
    clean, corrupted = arrays["x_test"], arrays["x_test_corrupted"]
    result = metrics.evaluate(None, clipped(metrics.predict(model, corrupted)), clean, per_image=True)
    per_image = result.pop("per_image")
    result["ci"] = metrics.summary_with_ci(per_image["mse"], per_image["psnr"], seed=SEEDS.bootstrap)
    result["ratio"] = result["mse"] / BAR["inside_reference_mse"]
    result["ok"] = result["ratio"] <= BAR["inside_mse_ratio"]
    return result


def harm_lines(model, arrays):
    """The do-no-harm grid (``experiments/do_no_harm.py``'s, on 200 CIFAR test images and its photo crops): each
    cell's mean PSNR against min(input, 40 dB) - 0.3 dB; the worst cell and the misses."""
    import do_no_harm

    x_grid, _ = data.subset(arrays["x_test"], arrays["y_test"], do_no_harm.N_CIFAR, seed=SEEDS.test_subset)
    out = {}
    for where, images in (("cifar", x_grid), ("photos", do_no_harm.photo_crops())):
        rows = do_no_harm.grid_rows({"photo_model": model}, images)
        misses = [m for m in do_no_harm.bar_check(rows, "photo_model") if m["kind"] == "harm"]
        cells = {}
        for r in rows:
            cells.setdefault((r["sigma"], r["noise_std"]), {})[r["method"]] = r["psnr"]
        margin = {k: c["photo_model"] - (min(c["identity"], BAR["psnr_cap_db"]) - BAR["no_harm_db"])
                  for k, c in cells.items()}
        worst = min(margin, key=margin.get)
        out[where] = {"rows": rows, "misses": misses, "ok": not misses,
                      "worst": {"sigma": worst[0], "noise_std": worst[1], "margin_db": margin[worst]}}
    return out


def levin_line(model, folder):
    """Levin et al.'s 32 images as ``bench/levin.py`` scores them (no shift search): mean and per-kernel PSNR."""
    import levin

    bench = levin.load_levin(folder)
    scores = levin.score(deblur.restore(model, bench["blurred"]), bench)
    identity = levin.score(bench["blurred"], bench)
    return {"psnr": scores["psnr"], "ssim": scores["ssim"], "per_kernel_psnr": scores["per_kernel_psnr"],
            "input_psnr": identity["psnr"], "input_per_kernel_psnr": identity["per_kernel_psnr"],
            "published_db": [min(levin.PUBLISHED.values()), max(levin.PUBLISHED.values())],
            "ok": scores["psnr"] >= BAR["levin_db"]}


#: The bar's speed and memory lines (``bench/camera.py``'s way: ``deblur restore`` in a fresh process; AVX-512 type,
#: bfloat16): size -> (seconds restoring, peak RSS MB) at most; None: no memory line.
CAMERA_BAR = {(1024, 1024): (1.5, None), (4000, 3000): (25.0, 1536.0)}


def camera_lines(run_dir):
    """``deblur restore --model RUN_DIR`` on scikit-image's astronaut scaled to each :data:`CAMERA_BAR` size."""
    import re
    import tempfile

    import camera

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for (width, height), (most_seconds, most_mb) in CAMERA_BAR.items():
            photo = Path(tmp) / f"photo_{width}x{height}.png"
            camera._photo(photo, width, height)
            seconds, peak_mb, out = camera._run([sys.executable, "-m", "deblur", "restore", str(photo), "--model",
                                                 str(run_dir), "--out", str(Path(tmp) / f"out{width}"), "--quiet"])
            restore_s = float(re.search(r"restored in ([0-9.]+) s", out).group(1))
            rows.append({"width": width, "height": height, "restore_seconds": restore_s, "command_seconds": seconds,
                         "peak_rss_mb": peak_mb, "most_seconds": most_seconds, "most_mb": most_mb,
                         "ok": restore_s <= most_seconds and (most_mb is None or peak_mb <= most_mb)})
    return rows


def evaluate(args, command):
    """The bar's photo, do-no-harm and in-range lines for the final run (Levin's: ``bench/levin.py --model``)."""
    import do_no_harm

    run = training.load_run(final_run_dir(args.run_root))
    arrays = study.load_profile_data(study.get_profile("full"), args.cifar)
    photos = do_no_harm.photo_crops()
    record = {"run_dir": str(run.run_dir), "steps": int(run.steps), "photos": list(do_no_harm.PHOTOS),
              "crop": do_no_harm.CROP, "noise_std": PHOTO_NOISE, "bar": BAR,
              "photo_lines": photo_lines(run.model, photos), "inside": inside_line(run.model, arrays),
              "do_no_harm": harm_lines(run.model, arrays), "levin": levin_line(run.model, args.levin),
              "camera": camera_lines(run.run_dir)}
    record["meets_bar"] = bool(record["levin"]["ok"] and all(r["ok"] for r in record["photo_lines"])
                               and record["inside"]["ok"] and all(v["ok"] for v in record["do_no_harm"].values())
                               and all(r["ok"] for r in record["camera"]))
    records.update_report(args.out, {"bar": record}, about=ABOUT, command=command)
    for row in record["photo_lines"]:
        print(f"{row['family']} {row['strength']:g}: {row['input_psnr']:.2f} -> {row['psnr']:.2f} dB "
              f"({row['gain']:+.2f}, {'ok' if row['ok'] else 'MISS'})")
    print(f"Levin: {record['levin']['input_psnr']:.2f} -> {record['levin']['psnr']:.2f} dB (bar "
          f"{BAR['levin_db']:g}); camera: " + ", ".join(f"{r['width']}x{r['height']} {r['restore_seconds']:.2f} s "
                                                      f"{r['peak_rss_mb']:.0f} MB" for r in record["camera"]))
    print(f"meets the bar: {record['meets_bar']}")
    print(f"inside: MSE {record['inside']['mse']:.5f}, ratio {record['inside']['ratio']:.3f}; do no harm: "
          + ", ".join(f"{k} worst {v['worst']['margin_db']:+.2f} dB" for k, v in record["do_no_harm"].items()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ablate_parser = sub.add_parser("ablate", help="train every candidate for the same CPU time; score per family")
    ablate_parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES))
    ablate_parser.add_argument("--seconds", type=float, default=ABLATION_SECONDS, help="CPU seconds per candidate")
    train_parser = sub.add_parser("train", help="the ablation's winner, on from its ablation weights (resumable)")
    train_parser.add_argument("--seconds", type=float, default=FINAL_SECONDS, help="CPU seconds")
    evaluate_parser = sub.add_parser("evaluate", help="the bar's photo, do-no-harm and in-range lines")
    evaluate_parser.add_argument("--cifar", default=None, help="CIFAR-10 source (default: the official download)")
    evaluate_parser.add_argument("--levin", required=True, help="folder of Levin et al.'s imNN_kerKK.mat files")
    for p in (ablate_parser, train_parser, evaluate_parser):
        p.add_argument("--data", required=True, help="BSDS500 archive (bsds500-images.tar.gz)")
        p.add_argument("--run-root", type=Path, default=RUN_ROOT)
        p.add_argument("--out", default=OUT)
    args = parser.parse_args(argv)
    command = records.command_line(argv, prog="python experiments/photo_model.py")
    try:  # the record and the run folders never land on (or inside) the data they read
        files.check_outputs([args.out, args.run_root], [args.data, getattr(args, "cifar", None),
                                                        getattr(args, "levin", None)])
    except files.OutputConflictError as exc:
        parser.error(str(exc))
    # CPU time, not wall time: a budget buys the same work however busy the machine is (the clock is the hook the
    # budget callback documents for this).
    schedule.StepBudget.clock = staticmethod(time.process_time)
    {"ablate": ablate, "train": train_final, "evaluate": evaluate}[args.command](args, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
