"""experiments/do_no_harm.py: the recipe it trains, and the bar it scores against."""

import importlib.util
from pathlib import Path

import pytest

from deblur import study

_PATH = Path(__file__).resolve().parents[1] / "experiments" / "do_no_harm.py"
_spec = importlib.util.spec_from_file_location("do_no_harm", _PATH)
do_no_harm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(do_no_harm)


def test_the_photo_recipes_are_the_shipped_deblurnets_on_the_photo_corruption():
    shipped = study.get_profile("full").recipe_for("deblurnet")
    recipe = do_no_harm.photo_recipe("s25")
    assert recipe.steps == shipped.steps == 19_823 and recipe.batch_size == 32  # 634,336 images
    assert (recipe.sigma_range, recipe.noise_std, recipe.sharp_fraction, recipe.zoom_fraction) == (
        (0.3, 6.0), (0.0, 0.05), 0.25, 0.0)
    wide = do_no_harm.photo_recipe("s40z50b64")
    assert (wide.steps, wide.batch_size, wide.sharp_fraction, wide.zoom_fraction, wide.zoom_range) == (
        19_823, 64, 0.4, 0.5, (1.0, 2.0))
    assert len({do_no_harm.photo_recipe(v).sharp_fraction for v in do_no_harm.VARIANTS}) >= 3  # the share ablation
    assert do_no_harm.photo_recipe("s25", steps=1500).steps == 1500
    gate = do_no_harm.gate_recipe("s40z50b64")
    assert (gate.model, gate.steps, gate.batch_size, gate.zoom_fraction) == ("deblurnet_mix", 1500, 32, 0.5)


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
