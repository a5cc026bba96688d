"""Command line: ``python -m deblur`` (also installed as ``deblur``): corrupt, train, evaluate, plot, restore and
export (``deblur COMMAND --help``); IMAGES are PNG/JPEG/TIFF/BMP files or folders of them (:mod:`deblur.images`).
Problems print one line to stderr and exit with status 2; nothing is written half-way, no input is ever overwritten."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import importlib.util
import json
import os
import re
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

# Keep stderr for our own messages: silence TensorFlow's C++ start-up logging (a user's own setting wins).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# After the logging setting; none of these imports Keras.
from . import files, images, machine, pretrained, study  # noqa: E402
from ._validation import quantise, to_float32  # noqa: E402
from .corruption import corrupt  # noqa: E402
from .data import DataError, source_path  # noqa: E402
from .files import check_file_target, check_outputs, is_within, publish_all, staging_folder  # noqa: E402
from .recipe import Budget, Recipe  # noqa: E402
from .study import MODEL_NAMES  # noqa: E402


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def _output_paths(names, out_dir, inputs, *, extra_inputs=()):
    """The output files, checked first: distinct, none existing, none onto/inside ``inputs`` (aligned) or extras."""
    out_dir = out_folder(out_dir)
    targets = [out_dir / name for name in names]
    by_name = {}
    for name, source in zip(names, inputs):
        if name in by_name:
            raise CLIError(f"{by_name[name]} and {source} would both be written to {Path(out_dir) / name}; "
                           "restore them into separate --out folders or rename one. Nothing was written.")
        by_name[name] = source
    check_outputs(targets, [*inputs, *extra_inputs])
    existing = [t for t in targets if t.exists() or t.is_symlink()]
    if existing:
        raise CLIError(f"{existing[0]} already exists (results are never overwritten); remove it or choose "
                       "another --out folder. Nothing was written.")
    return targets


def import_keras():
    """Import Keras with TensorFlow's native start-up log kept off stderr (:func:`deblur.machine.quiet_startup`)."""
    if "keras" not in sys.modules:
        with machine.quiet_startup():
            import keras

            # Another backend still imports an installed TensorFlow at the first model.save: do it here, quietly.
            if keras.backend.backend() != "tensorflow" and importlib.util.find_spec("tensorflow"):
                import tensorflow  # noqa: F401


def _model_source(spec):
    """What a model spec names and the files it reads: ``("shipped" | "run" | "file", paths)``; imports no Keras."""
    shipped = pretrained.pretrained_names()
    if spec in MODEL_NAMES or spec in shipped:
        if spec not in shipped:
            raise CLIError(f"{spec}: no shipped weights for this model")
        return "shipped", [pretrained.PRETRAINED_DIR / f"{spec}.weights.h5", pretrained.PRETRAINED_DIR / f"{spec}.json"]
    path = Path(spec)
    if path.is_dir():
        return "run", [path]
    if path.is_file() and path.suffix == ".keras":
        return "file", [path]
    raise CLIError(f"{spec}: unknown model; give a shipped name ({', '.join(shipped)}), "
                   "a .keras file or a run folder (deblur restore --list-models)")


def _load_model(spec):
    """A shipped name, a .keras file, or a run folder -> keras.Model (any input size)."""
    kind, (path, *_) = _model_source(spec)
    import_keras()
    from . import models, training
    from .inference import as_any_size_model
    if kind == "shipped":
        return as_any_size_model(spec)
    if kind == "run":
        try:
            return training.load_run(path).model
        except FileNotFoundError as exc:
            raise CLIError(str(exc)) from None
    try:
        return models.load_model_file(path)
    except models.ModelFileError as exc:
        raise CLIError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any load failure is a user-facing one-liner
        unknown = re.search(r"Could not locate (?:class|function) '?([\w.]+)", str(exc))
        if unknown:
            raise CLIError(f"{path}: uses the custom object {unknown.group(1)!r}, unknown here; load it in "
                           "Python after importing the code that registers it, or save it without") from None
        raise CLIError(f"{path}: cannot load Keras model ({type(exc).__name__}: {str(exc)[:150]})") from None


