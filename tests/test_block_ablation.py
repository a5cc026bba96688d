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
                       "adamw": {"beta_2", "weight_decay"}, "wide": {"build"}, "two_scale": {"model"},
                       "charbonnier": {"loss"}}


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


def test_charbonnier_then_mse_switches_inside_the_traced_step(ablation):
    import keras

    x = np.random.default_rng(0).random((4, 8, 8, 3)).astype(np.float32)
    y = np.random.default_rng(1).random((4, 8, 8, 3)).astype(np.float32)
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros")(inputs))
    recipe = ablation.CANDIDATES["charbonnier"][0]
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=ablation.training.make_loss(recipe))
    d = np.zeros_like(y) - y  # the untrained model returns zeros
    try:
        ablation.MSE_WEIGHT.assign(0.0)
        charbonnier = model.train_on_batch(x, y)
        ablation.MSE_WEIGHT.assign(1.0)
        mse = model.train_on_batch(x, y)  # the same traced step reads the weight
    finally:
        ablation.MSE_WEIGHT.assign(0.0)
    np.testing.assert_allclose(charbonnier, np.mean(np.sqrt(d ** 2 + 1e-6)), rtol=1e-5)
    np.testing.assert_allclose(mse, np.mean(d ** 2), rtol=1e-5)


def test_charbonnier_run_switches_to_mse_and_its_checkpoint_loads(ablation, tmp_path):
    from deblur import corruption, training

    x_pool = smooth_images(40, size=32)
    test = (corruption.corrupt(x_pool[:8], seed=1)[0], x_pool[:8])
    try:
        found = ablation.run_candidate("charbonnier", 5, x_pool, test, tmp_path)  # MSE from step 4 of 5
        assert float(ablation.MSE_WEIGHT.numpy()) == 1.0
    finally:
        ablation.MSE_WEIGHT.assign(0.0)
    assert found["steps"] == 5 and found["recipe"]["loss"] == "block_ablation>charbonnier_then_mse"
    assert np.isfinite(found["test_mse"])
    run = training.load_run(tmp_path / "charbonnier")  # its checkpoint loads with the registered loss
    assert run.finished and run.model.loss is ablation.charbonnier_then_mse
