"""experiments/block_ablation.py: equal CPU time as step counts, scored on validation images, never the test set."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import smooth_images

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(scope="module")
def ablation():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        return importlib.import_module("block_ablation")
    finally:
        sys.path.remove(str(EXPERIMENTS))


def test_each_candidate_changes_one_thing_from_deblurnet(ablation):
    reference = ablation.CANDIDATES["deblurnet"][0].as_dict()
    changed = {name: {k for k, v in recipe.as_dict().items() if reference[k] != v}
               for name, (recipe, _) in ablation.CANDIDATES.items()}
    assert changed == {"deblurnet": set(), "gated": {"model"}, "ema": {"ema_momentum"},
                       "adamw": {"beta_2", "weight_decay"}, "wide": {"build"}, "two_scale": {"model"}}


def test_speeds_then_a_scored_run_on_a_small_pool(ablation, tmp_path):
    speeds = ablation.training_speeds(["deblurnet", "gated"], steps=2, rounds=1, batch_size=4)
    assert set(speeds) == {"deblurnet", "gated"} and all(v > 0 for v in speeds.values())
    x_pool = smooth_images(40, size=32)
    from deblur import corruption

    test = (corruption.corrupt(x_pool[:8], seed=1)[0], x_pool[:8])
    found = ablation.run_candidate("ema", 3, x_pool, test, tmp_path)
    assert found["steps"] == 3 and found["images_seen"] == 96 and found["validation_images"] == 4
    assert found["recipe"]["ema_momentum"] == 0.999 and found["test_images"] == 8
    assert np.isfinite(found["validation_mse"]) and found["predict_images_per_s_float32"] > 0
    assert found["test_mse_flips_averaged"] != found["test_mse"] and np.isfinite(found["test_mse_flips_averaged"])


def test_flips_averaged_undoes_each_flip(ablation):
    import keras

    inputs = keras.Input((None, None, 3))
    shifted = keras.Model(inputs, keras.layers.ZeroPadding2D(((1, 0), (0, 0)))(inputs)[:, :-1])  # one row down
    x = np.random.default_rng(0).random((2, 8, 6, 3)).astype(np.float32)
    averaged = ablation.flips_averaged(shifted)(x)
    assert averaged.shape == x.shape
    # Upright and mirrored views move the image down, the upside-down ones up: half of each, undone.
    down, up = np.zeros_like(x), np.zeros_like(x)
    down[:, 1:], up[:, :-1] = x[:, :-1], x[:, 1:]
    np.testing.assert_allclose(averaged, (down + up) / 2, atol=1e-6)
