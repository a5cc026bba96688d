"""The experiments' figures are drawn from their records: --figure-only redraws one and measures nothing."""

import importlib
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from tools import records

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(scope="module")
def experiments():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        yield {name: importlib.import_module(name) for name in ("ensemble", "quick_seeds", "blur_estimator")}
    finally:
        sys.path.remove(str(EXPERIMENTS))


ENSEMBLE = {name: {"model": name, "plain": {"mse": mse}, "ensemble": {"mse": mse * 0.95}}
            for name, mse in (("cae", 0.0027), ("win5rb", 0.0022))}
QUICK = {**{f"seed{s}/{name}": {"model": name, "seed": s, "mse": mse + s * 1e-5}
            for s in (0, 1) for name, mse in (("cae", 0.0075), ("deblurnet", 0.0047))},
         "identity": {"mse": 0.0067}}


@pytest.mark.parametrize("name, recs, heights", [
    ("ensemble", ENSEMBLE, [0.0022 * 0.95, 0.0022, 0.0027 * 0.95, 0.0027]),
    ("quick_seeds", QUICK, [0.0047, 0.00471, 0.0067, 0.0067, 0.0075, 0.00751]),
])
def test_figure_only_redraws_from_the_record(experiments, tmp_path, name, recs, heights):
    report, figure = tmp_path / "report.json", tmp_path / "fig.png"
    records.write_report(report, about="a", records=recs, command="c")
    before = report.read_bytes()
    assert experiments[name].main(["--figure-only", "--out", str(report), "--figure", str(figure)]) == 0
    assert figure.stat().st_size > 1000 and report.read_bytes() == before
    fig = experiments[name].draw(records.read_report(report), None)
    assert sorted(round(p.get_height(), 7) for p in fig.axes[0].patches) == pytest.approx(heights)
    plt.close("all")


@pytest.mark.parametrize("name", ["ensemble", "quick_seeds"])
def test_figure_only_without_records_says_what_to_run(experiments, tmp_path, name):
    report = tmp_path / "report.json"
    records.write_report(report, about="a", records={}, command="c")
    with pytest.raises(SystemExit, match=f"python experiments/{name}.py"):
        experiments[name].main(["--figure-only", "--out", str(report), "--figure", str(tmp_path / "f.png")])
    assert not (tmp_path / "f.png").exists()


def test_blur_estimator_figure_has_a_line_per_estimator_and_the_mean(experiments, tmp_path):
    bins = {"[1.00, 1.50)": {"mae": 0.3, "n_images": 5}, "[1.50, 2.00)": {"mae": 0.2, "n_images": 5},
            "all": {"mae": 0.25, "n_images": 10}}
    record = {"estimator": {"mae_by_bin": bins, "mean_predictor_mae_by_bin": bins, "mean_sigma": 2.49},
              "network": {"mae_by_bin": bins}}
    fig = experiments["blur_estimator"].draw(record, tmp_path / "b.png")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["spectral", "network", "the mean sigma (2.49)"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["[1.00, 1.50)", "[1.50, 2.00)"]  # "all" is no bin
    assert (tmp_path / "b.png").stat().st_size > 1000
    plt.close("all")
