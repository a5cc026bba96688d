"""Ablation candidates (experiments/candidates.py): shapes, identity at init; no shim in the package."""

import importlib
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from deblur import models

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(scope="module")
def candidates():
    # The scripts in experiments/ import it as the sibling module ``candidates``.
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        return importlib.import_module("candidates")
    finally:
        sys.path.remove(str(EXPERIMENTS))


def test_candidates_is_research_not_library(candidates):
    assert Path(candidates.__file__).resolve() == EXPERIMENTS / "candidates.py"
    assert sorted(candidates.CANDIDATES) == ["deblurnet_gated", "deblurnet_two_scale", "nafunet", "plain_resnet",
                                             "resunet"]


def test_resunet_is_the_identity_at_initialisation_and_sees_furthest(candidates):
    # Issue 40's photo-scale candidate: three 2x levels, so sizes are multiples of 8; restore pads any other size.
    from deblur import inference

    model = candidates.resunet(seed=0)
    assert model.count_params() == 4_625_027
    x = np.random.default_rng(0).random((2, 16, 24, 3), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), x, atol=1e-6)
    assert inference.size_multiple(model) == 8
    two_scale = candidates.deblurnet_two_scale(blocks=(2, 4, 2))
    assert inference.receptive_radius(model) > inference.receptive_radius(two_scale)
    with pytest.raises(ValueError, match="blocks needs 4 counts"):
        candidates.resunet(blocks=(1, 1))


@pytest.mark.parametrize("name", ["nafunet", "plain_resnet", "deblurnet_gated", "deblurnet_two_scale"])
def test_identity_at_initialisation_on_odd_sizes(candidates, name):
    model = candidates.CANDIDATES[name](seed=0)
    x = np.random.default_rng(0).random((2, 12, 20, 3), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), x, atol=1e-6)


def test_nafunet_is_cheaper_and_round_trips(candidates, tmp_path):
    model = candidates.nafunet(seed=0)
    assert model.count_params() == 699_203
    assert models.conv_flops_per_pixel(model) < 0.25 * models.conv_flops_per_pixel(models.win5rb())
    model.get_layer("ending").set_weights([np.full_like(w, 0.01) for w in model.get_layer("ending").get_weights()])
    x = np.random.default_rng(1).random((1, 16, 24, 3), dtype=np.float32)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6)
    with pytest.raises(ValueError, match="multiples of 4"):
        candidates.nafunet(input_shape=(30, 30, 3))


def test_gated_deblurnet_changes_only_the_block(candidates):
    model = candidates.deblurnet_gated(seed=0)
    assert model.count_params() == 356_867
    assert models.gflops_per_image(model) == pytest.approx(0.15691776, rel=1e-9)  # DeblurNet's 0.1629
    reference = models.deblurnet(seed=0)
    for name in ("head", "down", "up", "correction"):
        assert [w.shape for w in model.get_layer(name).weights] == [w.shape for w in reference.get_layer(name).weights]
    assert len([layer for layer in model.layers if layer.name.endswith("_gate1")]) == 11


def test_two_scale_deblurnet_changes_only_the_trunk(candidates):
    model = candidates.deblurnet_two_scale(seed=0)
    assert model.count_params() == 822_019
    assert models.gflops_per_image(model) == pytest.approx(0.171311104, rel=1e-9)  # DeblurNet's 0.1629
    reference = models.deblurnet(seed=0)
    for name in ("head", "down", "up", "correction", "block1_conv1", "block4_conv2"):
        assert [w.shape for w in model.get_layer(name).weights] == [w.shape for w in reference.get_layer(name).weights]
    assert model.get_layer("block2_conv1").kernel.shape == (3, 3, 128, 128)  # quarter resolution, 2x the channels
    x = np.zeros((1, 32, 32, 3), np.float32)
    assert model.get_layer("block2_add").output.shape[1:] == (None, None, 128)
    assert model(x).shape == (1, 32, 32, 3)
