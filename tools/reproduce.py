"""Re-score or retrain the models and rewrite ``reports/`` and every generated table (repository maintenance).

    python tools/reproduce.py --profile pretrained        # CPU, minutes: scores the shipped weights
    python tools/reproduce.py --profile quick             # trains each model for about a minute
    python tools/reproduce.py --profile full --export     # the study's protocol; ships the weights

Evaluates the shipped weights (``pretrained``: on all 10,000 test images) or
trains the profile's models (``quick``, ``full``), writes ``results.json`` into
the scratch folder, and, unless ``--no-report``, updates
``reports/results.json`` and regenerates the tables of README.md and docs/
(relative to the working directory: run it from the repository root).
``--export`` writes the trained weights and model cards into ``deblur/weights/``
(the full profile's unreduced runs only). ``--time-limit`` stops training at
the first epoch end after it, with exit status 3: the same command resumes.

Errors print one line to stderr and exit with status 2, like ``python -m deblur``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deblur import cli, study  # noqa: E402 - after the path; imports no Keras
from deblur.cli import CLIError  # noqa: E402
from deblur.files import check_outputs  # noqa: E402
from tools import records, reports  # noqa: E402

#: How this script is named in the records it writes (the command that makes them again).
PROG = "python tools/reproduce.py"


def reproduce(args):
    """Evaluate (pretrained) or train the profile's models; rewrite reports/ and the generated tables."""
    from deblur import data, metrics

    # The pretrained profile's report scores the shipped models on all 10,000 test images.
    n_test = args.n_test or (None if args.profile == "pretrained" else study.PROFILES[args.profile].n_test)
    profile = study.get_profile(args.profile, n_test=n_test)
    if args.export and (not profile.train or profile.reduced):
        raise CLIError(f"--export ships weights into the package: only the full profile's unreduced runs may; "
                       f"{profile.name!r} with these options is {'not trained' if not profile.train else 'reduced'}")
    out_dir = cli.out_folder(args.out if args.out else study.SCRATCH_DIR / "reproduce" / profile.name)
    check_outputs([out_dir], [data.source_path(args.data)])
    print(profile.banner())
    arrays = study.load_profile_data(profile, args.data)
    cli.import_keras()
    source = data.describe_source(args.data)
    # Every test number gets its 95 % bootstrap interval over the test images (one resampling seed).
    ci_seed = profile.seeds.bootstrap
    results = {"identity": metrics.evaluate(None, arrays["x_test_corrupted"], arrays["x_test"], ci_seed=ci_seed)}
    trained = {}
    for name in args.models:
        model, trained[name] = _model(name, profile, arrays, out_dir, args)
        if model is None:
            print(f"{name}: stopped at the time limit; run the same command again to resume.")
            return 3
        results[name] = metrics.evaluate(model, arrays["x_test_corrupted"], arrays["x_test"], ci_seed=ci_seed)
        print(name, {k: v for k, v in results[name].items() if k != "ci"})
        if args.export and profile.train:
            _export(name, profile, out_dir, results, args, source)
    metrics.save_results({"profile": profile.name, "command": args.command_line, "data_source": source,
                          "results": results, "trained": trained}, out_dir / "results.json")
    print(metrics.format_table(results))
    if not args.no_report:
        _write_reports(profile, results, trained, source, args.command_line)
    return 0


def _model(name, profile, arrays, out_dir, args):
    """(model, how it was trained): trained with the recipe, or the shipped weights; (None, None) if stopped."""
    from deblur import models

    if not profile.train:
        card = models.model_card(name)
        return models.load_pretrained(name), f"shipped weights ({card['protocol']['description']})"
    # Records train in float32, so that their numbers do not depend on the CPU type (bfloat16 is for users' runs).
    model_recipe = dataclasses.replace(profile.recipe_for(name), precision="float32")
    callbacks = [stop_after(args.time_limit)] if args.time_limit else []
    run = study.train_model(model_recipe, arrays["x_train"], arrays["x_train_corrupted"],
                            run_dir=out_dir / "runs" / name, verbose=2, callbacks=callbacks)
    if not run.finished:
        return None, None
    seconds = sum(run.history.get("seconds", []))
    replay = f", replay with --steps {run.length['steps']} --hold-steps {run.length['hold_steps']}" \
        if run.length.get("budget_seconds") else ""
    return run.model, (f"{model_recipe.length}: {run.steps:,} steps of {model_recipe.batch_size} on "
                       f"{profile.n_train or 50000:,} images, {seconds:.0f} s{replay}")


def stop_after(seconds):
    """A Keras callback: stop at the first epoch end after ``seconds`` (the run resumes later)."""
    import keras

    class StopAfter(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            if time.perf_counter() - self.start > seconds:
                print(f"time limit of {seconds:.0f} s reached after epoch {epoch + 1}; stopping")
                self.model.stop_training = True

    return StopAfter()


def _export(name, profile, out_dir, results, args, source):
    from tools import export_weights  # imports Keras: only --export needs it

    sha = export_weights.archive_sha256(args.data)
    card = export_weights.export_pretrained(out_dir / "runs" / name, recipe=profile.recipe_for(name),
                                            evaluation={"test": results[name], "identity": results["identity"]},
                                            command=args.command_line, data_source=source, data_sha256=sha)
    print(f"exported {name}: deblur/weights/{card['weights_file']} and its model card")


def _write_reports(profile, results, trained, source, command):
    rows = {f"{profile.name}/identity": reports.result_record(
        "identity (corrupted input)", profile.name, results["identity"], trained="–", data_source=source)}
    for name, how in trained.items():
        rows[f"{profile.name}/{name}"] = reports.result_record(name, profile.name, results[name], trained=how,
                                                               data_source=source)
    reports.save_results(rows, profile=profile.name, command=command)
    if profile.name == "pretrained":  # the shipped models' own rows come from their model cards
        cards = reports.card_records()
        for group in sorted({r["profile"] for r in cards.values()}):
            reports.save_results({k: r for k, r in cards.items() if r["profile"] == group}, profile=group,
                                 command=command)
    for path in reports.regenerate():
        print("regenerated", path)


def build_parser():
    parser = cli.Parser(prog=PROG.removeprefix("python "), description="Re-score (pretrained) or retrain "
                        "(quick, full) the models; rewrite reports/ and every generated table.")
    parser.add_argument("--profile", required=True, choices=["pretrained", "quick", "full"])
    parser.add_argument("--data", default=None, help="CIFAR-10 source (default: $DEBLUR_DATA, else download)")
    parser.add_argument("--models", nargs="+", default=list(study.MODEL_NAMES), choices=study.MODEL_NAMES)
    parser.add_argument("--out", default=None,
                        help=f"scratch folder (default: {study.SCRATCH_DIR}/reproduce/<profile>)")
    parser.add_argument("--n-test", type=int, default=None,
                        help="test images (default: the profile's; pretrained: all 10,000)")
    parser.add_argument("--time-limit", type=float, default=None,
                        help="seconds; stop training at the next epoch end after it (exit 3: run again to resume)")
    parser.add_argument("--export", action="store_true",
                        help="write the trained weights and model cards into the package (deblur/weights/)")
    parser.add_argument("--no-report", action="store_true", help="do not touch reports/, README.md or docs/")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return parser


def main(argv=None):
    """Entry point; returns the exit status (0 done, 2 an error, 3 stopped at the time limit)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = records.command_line(argv, prog=PROG)
    return cli.run_command(reproduce, args, name=parser.prog)


if __name__ == "__main__":
    sys.exit(main())
