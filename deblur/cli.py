"""Command line: ``python -m deblur`` (also installed as ``deblur``).

Subcommands::

    deblur corrupt  IMAGES... --out DIR [--seed N]          blur + noise, the study's way
    deblur train    --model cae --profile quick [--data P] [--run-dir D]
    deblur evaluate --model cae|win5rb|deblurnet|model.keras|RUN_DIR [--profile P] [--data P] [--out results.json]
    deblur plot     --run cae=DIR --run win5rb=DIR [--data P] [--out DIR]
    deblur restore  IMAGES... --model cae|win5rb|deblurnet|model.keras --out DIR

IMAGES are PNG/JPEG files or folders of them. Problems (a missing path, an
unknown model, an unreadable image) print one line to stderr and exit with
status 2; nothing is written half-way and no input is ever overwritten.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

# A command line tool keeps stderr for its own messages: silence TensorFlow's
# C++ start-up logging (set before Keras imports TensorFlow; a user's own
# setting wins).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: The model names, spelled out so that --help and argument errors do not
#: import Keras (tests check it equals deblur.models.MODELS).
MODEL_NAMES = ("cae", "win5rb", "deblurnet")


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# ----------------------------------------------------------------- images


def _collect_images(paths):
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise CLIError(f"{path}: folder holds no PNG/JPEG images")
            files += found
        elif path.is_file():
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise CLIError(f"{path}: not an image file (expected one of {', '.join(IMAGE_SUFFIXES)})")
            files.append(path)
        else:
            raise CLIError(f"{path}: no such file or folder")
    return files


def _read_image(path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            mode = "L" if im.mode in ("1", "L", "I;16", "I") else "RGB"
            return np.asarray(im.convert(mode))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise CLIError(f"{path}: cannot read image ({exc})") from None


def _write_images(items, out_dir, inputs):
    """Write (name, uint8 array) pairs into out_dir; never onto an input file."""
    from PIL import Image

    from ._io import atomic_write_bytes

    out_dir = Path(out_dir)
    resolved_inputs = {p.resolve() for p in inputs}
    targets = [out_dir / name for name, _ in items]
    clash = [t for t in targets if t.resolve() in resolved_inputs]
    if clash:
        raise CLIError(f"{clash[0]}: would overwrite an input image; choose another --out folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    for target, (_, array) in zip(targets, items):
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        atomic_write_bytes(target, buffer.getvalue())
    return targets


# ----------------------------------------------------------------- models


def _load_model(spec):
    """A shipped name, a .keras file, or a run folder -> keras.Model (any input size)."""
    from . import models, training

    path = Path(spec)
    if spec in models.MODELS:
        if spec not in models.pretrained_names():
            raise CLIError(f"{spec}: no shipped weights for this model")
        from .inference import as_any_size_model

        return as_any_size_model(spec)
    if path.is_dir():
        try:
            return training.load_run(path).model
        except FileNotFoundError as exc:
            raise CLIError(str(exc)) from None
    if path.is_file() and path.suffix == ".keras":
        import keras

        try:
            return keras.models.load_model(path)
        except Exception as exc:  # noqa: BLE001 - any load failure is a user-facing one-liner
            raise CLIError(f"{path}: cannot load Keras model ({type(exc).__name__}: {exc})") from None
    raise CLIError(
        f"{spec}: unknown model; give a shipped name ({', '.join(models.pretrained_names())}), "
        "a .keras file or a run folder"
    )


# ------------------------------------------------------------ subcommands


def _cmd_corrupt(args):
    from .corruption import corrupt

    files = _collect_images(args.images)
    rng = np.random.default_rng(args.seed)
    items = []
    for path in files:
        image = _read_image(path)
        out, sigma = corrupt(image if image.ndim == 3 else image[..., None], seed=rng,
                             noise_std=args.noise_std, clip=True)
        out = np.rint(out * 255).astype(np.uint8)
        items.append((f"{path.stem}_corrupted.png", out if image.ndim == 3 else out[..., 0]))
        print(f"{path} -> sigma {sigma[0]:.3f}")
    for target in _write_images(items, args.out, files):
        print("wrote", target)
    return 0


def _cmd_restore(args):
    files = _collect_images(args.images)
    images = [_read_image(p) for p in files]  # read everything first: no half-written output
    from .inference import restore  # imports Keras: only once the inputs are known to be good

    model = _load_model(args.model)
    items = []
    for path, image in zip(files, images):
        start = time.perf_counter()
        out = restore(model, image, batch_size=1)
        items.append((f"{path.stem}_restored.png", out))
        print(f"{path}: {image.shape[1]}x{image.shape[0]} restored in {time.perf_counter() - start:.1f} s")
    for target in _write_images(items, args.out, files):
        print("wrote", target)
    return 0


def _profile_arrays(profile_name, data_source, n_test=None):
    from . import profiles, reproduce

    overrides = {"n_test": n_test} if n_test else {}
    profile = profiles.get_profile(profile_name, **overrides)
    return profile, reproduce.load_profile_data(profile, data_source)


def _cmd_train(args):
    from . import reproduce

    profile, arrays = _profile_arrays(args.profile, args.data)
    if not profile.train:
        raise CLIError(f"profile {args.profile!r} does not train; choose quick, full or tiny")
    print(profile.banner())
    run_dir = Path(args.run_dir) if args.run_dir else Path("results") / profile.name
    run = reproduce.train_model(args.model, profile, arrays, out_dir=run_dir, verbose=2)
    print(f"{args.model}: {len(run.history['loss'])} epochs in {run_dir / 'runs' / args.model}")
    return 0


def _cmd_evaluate(args):
    from . import metrics

    model = _load_model(args.model)
    profile, arrays = _profile_arrays(args.profile, args.data, args.n_test)
    result = {
        "model": args.model,
        "profile": profile.name,
        "identity": metrics.evaluate(None, arrays["x_test_corrupted"], arrays["x_test"]),
        "model_metrics": metrics.evaluate(model, arrays["x_test_corrupted"], arrays["x_test"]),
    }
    print(metrics.format_table({"identity": result["identity"], args.model: result["model_metrics"]}))
    path = metrics.save_results(result, args.out)
    print("wrote", path)
    return 0


def _cmd_plot(args):
    from . import metrics, plots

    if not args.run and not args.results:
        raise CLIError("nothing to plot: give --run NAME=RUN_DIR and/or --results results.json")
    if args.results:
        _plot_saved_results(args.results, args.out)
    if not args.run:
        return 0
    runs = {}
    for item in args.run:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise CLIError(f"--run {item!r}: expected NAME=RUN_DIR")
        if not (Path(folder) / "history.json").is_file():
            raise CLIError(f"{folder}: not a training run folder (no history.json)")
        runs[name] = folder
    _, arrays = _profile_arrays(args.profile, args.data, args.n_test)
    identity = metrics.evaluate(None, arrays["x_test_corrupted"], arrays["x_test"])["mse"]
    paths = plots.figures_from_runs(runs, arrays["x_test"], arrays["x_test_corrupted"], out_dir=args.out,
                                    baseline=identity)
    for path in paths.values():
        print("wrote", path)
    return 0


def _plot_saved_results(path, out_dir):
    """Redraw the per-sigma figure from a notebook results.json (no model needed)."""
    import json

    from . import plots

    path = Path(path)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CLIError(f"{path}: cannot read results JSON ({exc})") from None
    if "by_sigma" not in saved:
        raise CLIError(f"{path}: holds no per-sigma results (expected a notebook results.json)")
    target = Path(out_dir) / "mse_by_sigma.png"
    plots.metric_by_group(saved["by_sigma"], metric="mse", log_scale=True, path=target)
    print("wrote", target)


# ------------------------------------------------------------------ parser


def build_parser():
    from . import profiles

    parser = argparse.ArgumentParser(prog="deblur", description="CIFAR-10 deblurring: corrupt, train, "
                                     "evaluate, plot and restore images.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("corrupt", help="blur and add noise to images (the study's corruption)")
    p.add_argument("images", nargs="+", help="PNG/JPEG files or folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--noise-std", type=float, default=0.02)
    p.set_defaults(func=_cmd_corrupt)

    p = sub.add_parser("train", help="train a model with a profile (resumes its run folder)")
    p.add_argument("--model", required=True, choices=MODEL_NAMES)
    p.add_argument("--profile", default="quick", choices=[n for n, pr in profiles.PROFILES.items() if pr.train])
    p.add_argument("--data", default=None, help="CIFAR-10 source (default: $DEBLUR_DATA, else download)")
    p.add_argument("--run-dir", default=None, help="results folder (default: results/<profile>)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="test-set MSE/PSNR/SSIM of a model and the identity baseline")
    p.add_argument("--model", required=True, help="shipped name, .keras file or run folder")
    p.add_argument("--profile", default="pretrained", choices=sorted(profiles.PROFILES),
                   help="which test images (default: the pretrained profile's 1,000)")
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--data", default=None)
    p.add_argument("--out", default="results.json")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("plot", help="redraw the comparison figures from run folders and saved results")
    p.add_argument("--run", action="append", default=[], metavar="NAME=RUN_DIR",
                   help="loss curves and the comparison grid from these run folders")
    p.add_argument("--results", default=None, help="a notebook results.json: redraw the per-sigma figure")
    p.add_argument("--profile", default="pretrained", choices=sorted(profiles.PROFILES))
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--data", default=None)
    p.add_argument("--out", default="figures")
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("restore", help="restore PNG/JPEG images with a model")
    p.add_argument("images", nargs="+", help="PNG/JPEG files or folders")
    p.add_argument("--model", required=True, help="shipped name (cae, win5rb, deblurnet), .keras file or run folder")
    p.add_argument("--out", required=True, help="output folder (inputs are never overwritten)")
    p.set_defaults(func=_cmd_restore)
    return parser


def main(argv=None):
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"deblur {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - library errors carry clear messages; show them as one line
        from .data import DataError
        from .models import PretrainedWeightsError

        if isinstance(exc, (DataError, PretrainedWeightsError, ValueError, FileNotFoundError)):
            print(f"deblur {args.command}: error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
