"""experiments/blur_estimator.py: the spectral sigma estimator beats predicting the mean sigma."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from deblur import corruption

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(scope="module")
def estimator_module():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        yield importlib.import_module("blur_estimator")
    finally:
        sys.path.remove(str(EXPERIMENTS))


def _textures(n, seed):
    """Images with CIFAR-like variety: smooth fields of random scale and contrast plus fine detail."""
    rng = np.random.default_rng(seed)
    coarse = np.kron(rng.random((n, 8, 8, 3)), np.ones((1, 4, 4, 1)))
    fine = rng.random((n, 32, 32, 3))
    mix = rng.uniform(0.2, 0.8, (n, 1, 1, 1))
    return ((mix * coarse + (1 - mix) * fine) * 255).astype(np.uint8)


def test_estimator_beats_the_mean_predictor(estimator_module):
    be = estimator_module
    c_fit, s_fit = corruption.corrupt(_textures(600, 0), seed=1)
    c_test, s_test = corruption.corrupt(_textures(300, 2), seed=3)
    est = be.fit_estimator(be.spectrum_features(c_fit), s_fit)
    predicted = be.estimate_sigmas(est, be.spectrum_features(c_test))
    assert predicted.shape == s_test.shape and predicted.min() >= s_fit.min() and predicted.max() <= s_fit.max()
    ours = be.mae_by_bin(predicted, s_test)
    mean = be.mae_by_bin(np.full_like(s_test, s_fit.mean()), s_test)
    assert ours["all"]["mae"] < 0.6 * mean["all"]["mae"]
    assert sum(c["n_images"] for k, c in ours.items() if k != "all") == len(s_test)
    with pytest.raises(ValueError, match="sigmas"):
        be.fit_estimator(np.zeros((3, 2)), np.zeros(2))


def test_network_estimator_learns_sigma_better_than_the_mean(estimator_module):
    be = estimator_module
    model = be.estimator_network(seed=0)
    # five convolutions, the pooled features' BatchNorm (4 x 32), the linear output
    assert model.count_params() == 3 * 9 * 32 + 32 + 4 * (32 * 9 * 32 + 32) + 4 * 32 + 32 + 1
    c_test, s_test = corruption.corrupt(_textures(200, 2), seed=3)
    np.testing.assert_allclose(model.predict(c_test[:4], verbose=0)[:, 0], 2.5, atol=1.5)  # starts mid-range
    trained, seconds = be.train_estimator_network(_textures(800, 0), seed=5, epochs=3, batch_size=32, verbose=0)
    predicted = be.network_sigmas(trained, c_test)
    assert predicted.shape == s_test.shape and 1.0 <= predicted.min() and predicted.max() <= 4.0 and seconds > 0
    mean_mae = be.mae_by_bin(np.full_like(s_test, 2.5), s_test)["all"]["mae"]
    assert be.mae_by_bin(predicted, s_test)["all"]["mae"] < 0.85 * mean_mae  # 0.74x after these 75 steps


def test_the_table_shows_the_network_column_and_how_it_was_trained():
    from tools import reports

    def bins(mae):
        return {"[1.00, 1.50)": {"mae": mae, "n_images": 3}, "all": {"mae": mae, "n_images": 3}}

    record = {"estimator": {"mae_by_bin": bins(0.4), "mean_predictor_mae_by_bin": bins(0.8), "mean_sigma": 2.5,
                            "n_fit": 5000},
              "network": {"mae_by_bin": bins(0.3),
                          "training": {"train_seconds": 883.2, "parameters": 38_049, "epochs": 4, "n_train": 50_000}},
              "wiener": {"identity": {"mse": 0.0067, "psnr": 22.4, "ssim": 0.71}}, "n_images": 3,
              "wiener_balance": 0.01, "command": "python experiments/blur_estimator.py",
              "machine": {"processor": "AMD EPYC", "cpu_count": 2}, "date": "2026-11-26"}
    text = reports.render_blur_estimator_table({"records": {"blur_estimator": record}})
    assert "| [1.00, 1.50) | 3 | 0.400 | 0.300 | 0.800 |" in text
    assert "The network (38,049 parameters) trained for 4 epochs on 50,000 training images in 883 s." in text
    del record["network"]  # a record from before the network: the spectral column alone
    text = reports.render_blur_estimator_table({"records": {"blur_estimator": record}})
    assert "| [1.00, 1.50) | 3 | 0.400 | 0.800 |" in text and "The network" not in text
