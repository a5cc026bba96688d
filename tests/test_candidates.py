"""Research candidates (deblur.candidates): shapes, identity at init, FLOP counting."""

import keras
import numpy as np
import pytest

from deblur import candidates, models


def test_flop_counter_matches_hand_count_for_win5rb():
    # Multiply-adds per pixel of Win5-RB's five convolutions, times 2.
    macs = 3 * 9 * 32 + 32 * 25 * 64 + 64 * 49 * 128 + 128 * 49 * 128 + 128 * 49 * 3
    assert candidates.conv_flops_per_pixel(models.win5rb()) == 2 * macs


@pytest.mark.parametrize("builder", [candidates.win5rb_fixed, candidates.nafunet, candidates.plain_resnet])
def test_identity_at_initialisation_on_odd_sizes(builder):
    model = builder(seed=0)
    x = np.random.default_rng(0).random((2, 12, 20, 3), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), x, atol=1e-6)


def test_win5rb_fixed_keeps_the_architecture():
    assert candidates.win5rb_fixed().count_params() == 1_276_879


def test_nafunet_is_cheaper_and_round_trips(tmp_path):
    model = candidates.nafunet(seed=0)
    assert model.count_params() == 699_203
    assert candidates.conv_flops_per_pixel(model) < 0.25 * candidates.conv_flops_per_pixel(models.win5rb())
    model.get_layer("ending").set_weights([np.full_like(w, 0.01) for w in model.get_layer("ending").get_weights()])
    x = np.random.default_rng(1).random((1, 16, 24, 3), dtype=np.float32)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6)
    with pytest.raises(ValueError, match="multiples of 4"):
        candidates.nafunet(input_shape=(30, 30, 3))
