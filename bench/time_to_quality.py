"""Benchmark: test MSE against training wall time, for each model, on this CPU.

    python bench/time_to_quality.py --data ../shared/data/cifar10-jpeg.tar.gz

Trains each configuration with ``experiments/cpu_budget.py`` for its
training-time budget (``CONFIG@MINUTES``; skipping those already recorded in
``reports/cpu_budget.json``), then collects their curves
(test MSE on the quick profile's 1,000 test images every budget/6 seconds)
into ``reports/bench_time_to_quality.json`` (one record per run, with the
command, machine and date that trained it). What a CPU budget buys: read off
the MSE a model reaches after t seconds of training.

Default runs: each model with its best recipe from the CPU ablation (ours:
fresh corruption every batch, flips, cosine decay over the budget; Win5-RB
identity-initialised; BatchNorm momentum 0.9): DeblurNet and Win5-RB for 30
minutes (the model issue's equal-budget comparison), the CAE for 10.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import records  # noqa: E402
REPORT = ROOT / "reports" / "bench_time_to_quality.json"
ABOUT = ("Benchmark: test MSE against training wall time on this CPU, one record per run of "
         "experiments/cpu_budget.py (its curve, read from reports/cpu_budget.json; each record keeps the command "
         "that trained it). Regenerate with: python bench/time_to_quality.py --data PATH")
DEFAULT_RUNS = ("deblurnet-ours@30", "win5rb_bn-ours@30", "cae_fixed-ours@10")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS), metavar="CONFIG@MINUTES")
    parser.add_argument("--records", default=str(ROOT / "reports" / "cpu_budget.json"))
    parser.add_argument("--out", default=str(REPORT))
    args = parser.parse_args(argv)
    records_path = Path(args.records)
    runs = []
    for spec in args.runs:
        config, sep, minutes = spec.partition("@")
        if not sep:
            parser.error(f"{spec!r}: expected CONFIG@MINUTES, e.g. deblurnet-ours@30")
        runs.append((config, float(minutes)))
    for config, minutes in runs:
        if f"{config}@{minutes:g}min" in records.read_report(records_path)["records"]:
            print(f"{config} @ {minutes:g} min: recorded already")
            continue
        cmd = [sys.executable, str(ROOT / "experiments" / "cpu_budget.py"), "--config", config,
               "--minutes", str(minutes), "--eval-every", str(minutes * 10), "--out", str(records_path)]
        if args.data:
            cmd += ["--data", args.data]
        print("$", shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)

    budget_runs = records.read_report(records_path)["records"]
    curves = {}
    for config, minutes in runs:
        r = budget_runs[f"{config}@{minutes:g}min"]
        curves[f"{config} ({minutes:g} min)"] = {
            "train_s": [p["train_s"] for p in r["curve"]],
            "test_mse": [p["test_mse"] for p in r["curve"]],
            "images_seen": [p["images_seen"] for p in r["curve"]],
            "final_test_mse": r["test"]["mse"],
            "images_per_s": r["images_per_s"],
            "identity_test_mse": r["identity_test_mse"],
            "budget_minutes": minutes,
            "machine": r["machine"],
            "date": r["date"],
            "command": r["command"],
        }
    command = records.command_line(argv, prog="python bench/time_to_quality.py")
    records.write_report(args.out, about=ABOUT, records=curves, command=command)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