def out_folder(path, option="--out"):
    """``option`` (``--out``, ``--run-dir``) as a folder: refused when it names an existing file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise CLIError(f"{option} {path}: is a file; {option} takes a folder. Choose a folder path. Nothing was "
                       "written.")
    return path


def _cmd_corrupt(args):
    paths = images.find_images(args.images)
    targets = _output_paths([f"{p.stem}_corrupted.png" for p in paths], args.out, paths, extra_inputs=args.images)
    rng = np.random.default_rng(args.seed)
    with staging_folder(args.out) as staging:
        for path, target in zip(paths, targets):
            image, alpha = images.read_image(path)  # bit depth and alpha are kept
            try:
                out, sigma = corrupt(to_float32(image).reshape(*image.shape[:2], -1), seed=rng,
                                     noise_std=args.noise_std, clip=True)
            except ValueError as exc:  # e.g. too small for the kernel: name the image
                raise CLIError(f"{path}: {exc} Nothing was written.") from None
            metadata, dropped = images.png_metadata(images.read_metadata(path))
            images.write_png(staging / target.name, quantise(out, image.dtype).reshape(image.shape), alpha, metadata)
            print(f"{path} -> sigma {sigma[0]:.3f}{'; ' + dropped if dropped else ''}")
        for target in publish_all((staging / t.name, t) for t in targets):
            print("wrote", target)
    return 0


def _cmd_restore(args):
    """Restore image by image (bounded memory); all or nothing: results are published once every image is done."""
    if args.list_models:
        print(list_models())
        return 0
    if not args.images:
        raise CLIError("no images given: deblur restore IMAGES... --out DIR (or --list-models)")
    if not args.out:
        raise CLIError("--out is required: the folder the restored images go to")
    paths = images.find_images(args.images)
    for path in paths:  # headers only: mode, size, the pixel limit
        images.check_image(path)
    kind, model_inputs = _model_source(args.model)
    targets = _output_paths([f"{p.stem}_restored.png" for p in paths], args.out, paths,
                            extra_inputs=[*args.images, *model_inputs])
    import_keras()  # only once the inputs are known to be good
    from .inference import Restorer

    # Resolved once (model, do-no-harm guard of a shipped model's card, precision, tiling), then a loop over the files.
    restorer = Restorer(args.model if kind == "shipped" else _load_model(args.model), precision=args.precision,
                        ensemble=args.ensemble)
    bar = tqdm(list(zip(paths, targets)), desc="images", unit="image", disable=args.quiet or len(paths) == 1)
    staged, skipped = [], []
    with staging_folder(args.out) as staging:
        for path, target in bar:
            try:
                image, alpha = images.read_image(path)
            except images.ImageError as exc:
                if not args.skip_bad:
                    raise CLIError(f"{exc}. Nothing was written (a batch is all or nothing); fix or remove it, or "
                                   f"rerun with --skip-bad to restore the other {len(paths) - 1}") from None
                skipped.append(path.name)
                continue
            start = time.perf_counter()
            out = restorer(image, progress=False if args.quiet else None)
            seconds = time.perf_counter() - start  # the restoration, not the PNG writing
            metadata, dropped = images.png_metadata(images.read_metadata(path))
            images.write_png(staging / target.name, out, alpha, metadata)
            staged.append((staging / target.name, target))
            bar.write(f"{path}: {image.shape[1]}x{image.shape[0]} restored in {seconds:.2f} s; "
                      f"{describe_change(image, out)}{'; ' + dropped if dropped else ''}", file=sys.stdout)
        for target in publish_all(staged):
            print("wrote", target)
    if skipped:
        print(f"deblur restore: {len(skipped)} of {len(paths)} images could not be read and were skipped "
              f"(exit status 1): {', '.join(skipped)}", file=sys.stderr)
        return 1
    return 0


def describe_change(before, after):
    """How much a restoration changed an image, in words a person can act on: the PSNR between input and output."""
    from .inference import change_rms  # Keras is loaded by then (restore); `deblur --help` stays fast
    rms = change_rms(before[None], after[None])[0]
    if rms == 0:
        return "output identical to the input"
    psnr = -20 * np.log10(rms)
    how = ("left almost as it was (sharp input?)" if psnr >= 40 else "lightly sharpened" if psnr >= 30
           else "strongly changed: compare with the input; a sharp photo needs no restoring")
    return f"output vs input {psnr:.1f} dB PSNR, {how}"


def list_models():
    """The shipped models, one line each: name, what it is for, and which is the default."""
    return "\n".join(f"{name}{' (the default)' if name == pretrained.DEFAULT_MODEL else ''}: "
                     f"{pretrained.PURPOSES.get(name) or pretrained.model_card(name)['protocol']['description']}"
                     for name in pretrained.pretrained_names())


def _cmd_export(args):
    inputs = _model_source(args.model)[1]
    import_keras()  # before deploy, which imports it: TensorFlow's start-up log kept off stderr
    from . import deploy
    from .inference import shipped_guard, size_multiple
    deploy.check_target(args.out, args.format, inputs)  # before the model is loaded: fail fast
    model = _load_model(args.model)
    guard = shipped_guard(args.model)  # the guard travels with the model, as deblur restore applies it
    path = deploy.export(model, args.out, format=args.format, inputs=inputs, guard=guard)
    multiple = size_multiple(model)
    print(f"wrote {path} ({args.format}; input float32 (batch, height, width, 3) in [0, 1], any size"
          f"{f', height and width multiples of {multiple}' if multiple > 1 else ''}"
          f"{f'; with its do-no-harm guard {tuple(guard)} inside' if guard else ''})")
    return 0


def _profile_arrays(args):
    """The profile ``--profile`` and ``--n-test`` name, and its data from ``--data``."""
    profile = study.get_profile(args.profile, **({"n_test": args.n_test} if args.n_test else {}))
    return profile, study.load_profile_data(profile, args.data)


def _cmd_train(args):
    if args.init:
        return _cmd_finetune(args)
    if not args.model:
        raise CLIError("give --model (cae, win5rb or deblurnet), or --init MODEL --data FOLDER to fine-tune a "
                       "model on your own photos")
    profile, results_dir = _train_plan(args)  # checked here, once, before any process starts
    if args.processes > 1:  # N cooperating copies of this command (deblur.training.distributed)
        _check_processes(args.processes, profile.recipe_for(args.model))
        from .training.distributed import launch

        return launch(_without_option(args.argv, "--processes"), args.processes)
    run_dir = results_dir / "runs" / args.model  # as in the notebook's scratch folder
    arrays = study.load_profile_data(profile, args.data)
    held = {"n_train": len(arrays["x_train"]), "n_test": len(arrays["x_test"])}
    for field, n in held.items():  # a profile asking for more than the data hold: the banner and a warning say so
        if (getattr(profile, field) or 0) > n:
            warnings.warn(f"profile {profile.name!r} asks for {getattr(profile, field):,} {field[2:]} images; the "
                          f"data hold {n:,}, so it used {n:,}", stacklevel=1)
    print(dataclasses.replace(profile, **held).banner())  # what is really used
    import_keras()
    model_recipe = dataclasses.replace(profile.recipe_for(args.model), precision=args.precision)
    run = study.train_model(model_recipe, arrays["x_train"], arrays["x_train_corrupted"], run_dir=run_dir, verbose=2)
    print(f"{args.model}: {run.steps:,} steps ({len(run.history.get('loss', []))} epochs) in {run_dir}")
    if run.length.get("budget_seconds"):
        print(f"replay exactly: deblur train --model {args.model} --profile {profile.name} "
              f"--steps {run.length['steps']} --hold-steps {run.length['hold_steps']}")
    return 0


#: Fine-tuning on your photos: its learning rate (a tenth of training's), and its time budget when none is given.
FINETUNE_LEARNING_RATE, FINETUNE_SECONDS = 1e-4, 300.0
#: A fine-tuned run folder's record of what it started from (the shipped model or run folder, the photos, the crop).
FINETUNE_FILE = "finetune.json"


def _cmd_finetune(args):
    """``deblur train --init MODEL --data FOLDER``: continue a model on realistically degraded crops of your photos."""
    from . import data, degradations
    from .recipe import make_length
    if args.processes > 1:
        raise CLIError("--init fine-tunes in one process; drop --processes")
    if not args.data or not Path(args.data).is_dir():
        raise CLIError(f"--init fine-tunes on your photos: --data must be a folder of photos (any size); got "
                       f"{args.data!r}")
    kind, init_inputs = _model_source(args.init)
    if kind == "file":
        raise CLIError(f"--init {args.init}: give a shipped model or a run folder (their recipe says the "
                       "architecture); a .keras file does not")
    run_dir = out_folder(args.run_dir or study.SCRATCH_DIR / "finetune" / Path(args.init).name, "--run-dir")
    check_outputs([run_dir], [args.data, *init_inputs])
    lengths = _length_options(args)
    try:  # none given: a budget of FINETUNE_SECONDS
        length = make_length(**lengths) if lengths else Budget(FINETUNE_SECONDS)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    crops = data.load_photo_crops(args.data, crop=args.crop)
    if len(crops) < 10:
        raise CLIError(f"{args.data}: {len(crops)} crops of {args.crop}x{args.crop} are too few to hold a tenth out "
                       "for validation; add photos")
    import_keras()
    from . import training
    from .inference import as_any_size_model
    base = (Recipe.from_dict(pretrained.model_card(args.init)["recipe"]) if kind == "shipped"
            else Recipe.from_dict(json.loads((Path(args.init) / training.CONFIG_FILE).read_text())))
    recipe = study.recipe("ours", base.model, build=base.build, degradation=degradations.REALISTIC_PHOTO,
                          corruption="fresh", flips=True, lr_schedule="cosine", learning_rate=FINETUNE_LEARNING_RATE,
                          validation_split=0.1, precision=args.precision, length=length)
    source = {"init": str(args.init), "init_kind": kind, "data": str(args.data), "crop": args.crop, "crops": len(crops)}
    saved = files.read_json(run_dir / FINETUNE_FILE) if (run_dir / FINETUNE_FILE).is_file() else source
    if saved.get("init") != source["init"]:
        raise CLIError(f"{run_dir} was fine-tuned from {saved.get('init')!r}; resume it with --init "
                       f"{saved.get('init')}, or choose another --run-dir")
    model = as_any_size_model(_load_model(args.init))  # the crops' size, not CIFAR's
    print(f"fine-tuning {args.init} ({base.model}) on {len(crops):,} crops of {args.crop}x{args.crop} from "
          f"{args.data}, realistic photo degradations, {recipe.length}, into {run_dir}")
    run = study.train_model(recipe, crops, run_dir=run_dir, model=model, verbose=2)
    files.atomic_write_json(run_dir / FINETUNE_FILE, source)  # where the run started from, beside its recipe
    print(f"{run.steps:,} steps in {run_dir}; restore with: deblur restore PHOTOS --model {run_dir} --out OUT")
    return 0


def _length_options(args):
    """The recipe length fields that ``--epochs``, ``--steps`` (with ``--hold-steps``) or ``--seconds`` set, checked
    (``{}``: none given)."""
    lengths = {k: v for k, v in (("epochs", args.epochs), ("steps", args.steps), ("budget_seconds", args.seconds))
               if v is not None}
    if len(lengths) > 1:
        raise CLIError("give one of --epochs, --steps and --seconds")
    if args.hold_steps and "steps" not in lengths:
        raise CLIError("--hold-steps replays a time budget: give it with --steps")
    if "steps" in lengths:
        lengths["hold_steps"] = args.hold_steps
    return lengths


def _train_plan(args):
    """``deblur train``'s profile (with the length asked for) and results folder, checked: no data read yet."""
    lengths = _length_options(args)
    overrides = {"lengths": {args.model: lengths}} if lengths else {}
    profile = study.get_profile(args.profile, **overrides)
    if not profile.train:
        raise CLIError(f"profile {args.profile!r} does not train; choose quick, full or tiny")
    results_dir = out_folder(args.run_dir or study.SCRATCH_DIR / profile.name, "--run-dir")
    check_outputs([results_dir], [source_path(args.data)])
    return profile, results_dir


