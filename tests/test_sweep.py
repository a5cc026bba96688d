"""deblur.sweep: every method on the same corruption per setting; the identity row is the corruption's MSE."""

import numpy as np
import pytest

from deblur import baselines, corruption, plots, study, sweep
from tools import reports

SIGMAS = (0.5, 2.0, 5.0)
NOISE = (0.0, 0.02)


@pytest.fixture(scope="module")
def clean():
    rng = np.random.default_rng(0)
    return np.kron(rng.integers(0, 256, (6, 4, 4, 3)), np.ones((1, 4, 4, 1))).astype(np.uint8)  # 16x16, smooth


@pytest.fixture(scope="module")
def rows(clean):
    methods = {"wiener (oracle PSF)": lambda c, s: baselines.wiener_oracle(c, s, balance=0.01),
               "halve": lambda c, s: c * 0.5}
    return sweep.degradation_sweep(methods, clean, sigmas=SIGMAS, noise_levels=NOISE,
                                   seed=study.Seeds(0).sweep_corruption)


def test_identity_row_is_the_corruptions_mse(clean, rows):
    seed = study.Seeds(0).sweep_corruption
    x = clean.astype(np.float64) / 255
    for r in (r for r in rows if r["method"] == sweep.IDENTITY):
        corrupted, sigmas = corruption.corrupt(clean, seed=seed, sigma_range=(r["sigma"], r["sigma"]),
                                               noise_std=r["noise_std"])
        assert np.all(sigmas == r["sigma"])
        assert r["mse"] == pytest.approx(np.mean((corrupted - x) ** 2), rel=1e-6)
    cv2 = pytest.importorskip("cv2", reason="OpenCV: an independent reference for the noiseless blur")
    for r in (r for r in rows if r["method"] == sweep.IDENTITY and r["noise_std"] == 0):
        blurred = np.stack([cv2.GaussianBlur(im.astype(np.float32) / 255, (5, 5), r["sigma"]) for im in clean])
        assert r["mse"] == pytest.approx(np.mean((blurred - x) ** 2), rel=1e-4)


def test_every_method_sees_the_same_images(clean, rows):
    assert len(rows) == len(SIGMAS) * len(NOISE) * 3
    by = {(r["method"], r["sigma"], r["noise_std"]): r for r in rows}
    corrupted = sweep.corrupt_setting(clean, sigma=2.0, noise_std=0.02, seed=study.Seeds(0).sweep_corruption)
    halved = np.mean((corrupted * 0.5 - clean / 255) ** 2)
    assert by["halve", 2.0, 0.02]["mse"] == pytest.approx(halved, rel=1e-6)
    # stronger blur and noise hurt doing nothing; the oracle Wiener helps at a strong, noiseless blur
    assert by[sweep.IDENTITY, 5.0, 0.0]["mse"] > by[sweep.IDENTITY, 0.5, 0.0]["mse"]
    assert by[sweep.IDENTITY, 2.0, 0.02]["mse"] > by[sweep.IDENTITY, 2.0, 0.0]["mse"]
    assert by["wiener (oracle PSF)", 5.0, 0.0]["mse"] < by[sweep.IDENTITY, 5.0, 0.0]["mse"]


def test_crossovers_and_their_words(rows):
    cross = sweep.crossovers(rows)
    assert cross["halve"][0.0] == {"beats": [], "loses": list(SIGMAS)}  # halving the image never helps
    assert 5.0 in cross["wiener (oracle PSF)"][0.0]["beats"]
    words = sweep.describe_crossovers(rows)
    assert "halve beats doing nothing at noise 0: at no sigma" in words[1]


def test_figure_and_table(rows, tmp_path):
    path = tmp_path / "sweep.png"
    fig = plots.sweep_panels(rows, path=path)
    assert path.stat().st_size > 0 and len(fig.axes) == len(NOISE)
    recs = {f"{r['method']}/{r['noise_std']}/{r['sigma']}": {**r, "command": "c", "machine": None, "date": "d"}
            for r in rows}
    recs["summary"] = {"settings": {"n_images": 6, "wiener_balance": 0.01}, "notes": sweep.describe_crossovers(rows)}
    table = reports.render_sweep_table({"records": recs})
    assert table.count("\n| 0.02 |") == len(SIGMAS) and "✗" in table and "halve beats" in table


def test_bad_arguments(clean):
    with pytest.raises(ValueError, match="identity"):
        sweep.degradation_sweep({sweep.IDENTITY: lambda c, s: c}, clean, seed=0)
    with pytest.raises(ValueError, match="must be >= 0"):
        sweep.degradation_sweep({}, clean, sigmas=(-1.0,), seed=0)
    with pytest.raises(TypeError):
        sweep.degradation_sweep({}, clean, sigmas=(1.0,), noise_levels=(0.0,))  # the seed is required


def test_format_table_has_a_line_per_setting_and_a_column_per_method(rows):
    table = sweep.format_table(rows).splitlines()
    assert table[0] == "| noise | sigma | identity | wiener (oracle PSF) | halve |"
    assert len(table) == 2 + len(SIGMAS) * len(NOISE)
    first = next(r for r in rows if r["method"] == "halve" and r["sigma"] == SIGMAS[0] and r["noise_std"] == NOISE[0])
    assert table[2].startswith("| 0 | 0.5 | ") and table[2].endswith(f" | {first['psnr']:.2f} |")
    assert sweep.format_table(rows, metric="mse").splitlines()[2].endswith(f" | {first['mse']:.5f} |")
