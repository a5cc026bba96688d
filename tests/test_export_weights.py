"""tools/export_weights.py: a finished run becomes shipped weights and a model card."""

import dataclasses
import hashlib

import numpy as np

from deblur import models, study
from deblur.degradations import Study
from deblur.recipe import Recipe
from tools import export_weights


def test_export_writes_weights_and_a_card_that_names_its_recipe(tmp_path):


    x = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    recipe = study.recipe("ours", "deblurnet", steps=3)
    run = study.train_model(recipe, x, run_dir=tmp_path / "run", verbose=0)
    evaluation = {"test": {"mse": 0.1}, "identity": {"mse": 0.2}}
    card = export_weights.export_pretrained(run.run_dir, recipe=recipe, evaluation=evaluation, command="python -m deblur x",
                                   data_source="random", out_dir=tmp_path / "w")
    assert card["recipe"] == recipe.as_dict() and card["seeds"]["test_corruption"] == 20
    assert card["images_seen"] == 3 * 32 and card["protocol"]["steps"] == 3
    assert card["protocol"]["description"] == "our recipe" and card["training"]["command"] == "python -m deblur x"


    weights = (tmp_path / "w" / "deblurnet.weights.h5").read_bytes()
    assert hashlib.sha256(weights).hexdigest() == card["weights_sha256"]
    model = models.build("deblurnet")
    model.load_weights(tmp_path / "w" / "deblurnet.weights.h5")
    for a, b in zip(model.get_weights(), run.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert export_weights._is_study_protocol(study.get_profile("full").recipe_for("cae"))
    assert not export_weights._is_study_protocol(study.recipe("study", "cae", epochs=3))
    # A variant ships under its own name, beside the original, and its card names its own corruption.
    study_corruption = "5x5 Gaussian blur, sigma ~ U[1, 4), reflect-101; + 0.02 N(0,1); no clipping"
    assert card["data"]["corruption"] == study_corruption == models.model_card("deblurnet")["data"]["corruption"]
    wide = export_weights.export_pretrained(run.run_dir, recipe=recipe, evaluation=evaluation, command="c",
                                   data_source="random", out_dir=tmp_path / "w", name="deblurnet_wide")
    assert wide["name"] == "deblurnet_wide" and wide["architecture"] == "deblurnet"
    assert (tmp_path / "w" / "deblurnet.weights.h5").read_bytes() == weights  # the original is untouched
    assert wide["weights_sha256"] == card["weights_sha256"]


def test_a_cards_corruption_names_the_recipes_ranges():
    wide = dataclasses.replace(study.recipe("ours", "deblurnet", steps=3), degradation=Study(sigma_range=(0.5, 6.0), noise_std=(0.0, 0.05)))
    assert export_weights.describe_corruption(wide) == (
        "5x5 Gaussian blur, sigma ~ U[0.5, 6), reflect-101; + s N(0,1), s ~ U[0, 0.05] per image; no clipping")


def test_each_shipped_cards_recipe_round_trips():
    for name in models.pretrained_names():
        card = models.model_card(name)
        recipe = Recipe.from_dict(card["recipe"])
        assert recipe.as_dict() == card["recipe"], name
        assert recipe.model == card["architecture"] and recipe.batch_size == card["protocol"]["batch_size"]
        assert card["training"]["command"].startswith(("python tools/reproduce.py", "python experiments/")), name


def test_a_cards_corruption_names_its_sharp_share():
    recipe = dataclasses.replace(study.recipe("ours", "deblurnet", steps=3),
                                 degradation=Study(sigma_range=(0.3, 6.0), noise_std=(0.0, 0.05), sharp_fraction=0.25))
    assert export_weights.describe_corruption(recipe) == (
        "25% of images unblurred (sigma 0), the others 5x5 Gaussian blur, sigma ~ U[0.3, 6), reflect-101; "
        "+ s N(0,1), s ~ U[0, 0.05] per image; no clipping")