def _check_processes(processes, recipe):
    """What N processes would each refuse after loading, refused once before they start (issue 41, case 5)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if processes > cores:
        raise CLIError(f"--processes {processes}: this machine gives the command {cores} CPU core(s); use at most "
                       f"{cores} (each process needs a core of its own)")
    if recipe.batch_size % processes:
        raise CLIError(f"--processes {processes}: batch size {recipe.batch_size} does not split evenly over "
                       f"{processes} processes; use a count that divides {recipe.batch_size}")
    if isinstance(recipe.length, Budget):
        raise CLIError(f"--processes {processes}: a time budget ({recipe.length}) cannot be shared by several "
                       "processes (each would stop at its own step); give --steps or --epochs")


#: ``--precision`` of ``train`` and ``restore``.
PRECISION_OPTION = dict(default="auto", choices=machine.PRECISIONS,
                        help="arithmetic: auto (default) is bfloat16 where the CPU computes it natively (AVX-512 BF16 "
                             "or AMX: faster there), float32 elsewhere")


def _positive_int(text):
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _without_option(argv, option):
    """``argv`` without ``option VALUE`` and ``option=VALUE``."""
    out, skip = [], False
    for arg in argv:
        if not skip and arg != option and not arg.startswith(option + "="):
            out.append(arg)
        skip = arg == option and not skip  # the next argument is its value
    return out


def _cmd_evaluate(args):
    from . import metrics
    check_file_target(args.out, suffixes={".json"}, example="results.json")
    check_outputs([args.out], [source_path(args.data), *_model_source(args.model)[1]])
    if Path(args.out).exists():
        raise CLIError(f"--out {args.out}: exists; choose another --out (a saved result is never overwritten)")
    profile, arrays = _profile_arrays(args)
    model = _load_model(args.model)
    result = {"model": args.model, "profile": profile.name}
    for key, scored in (("identity", None), ("model_metrics", model)):
        result[key] = metrics.evaluate(scored, arrays["x_test_corrupted"], arrays["x_test"],
                                       ci_seed=profile.seeds.bootstrap)
    print(metrics.format_table({"identity": result["identity"], args.model: result["model_metrics"]}))
    path = metrics.save_results(result, args.out, exclusive=True)  # a racing command's result is kept: FileExistsError
    print("wrote", path)
    return 0


def _cmd_plot(args):
    import_keras()  # plots imports it: TensorFlow's start-up log kept off stderr
    from . import metrics, plots
    if not args.run and not args.results:
        raise CLIError("nothing to plot: give --run NAME=RUN_DIR and/or --results results.json")
    run_dirs = [item.partition("=")[2] for item in args.run]
    names = [*(["mse_by_sigma.png"] if args.results else []),
             *(["loss_curves.png", "comparison.png"] if args.run else [])]
    targets = _output_paths(names, args.out, [], extra_inputs=[source_path(args.data), args.results,
                                                               *[d for d in run_dirs if d]])
    runs = {}
    for item in args.run:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise CLIError(f"--run {item!r}: expected NAME=RUN_DIR")
        if not (Path(folder) / "history.json").is_file():
            raise CLIError(f"{folder}: not a training run folder (no history.json)")
        runs[name] = folder
    with staging_folder(args.out) as staging:
        if args.results:  # the per-sigma figure, redrawn from a notebook results.json (no model needed)
            by_sigma = _per_sigma_results(Path(args.results))
            plots.metric_by_group(by_sigma, metric="mse", log_scale=True, path=staging / "mse_by_sigma.png")
        if runs:
            _, arrays = _profile_arrays(args)
            identity = metrics.evaluate(None, arrays["x_test_corrupted"], arrays["x_test"])["mse"]
            plots.figures_from_runs(runs, arrays["x_test"], arrays["x_test_corrupted"], out_dir=staging,
                                    baseline=identity)
        for target in publish_all((staging / t.name, t) for t in targets):
            print("wrote", target)
    return 0


#: Bounds of a results JSON that ``plot`` reads (a notebook's is about 100 KB, 4-8 methods of 6 sigma bins).
RESULTS_MAX_BYTES, RESULTS_MAX_METHODS, RESULTS_MAX_GROUPS = 16 << 20, 64, 256


def _per_sigma_results(path):
    """A results.json's ``by_sigma``, ``{method: {group: {"mse": number}}}``, checked before drawing (issue 41)."""
    try:
        if path.stat().st_size > RESULTS_MAX_BYTES:
            raise CLIError(f"{path}: {path.stat().st_size:,} bytes, over the {RESULTS_MAX_BYTES >> 20} MB a results "
                           "JSON may hold; give a notebook results.json")
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise CLIError(f"{path}: cannot read results JSON ({type(exc).__name__}: {str(exc)[:100]})") from None
    table = saved.get("by_sigma") if isinstance(saved, dict) else None
    if table is None:
        raise CLIError(f"{path}: holds no per-sigma results (expected a notebook results.json)")
    bad = f"{path}: by_sigma must map each method to the same sigma groups, each with a finite number \"mse\""
    if not isinstance(table, dict) or not table or not all(isinstance(g, dict) and g for g in table.values()):
        raise CLIError(f"{bad}; it is not a mapping of methods to groups")
    groups = list(next(iter(table.values())))
    if len(table) > RESULTS_MAX_METHODS or len(groups) > RESULTS_MAX_GROUPS:
        raise CLIError(f"{path}: {len(table)} methods of {len(groups)} groups; a figure holds at most "
                       f"{RESULTS_MAX_METHODS} methods of {RESULTS_MAX_GROUPS} groups")
    for method, rows in table.items():
        if list(rows) != groups:
            raise CLIError(f"{bad}; {method!r} has groups {list(rows)[:4]}, not {groups[:4]}")
        for group, row in rows.items():
            mse = row.get("mse") if isinstance(row, dict) else None
            if isinstance(mse, bool) or not isinstance(mse, (int, float)) or not np.isfinite(mse) or mse < 0:
                raise CLIError(f"{bad}; {method!r} group {group!r} has mse {mse!r}")
    return table


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (argparse prints the usage block first)."""

    #: The arguments being parsed (:func:`main` sets them): a file named like an option gets a hint.
    argv = ()

    def error(self, message):
        dashed = [a for a in self.argv if a.startswith("-") and len(a) > 1 and os.path.exists(a)]
        hint = (f"; {dashed[0]} is a file: put -- before file names that start with a dash "
                f"({self.prog} ... -- {dashed[0]})" if dashed else "")
        self.exit(2, f"{self.prog}: error: {message}{hint} (see {self.prog} --help)\n")


def _seed(text):
    """``--seed``: a non-negative integer, or one line that says so."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer (e.g. 0); got {text!r}")
    return value


