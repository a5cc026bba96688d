"""Benchmark: Levin et al.'s (2009) 32 real camera-shake images, scored as the field scores them.

    python bench/levin.py --levin ../shared/data/levin09 --tune-data ../shared/data/bsds500-images.tar.gz

Scores doing nothing, every shipped model (``deblur.restore`` by name: the default model with its do-no-harm guard),
any trained model named with ``--model LABEL=RUN_DIR_OR_FILE``, and two non-blind references that are given the true
kernel: Wiener deconvolution and Richardson-Lucy (``skimage.restoration``, reflect-padded against the FFT's wrap-around).
Metrics: mean PSNR and SSIM with a 15-pixel border left out, without a shift search (a network's output is aligned
with its input), and beside it the PSNR at the best integer shift within +-5 pixels (Levin's protocol allows it). The
published numbers of classical blind deconvolution on the same 32 images (Wen et al., TCSVT 2021, table of "PMP")
stand beside ours, labelled as published.

Levin's images and kernels are for evaluation only: the references' parameters (Wiener's balance, Richardson-Lucy's
iterations) are chosen on BSDS500 training photographs (``--tune-data``) blurred by the realistic family's
camera-shake kernels at Levin's noise level (about 1 %), never on Levin's. Writes ``reports/levin.json``.
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image
from skimage.metrics import structural_similarity
from scipy.io import loadmat
from skimage.restoration import richardson_lucy, wiener

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import records  # noqa: E402

import deblur  # noqa: E402
from deblur import data, degradations, files, models, training  # noqa: E402

# ---------------------------------------------------------------- config
BORDER = 15            # pixels left out on each side, as Levin's evaluation
MAX_SHIFT = 5          # the shift search's reach, reported beside the unshifted scores
PAD = 32               # reflect padding of the non-blind references (the largest kernel is 27 pixels)
TUNE_IMAGES = 8        # BSDS500 training photographs the references are tuned on
TUNE_NOISE = 0.01      # Levin's blurred images match x * f to about 37-40 dB: noise near 1 %
TUNE_SEED = 9
BALANCES = (1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0)
RL_ITERATIONS = (5, 10, 20, 30, 50, 100)
OUT = ROOT / "reports" / "levin.json"
#: Classical blind deconvolution on the same 32 images (Wen et al., IEEE TCSVT 31(8) 2021, "PMP", their table).
PUBLISHED = {"Fergus et al. 2006": 29.46, "Cho and Lee 2009": 30.79, "Levin et al. 2011": 31.14,
             "Xu and Jia 2010": 31.36, "Pan et al. 2016": 31.73, "PMP (Wen et al. 2021)": 32.45}
# -------------------------------------------------------------------------

ABOUT = ("Benchmark: Levin et al. 2009's 32 real camera-shake images (4 sharp 255x255 grey images x 8 measured "
         "kernels, 13-27 px), mean PSNR and SSIM with a 15-pixel border left out, no shift search (the best integer "
         "shift within +-5 px beside it); doing nothing, the shipped models, non-blind Wiener and Richardson-Lucy "
         "given the true kernel (parameters tuned on BSDS500 photos, never on Levin's), and published blind "
         "methods. Regenerate with python bench/levin.py --levin PATH --tune-data BSDS500_ARCHIVE.")


def load_levin(path):
    """Levin et al.'s (CVPR 2009) 32 real camera-shake images: 4 sharp 255x255 grey images x 8 measured kernels.

    The benchmark is for evaluation only: never train, tune or choose a model on it. The project ships none of it.

    Parameters
    ----------
    path : str or os.PathLike
        The folder of its MATLAB files ``imNN_kerKK.mat`` (``x`` sharp, ``y`` blurred, ``f`` kernel; float64 in [0, 1]).

    Returns
    -------
    dict
        ``names`` (list of ``"imNN_kerKK"``), ``image`` and ``kernel`` (int arrays (32,): 1-4 and 1-8), ``sharp`` and
        ``blurred`` (float32, (32, H, W, 1)), ``kernels`` (list of float64 (k, k) arrays, as measured: ``blurred`` is
        ``sharp`` convolved with them, not rotated).

    Raises
    ------
    DataError
        The folder is missing, holds none of the files, or a file lacks ``x``, ``y`` or ``f``.
    """
    folder = Path(path)
    found = sorted(folder.glob("im[0-9][0-9]_ker[0-9][0-9].mat")) if folder.is_dir() else []
    if not found:
        raise data.DataError(f"{folder} holds no Levin et al. files (imNN_kerKK.mat): pass the folder of the "
                             "benchmark's MATLAB files (for example ../shared/data/levin09).")
    out = {"names": [], "image": [], "kernel": [], "sharp": [], "blurred": [], "kernels": []}
    for file in found:
        try:
            mat = loadmat(file)
            sharp, blurred, kernel = (np.asarray(mat[k], np.float64) for k in ("x", "y", "f"))
        except (KeyError, ValueError, OSError) as error:
            raise data.DataError(f"{file} is not a Levin et al. file with x, y and f ({type(error).__name__}: {error})."
                                 ) from None
        if sharp.shape != blurred.shape or sharp.ndim != 2 or kernel.ndim != 2:
            raise data.DataError(f"{file}: x {sharp.shape}, y {blurred.shape} and f {kernel.shape} must be 2-D, "
                                 "x and y of one shape.")
        out["names"].append(file.stem)
        out["image"].append(int(file.stem[2:4]))
        out["kernel"].append(int(file.stem[-2:]))
        out["sharp"].append(sharp[..., None].astype(np.float32))
        out["blurred"].append(blurred[..., None].astype(np.float32))
        out["kernels"].append(kernel)
    return {**out, "image": np.array(out["image"]), "kernel": np.array(out["kernel"]),
            "sharp": np.stack(out["sharp"]), "blurred": np.stack(out["blurred"])}


def inner(image):
    """The region that is scored: ``image`` without its :data:`BORDER`."""
    return image[BORDER:-BORDER, BORDER:-BORDER]


def psnr(restored, sharp):
    """PSNR (dB) of the inner regions of two (H, W) images in [0, 1] (the restored one clipped)."""
    return float(10 * np.log10(1.0 / np.mean((np.clip(inner(restored), 0, 1) - inner(sharp)) ** 2)))


def best_shift_psnr(restored, sharp, reach=MAX_SHIFT):
    """The best PSNR over integer shifts of ``restored`` within ``reach`` pixels, and that shift ``(dy, dx)``."""
    h, w = sharp.shape
    target = inner(sharp)
    best = (-np.inf, (0, 0))
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            window = np.clip(restored[BORDER + dy : h - BORDER + dy, BORDER + dx : w - BORDER + dx], 0, 1)
            best = max(best, (float(10 * np.log10(1.0 / np.mean((window - target) ** 2))), (dy, dx)))
    return best


def score(restored, bench):
    """Per image and in all: PSNR, SSIM and best-shift PSNR of restorations (32, H, W, 1) against the sharp images."""
    per = {"psnr": [], "ssim": [], "psnr_best_shift": [], "best_shift": []}
    for out, sharp in zip(np.asarray(restored, np.float64)[..., 0], bench["sharp"][..., 0].astype(np.float64)):
        if out.shape != sharp.shape or not np.isfinite(out).all():
            raise ValueError(f"a restoration of shape {out.shape} or holding NaN cannot be scored against {sharp.shape}.")
        per["psnr"].append(psnr(out, sharp))
        per["ssim"].append(float(structural_similarity(np.clip(inner(out), 0, 1), inner(sharp), data_range=1.0)))
        value, shift = best_shift_psnr(out, sharp)
        per["psnr_best_shift"].append(value)
        per["best_shift"].append(list(shift))
    kernels = bench["kernel"]
    return {"psnr": float(np.mean(per["psnr"])), "ssim": float(np.mean(per["ssim"])),
            "psnr_best_shift": float(np.mean(per["psnr_best_shift"])),
            "per_kernel_psnr": [float(np.mean(np.array(per["psnr"])[kernels == k])) for k in sorted(set(kernels))],
            "per_image": {"names": bench["names"], **per}}


def aligned_kernel(sharp, blurred, kernel, reach=MAX_SHIFT):
    """The measured kernel as it explains this blurred image: as given or rotated by 180 degrees, shifted by whole
    pixels within ``reach`` (the oracle's knowledge; Levin's kernels are not all centred nor in one orientation).

    Returns the kernel (zero-padded by ``reach`` each side, so that the shift fits) and what was chosen."""
    best = None
    for rotated in (False, True):
        k = kernel[::-1, ::-1] if rotated else kernel
        value, (dy, dx) = best_shift_psnr(degradations.convolve(sharp[None, ..., None], k)[0, ..., 0], blurred,
                                          reach)
        if best is None or value > best[0]:
            best = (value, rotated, dy, dx, k)
    value, rotated, dy, dx, k = best
    # blurred[r] matches (sharp * k)[r + dy]: the kernel moved by -dy, -dx.
    padded = np.roll(np.pad(k, reach), (-dy, -dx), axis=(0, 1))
    return padded, {"rotated": rotated, "shift": [dy, dx], "fit_psnr": value}


def nonblind(blurred, kernel, method, parameter):
    """Restore one (H, W) image given its true kernel: ``"wiener"`` (balance) or ``"richardson_lucy"`` (iterations)."""
    padded = np.pad(blurred, PAD, mode="reflect")
    if method == "wiener":
        out = wiener(padded, kernel, parameter, clip=False)
    else:
        out = richardson_lucy(np.clip(padded, 0, 1), kernel, num_iter=int(parameter), clip=False)
    return out[PAD:-PAD, PAD:-PAD]


def tuning_images(archive, n=TUNE_IMAGES):
    """``n`` grey 255x255 centre crops of BSDS500 training photographs (the first by name), float64 in [0, 1]."""
    with tarfile.open(archive) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and "/train/" in m.name
                          and m.name.endswith(".jpg")), key=lambda m: m.name)[:n]
        if len(members) < n:
            raise SystemExit(f"error: {archive} holds {len(members)} BSDS500 training photographs (images/train/*.jpg); "
                             f"{n} are needed to tune the references.")
        photos = [np.asarray(Image.open(io.BytesIO(tar.extractfile(m).read())).convert("L")) for m in members]
    crops = []
    for photo in photos:
        grey = photo.astype(np.float64) / 255
        top, left = (grey.shape[0] - 255) // 2, (grey.shape[1] - 255) // 2
        crops.append(grey[top : top + 255, left : left + 255])
    return crops


def tune(archive):
    """The references' parameters, each the best mean PSNR on BSDS500 crops blurred by camera-shake kernels."""
    crops = tuning_images(archive)
    rng = np.random.default_rng(TUNE_SEED)
    kernels = degradations.shake_kernels(rng.uniform(11, 27, size=len(crops)), 27, rng)
    blurred = [degradations.convolve(c[None, ..., None], k)[0, ..., 0].astype(np.float64)
               + TUNE_NOISE * rng.standard_normal(c.shape) for c, k in zip(crops, kernels)]
    grid = {"wiener": BALANCES, "richardson_lucy": RL_ITERATIONS}
    chosen, tried = {}, {}
    for method, values in grid.items():
        tried[method] = {str(v): float(np.mean([psnr(nonblind(b, k, method, v), c)
                                               for b, k, c in zip(blurred, kernels, crops)])) for v in values}
        chosen[method] = max(values, key=lambda v: tried[method][str(v)])
    return chosen, {"archive": Path(archive).name,
                    "images": TUNE_IMAGES, "noise_std": TUNE_NOISE, "seed": TUNE_SEED, "mean_psnr": tried}


