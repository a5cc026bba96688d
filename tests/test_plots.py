import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from conftest import smooth_images  # noqa: E402
from deblur import plots  # noqa: E402
from deblur.corruption import corrupt  # noqa: E402
from tools import figures  # noqa: E402


def test_sample_grid_returns_and_saves(tmp_path, images_uint8):
    corrupted, sigmas = corrupt(images_uint8, seed=0)
    fig = plots.sample_grid(images_uint8, corrupted, sigmas=sigmas, n=5, path=tmp_path / "s.png")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 10
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert fig.axes[5].get_title().startswith("σ=")


def test_loss_curves_log_scale_and_baseline(tmp_path):
    hist = {"loss": [0.1, 0.05, 0.02], "val_loss": [0.09, 0.06, 0.03]}
    fig = plots.loss_curves({"cae": hist, "win5rb": hist}, baseline=0.0066, path=tmp_path / "l.svg")
    assert len(fig.axes) == 2
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    assert len(ax.lines) == 3  # train, validation, identity line
    assert (tmp_path / "l.svg").read_text().lstrip().startswith("<?xml")
    lin = plots.loss_curves({"cae": {"loss": [1.0, 0.5]}}, log_scale=False)
    assert lin.axes[0].get_yscale() == "linear"
    with pytest.raises(ValueError, match="empty"):
        plots.loss_curves({})


def test_comparison_grid_rows_and_errors(images_uint8):
    corrupted, _ = corrupt(images_uint8, seed=0)
    fig = plots.comparison_grid(images_uint8, corrupted, {"a": corrupted, "b": corrupted}, n=4)
    assert len(fig.axes) == 4 * 4
    assert [fig.axes[r * 4].get_ylabel() for r in range(4)] == ["corrupted", "original", "a", "b"]
    assert fig.axes[8].get_title().startswith("MSE ")
    with pytest.raises(ValueError, match="restorations"):
        plots.comparison_grid(images_uint8, corrupted, {"a": corrupted[:, :16]})


def test_figures_from_runs_redraws_without_training(tmp_path, cae_run_dir):
    x = smooth_images(8, seed=5)  # 16x16, the size of the session's CAE run (read, not changed)
    corrupted, _ = corrupt(x, seed=1)
    paths = plots.figures_from_runs({"cae": cae_run_dir}, x, corrupted, out_dir=tmp_path / "figs", n=3)
    assert set(paths) == {"loss_curves", "comparison"}
    for path in paths.values():
        assert path.stat().st_size > 1000
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["comparison.png", "loss_curves.png"]


def test_metric_by_group_one_line_per_method(tmp_path):
    table = {"[1, 2)": {"mse": 0.002, "n_images": 3}, "[2, 3)": {"mse": 0.004, "n_images": 2}}
    fig = plots.metric_by_group({"identity": table, "cae": table}, path=tmp_path / "sigma.png")
    assert len(fig.axes[0].lines) == 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["[1, 2)", "[2, 3)"]
    assert (tmp_path / "sigma.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="empty"):
        plots.metric_by_group({})


def test_grouped_bars_one_bar_per_series_and_group_at_its_height(tmp_path):
    plain = {"CAE": {"mse": 0.0027}, "Win5-RB": {"mse": 0.0022}}
    ensemble = {"CAE": {"mse": 0.0025}}  # a group missing from a series stays empty
    fig = figures.grouped_bars({"plain": plain, "ensemble": ensemble}, path=tmp_path / "bars.png")
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == [0.0022, 0.0025, 0.0027]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["CAE", "Win5-RB"]
    assert ax.get_ylim()[0] > 0.002 and ax.get_ylabel() == "test MSE"  # small differences show
    assert (tmp_path / "bars.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="empty"):
        figures.grouped_bars({})


def test_image_rows_handles_different_sizes(tmp_path):
    rows = {"a": {"x": np.zeros((10, 20, 3)), "y": np.ones((10, 20, 3))},
            "b": {"x": np.zeros((31, 7, 3)), "y": np.full((31, 7, 3), 2.0)}}
    fig = plots.image_rows(rows, path=tmp_path / "rows.png")
    assert len(fig.axes) == 4 and fig.axes[0].get_title() == "x" and fig.axes[2].get_ylabel() == "b"
    assert (tmp_path / "rows.png").stat().st_size > 500
    with pytest.raises(ValueError, match="empty"):
        plots.image_rows({})