DEBUG_HELP = "show the full traceback of an error"


def build_parser():
    parser = Parser("deblur", description="CIFAR-10 deblurring: corrupt, train, evaluate, plot and restore images.")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("corrupt", help="blur and add noise to images (the study's corruption)")
    p.add_argument("images", nargs="+", help="PNG/JPEG files or folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--noise-std", type=float, default=0.02)
    p.set_defaults(func=_cmd_corrupt)

    p = sub.add_parser("train", help="train a model with a profile's recipe (resumes its run folder), or fine-tune "
                                     "one on your photos (--init)")
    p.add_argument("--model", default=None, choices=MODEL_NAMES)
    p.add_argument("--profile", default="quick", choices=[n for n, pr in study.PROFILES.items() if pr.train])
    p.add_argument("--data", default=None, help="CIFAR-10 source (default: $DEBLUR_DATA, else download); with "
                                                "--init, a folder of your photos")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="fine-tune this shipped model or run folder on random crops of the photos in --data "
                        f"(realistic degradations; default length {FINETUNE_SECONDS:g} s)")
    p.add_argument("--crop", type=_positive_int, default=128, help="with --init: the crop size (default 128)")
    p.add_argument("--run-dir", default=None,
                   help=f"results folder; the run goes to its runs/<model> (default: {study.SCRATCH_DIR}/<profile>)")
    length = p.add_argument_group("how long (default: the profile's)")
    length.add_argument("--epochs", type=int, default=None)
    length.add_argument("--seconds", type=float, default=None, help="a time budget; the run records its step count")
    length.add_argument("--steps", type=int, default=None, help="replay a time budget's step count exactly")
    length.add_argument("--hold-steps", type=int, default=0, help="with --steps: the budget's steps before the cosine")
    p.add_argument("--processes", type=_positive_int, default=1,
                   help="train as N cooperating processes on this machine (JAX; docs/distributed.md)")
    p.add_argument("--precision", **PRECISION_OPTION)
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="test-set MSE/PSNR/SSIM of a model and the identity baseline")
    p.add_argument("--model", required=True, help="shipped name, .keras file or run folder")
    p.add_argument("--profile", default="pretrained", choices=sorted(study.PROFILES),
                   help="which test images (default: the pretrained profile's 1,000)")
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--data", default=None)
    p.add_argument("--out", default=str(study.SCRATCH_DIR / "evaluate" / "results.json"))
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("plot", help="redraw the comparison figures from run folders and saved results")
    p.add_argument("--run", action="append", default=[], metavar="NAME=RUN_DIR",
                   help="loss curves and the comparison grid from these run folders")
    p.add_argument("--results", default=None, help="a notebook results.json: redraw the per-sigma figure")
    p.add_argument("--profile", default="pretrained", choices=sorted(study.PROFILES))
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--data", default=None)
    p.add_argument("--out", default=str(study.SCRATCH_DIR / "figures"))
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser("restore", help="restore images of any size with a model (PNG out, bit depth kept)")
    p.add_argument("images", nargs="*", help="PNG/JPEG/TIFF/BMP files or folders")
    model_help = f"shipped name ({pretrained.DEFAULT_MODEL}, the default; see --list-models), .keras file or run folder"
    p.add_argument("--model", default=pretrained.DEFAULT_MODEL, help=model_help)
    p.add_argument("--list-models", action="store_true", help="list the shipped models, what each is for, and exit")
    p.add_argument("--out", default=None, help="output folder (inputs and existing files are never overwritten)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--skip-bad", action="store_true", help="restore the readable images, list the unreadable ones "
                   "and exit with status 1 (default: an unreadable image stops the batch and nothing is written)")
    p.add_argument("--ensemble", action="store_true",
                   help="average over the 8 flips and rotations of each image (about 8x the time)")
    p.add_argument("--precision", **PRECISION_OPTION)
    p.set_defaults(func=_cmd_restore)

    p = sub.add_parser("export", help="export a model for deployment: ONNX, LiteRT or a TF SavedModel")
    p.add_argument("--model", default=pretrained.DEFAULT_MODEL, help=model_help)
    p.add_argument("--format", required=True, choices=["onnx", "litert", "tf_saved_model"])
    p.add_argument("--out", required=True, help="a new .onnx or .tflite file, or a new folder (tf_saved_model)")
    p.set_defaults(func=_cmd_export)
    for p in sub.choices.values():  # --debug after the subcommand too; SUPPRESS keeps the top-level value
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def main(argv=None):
    """Entry point; returns the exit status (0 done, 2 a user-facing error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    Parser.argv = argv
    args = build_parser().parse_args(argv)
    args.argv = argv
    return run_command(args.func, args, name=f"deblur {args.command}")


#: The installed package: its shipped weights and cards. No command writes inside it (issue 41, case 4).
PACKAGE_DIR = Path(__file__).resolve().parent


def _refuse_package_outputs(args):
    """Refuse ``--out`` and ``--run-dir`` inside the installed package before any work."""
    for option in ("out", "run_dir"):
        value = getattr(args, option, None)
        if value and is_within(value, PACKAGE_DIR):
            raise CLIError(f"--{option.replace('_', '-')} {value}: inside the installed deblur package "
                           f"({PACKAGE_DIR}), whose shipped weights and cards no command may change; choose a "
                           "folder outside it. Nothing was written.")


def run_command(func, args, *, name):
    """Run ``func(args) -> int`` the command line's way; return its exit status.

    Any exception becomes one line on stderr, ``<name>: error: ...`` (:func:`error_line`; ``name`` e.g. ``"deblur
    restore"``), and status 2 (a true ``args.debug``: traceback first); Ctrl-C is 130. Warnings wait for the end: a
    failure prints its one line alone, a success them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            _refuse_package_outputs(args)
            status = func(args)
        except KeyboardInterrupt:
            print(f"{name}: interrupted; nothing half-written was kept", file=sys.stderr)
            return 130
        except Exception as exc:  # noqa: BLE001 - every failure is one line; --debug shows the traceback
            if getattr(args, "debug", False):
                traceback.print_exc()
                _print_warnings(caught, name)
            print(f"{name}: error: {error_line(exc)}", file=sys.stderr)
            return 2
    _print_warnings(caught, name)
    return status


def _print_warnings(caught, name):
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning)):
            continue  # library internals, not the user's business
        print(f"{name}: warning: {' '.join(str(w.message).split())}", file=sys.stderr)


