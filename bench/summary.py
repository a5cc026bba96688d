"""Summary figure of the benchmarks, and the regenerated Performance section.

    python bench/summary.py

Reads the benchmark reports (``reports/bench_{corruption,throughput,memory,
time_to_quality}.json``), draws ``docs/figures/bench_summary.png`` and
regenerates every generated table (:func:`tools.reports.regenerate`; the
Performance section of ``docs/research.md`` among them). Every number shown
comes from a report, with the machine and date it was measured on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: the repository root holds tools/
    sys.path.insert(0, str(ROOT))
from tools import reports  # noqa: E402
BENCHMARKS = ("corruption", "throughput", "memory", "time_to_quality")
LABELS = {"cae": "CAE", "win5rb": "Win5-RB", "deblurnet": "DeblurNet"}


def load_results(root=ROOT):
    """The benchmarks' records: ``{name: {key: record}}``, for those with records."""
    out = {name: reports.load_report(f"bench_{name}", root)["records"] for name in BENCHMARKS}
    return {name: recs for name, recs in out.items() if recs}


def _draw_corruption(ax, recs):
    r = recs.get("corruption")
    if not r:
        return
    names = ["study", "corrupt", "pipeline"]
    ax.bar(names, [r["seconds_best"][n] for n in names], color=["gray", "C0", "C1"])
    ax.set_ylabel("seconds")
    ax.set_title(f"Corrupting {r['n_images']:,} images")


def _draw_throughput(ax, recs):
    labels, study, device = [], [], []
    for key, rec in recs.items():
        for name, m in rec.get("models", {}).items():
            rates = m["train_images_per_s"]["32"]
            labels.append(f"{LABELS.get(name, name)}\n{key.replace(' on ', ', ')}")
            study.append(rates["pre-corrupted"])
            device.append(rates["device"])
    xs = range(len(labels))
    ax.bar([x - 0.2 for x in xs], study, 0.4, label="pre-corrupted arrays", color="gray")
    ax.bar([x + 0.2 for x in xs], device, 0.4, label="corrupted on the device", color="C0")
    ax.set_xticks(list(xs), labels, fontsize=6)
    ax.set_yscale("log")
    ax.set_ylabel("training images/s")
    ax.legend(fontsize=7)
    ax.set_title("Training speed (batch 32)")


def _draw_memory(ax, recs):
    p = next(iter(recs.values()))["peak_rss_mb"]
    ax.bar(["no data", "study", "ours"], [p["baseline"], p["study"], p["ours"]], color=["lightgray", "gray", "C0"])
    ax.set_ylabel("peak RSS (MB)")
    ax.set_title("Memory, full-data training")


def _draw_time_to_quality(ax, recs):
    for config, c in recs.items():
        ax.plot([t / 60 for t in c["train_s"]], c["test_mse"], marker="o", label=config)
    ax.axhline(next(iter(recs.values()))["identity_test_mse"], color="k", ls=":", label="identity")
    ax.set_yscale("log")
    ax.set_xlabel("training minutes (CPU)")
    ax.set_ylabel("test MSE")
    ax.legend(fontsize=7)
    ax.set_title("Time to quality")


def draw(results, path):
    """Draw the four benchmarks side by side into ``path`` (PNG); returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    panels = (_draw_corruption, _draw_throughput, _draw_memory, _draw_time_to_quality)
    for ax, name, panel in zip(axes, BENCHMARKS, panels):
        if results.get(name):
            panel(ax, results[name])
    fig.tight_layout()
    from deblur.plots import save_figure

    save_figure(fig, path)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-regenerate", action="store_true", help="only draw the figure")
    args = parser.parse_args(argv)
    results = load_results()
    if not results:
        raise SystemExit("No benchmark records in reports/bench_*.json; run the bench/*.py scripts first.")
    print("drew", draw(results, ROOT / reports.BENCH_FIGURE))
    if not args.no_regenerate:
        for path in reports.regenerate(ROOT):
            print("regenerated", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
