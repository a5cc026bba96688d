"""experiments/do_no_harm.py: the recipe it trains, and the bar it scores against."""

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest

from deblur import models, study

_PATH = Path(__file__).resolve().parents[1] / "experiments" / "do_no_harm.py"
_spec = importlib.util.spec_from_file_location("do_no_harm", _PATH)
do_no_harm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(do_no_harm)


def test_the_photo_recipes_are_the_shipped_deblurnets_on_the_photo_corruption():
    shipped = study.get_profile("full").recipe_for("deblurnet")
    recipe = do_no_harm.photo_recipe("s25")
    assert recipe.length == shipped.length == study.Steps(19_823) and recipe.batch_size == 32  # 634,336 images
    assert (recipe.degradation.sigma_range, recipe.degradation.noise_std, recipe.degradation.sharp_fraction, recipe.degradation.zoom_fraction) == (
        (0.3, 6.0), (0.0, 0.05), 0.25, 0.0)
    wide = do_no_harm.photo_recipe("s40z50b64")
    assert (wide.length.steps, wide.batch_size, wide.degradation.sharp_fraction, wide.degradation.zoom_fraction, wide.degradation.zoom_range) == (
        19_823, 64, 0.4, 0.5, (1.0, 2.0))
    assert len({do_no_harm.photo_recipe(v).degradation.sharp_fraction for v in do_no_harm.VARIANTS}) >= 3  # the share ablation
    assert do_no_harm.photo_recipe("s25", steps=1500).length.steps == 1500
    gate = do_no_harm.gate_recipe("s40z50b64")
    assert (gate.model, gate.length.steps, gate.batch_size, gate.degradation.zoom_fraction) == ("deblurnet_mix", 1500, 32, 0.5)


def test_round3_adds_photo_crops_none_of_the_evaluations_to_the_pool():
    assert not set(do_no_harm.TRAINING_PHOTOS) & {*do_no_harm.PHOTOS, *do_no_harm.VALIDATION_PHOTOS}
    patches = do_no_harm.training_photo_patches(40, seed=0)
    assert patches.shape == (40, 32, 32, 3) and patches.dtype == np.uint8 and patches.std() > 10
    assert np.array_equal(patches, do_no_harm.training_photo_patches(40, seed=0))
    x = np.zeros((80, 32, 32, 3), np.uint8)
    pool = do_no_harm.training_pool(x, "s25z25p20k8")
    assert len(pool) == 100 and pool[80:].any() and not pool[:80].any()  # a fifth of the pool is photo crops
    assert do_no_harm.training_pool(x, "s25") is x
    recipe = do_no_harm.photo_recipe("s25z25p20k8")
    assert (recipe.build, recipe.precision, recipe.length.steps, recipe.degradation.sharp_fraction) == ({"blocks": 8}, "auto", 19_823, 0.25)
    assert do_no_harm.shipped_recipe("s25z25p20k8") == recipe


def _rows(identity, model, *, sigma, noise=0.0):
    return [{"method": "identity", "sigma": sigma, "noise_std": noise, "psnr": identity},
            {"method": "m", "sigma": sigma, "noise_std": noise, "psnr": model}]


@pytest.mark.parametrize("identity, model, sigma, kinds", [
    (float("inf"), 39.8, 0.0, []),          # sharp, noise-free: the floor is 40 - 0.3 dB
    (float("inf"), 39.6, 0.0, ["harm"]),
    (33.0, 32.8, 0.5, []),                  # within 0.3 dB of the input
    (33.0, 32.6, 0.5, ["harm"]),
    (24.0, 26.1, 2.0, []),                  # sigma >= 1.5 must gain 2 dB
    (24.0, 25.9, 2.0, ["gain"]),
    (24.0, 23.0, 3.0, ["harm", "gain"]),
])
def test_the_bar_names_each_miss(identity, model, sigma, kinds):
    assert [m["kind"] for m in do_no_harm.bar_check(_rows(identity, model, sigma=sigma), "m")] == kinds


def test_deblurnet_mix_weighs_two_deblurnets_by_a_gate():
    model = do_no_harm.deblurnet_mix(seed=0)
    assert model.count_params() == 634_759 == 2 * 313_667 + 7_425
    assert models.gflops_per_image(model) == pytest.approx(2 * models.gflops_per_image(models.deblurnet()), rel=0.01)
    study, photo = model.get_layer("study"), model.get_layer("photo")
    rng = np.random.default_rng(0)
    for expert in (study, photo):  # different experts, so the gate's weight shows
        expert.get_layer("correction").set_weights([rng.normal(0, 0.01, w.shape).astype("float32")
                                                    for w in expert.get_layer("correction").get_weights()])
    x = rng.random((2, 24, 40, 3)).astype("float32")
    a, b = study.predict(x, verbose=0), photo.predict(x, verbose=0)
    g = keras.Model(model.inputs, model.get_layer("gate_upsampled").output).predict(x, verbose=0)
    assert g.shape == (2, 24, 40, 1)
    assert np.all((g > 0) & (g < 1))
    np.testing.assert_allclose(model.predict(x, verbose=0), b + g * (a - b), atol=1e-6)