# errno -> what to do about it, for the OSErrors a user can cause or fix.
_OS_FIXES = {
    errno.EROFS: "the file system is read-only; choose an output on a writable one",
    errno.ENOSPC: "the disk is full; free some space or choose an output on another disk",
    errno.EDQUOT: "the disk quota is exceeded; free some space or choose another output",
    errno.EACCES: "permission denied; choose a path you may write, or fix its permissions",
    errno.EPERM: "operation not permitted; choose a path you may write, or fix its permissions",
    errno.EEXIST: "it already exists; choose another path (nothing is ever overwritten)",
    errno.ENOTDIR: "a part of this path is a file, not a folder; choose another path",
    errno.EISDIR: "it is a folder; give a file path inside it",
    errno.ENOENT: "check the path, and that its folder exists",
    errno.ENAMETOOLONG: "the path is too long; choose a shorter one",
}


def error_line(exc):
    """One line that says what went wrong and, where known, how to fix it: an ``OSError`` its path and a fix by
    ``errno``, an unexpected error type its type and a pointer to ``--debug``."""
    if isinstance(exc, OSError) and exc.errno in _OS_FIXES and not isinstance(exc, DataError):
        where = f"{exc.filename}: " if exc.filename else ""
        text = f"{where}{exc.strerror or exc}; {_OS_FIXES[exc.errno]}"
    elif isinstance(exc, (CLIError, DataError, pretrained.PretrainedWeightsError, ValueError, OSError)):
        text = str(exc) or type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc} (unexpected; rerun with --debug for the traceback)"
    text = " ".join(re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text).split())  # one line, no terminal colours
    return text if len(text) <= MAX_LINE else text[:MAX_LINE - 30] + " ... (--debug shows all)"


#: The longest error line printed (a framework's message can hold kilobytes of internals).
MAX_LINE = 600


if __name__ == "__main__":
    sys.exit(main())