def load_model(spec):
    """A model from a ``.keras`` file or a run folder (its final model or checkpoint)."""
    path = Path(spec)
    return training.load_run(path).model if path.is_dir() else models.load_model_file(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levin", required=True, help="folder of Levin et al.'s imNN_kerKK.mat files")
    parser.add_argument("--tune-data", default=None, help="BSDS500 archive to tune the non-blind references on "
                        "(without it they are left out)")
    parser.add_argument("--model", action="append", default=[], metavar="LABEL=PATH",
                        help="also score a trained model (.keras file or run folder); repeatable")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args(argv)
    command = records.command_line(argv, prog="python bench/levin.py")
    files.check_outputs([args.out], [args.levin, *(p for p in [args.tune_data] if p)], allow=(args.out,))
    bench = load_levin(args.levin)
    methods = {"identity (blurred input)": {"kind": "ours", **score(bench["blurred"], bench)}}
    networks = {name: name for name in models.pretrained_names()}
    for spec in args.model:
        label, _, path = spec.partition("=")
        if not path:
            parser.error(f"--model takes LABEL=PATH; got {spec!r}")
        networks[label] = load_model(path)
    for label, model in networks.items():
        restored = deblur.restore(model, bench["blurred"])
        methods[label] = {"kind": "ours", **score(restored, bench)}
        print(f"{label}: {methods[label]['psnr']:.2f} dB", flush=True)
    tuning = None
    if args.tune_data:
        chosen, tuning = tune(args.tune_data)
        sharp, blurred = (bench[k][..., 0].astype(np.float64) for k in ("sharp", "blurred"))
        aligned = [aligned_kernel(x, y, k) for x, y, k in zip(sharp, blurred, bench["kernels"])]
        tuning["alignment"] = [a[1] for a in aligned]
        for method, value in chosen.items():
            restored = np.stack([nonblind(y, a[0], method, value)[..., None] for y, a in zip(blurred, aligned)])
            label = (f"{method} (non-blind: the true kernel, aligned; "
                     f"{'balance' if method == 'wiener' else 'iterations'} {value})")
            methods[label] = {"kind": "reference", **score(restored, bench)}
            print(f"{label}: {methods[label]['psnr']:.2f} dB", flush=True)
    for label, value in PUBLISHED.items():
        methods[label] = {"kind": "published", "psnr": value, "source": "Wen et al., IEEE TCSVT 31(8), 2021 (PMP)"}
    record = {"methods": methods, "border": BORDER, "max_shift": MAX_SHIFT, "images": len(bench["names"]),
              "kernel_sizes": [int(k.shape[0]) for k in bench["kernels"][:8]], "tuning": tuning,
              "data": "Levin et al. 2009 (32 images; evaluation only)"}
    records.update_report(args.out, {"levin": record}, about=ABOUT, command=command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
