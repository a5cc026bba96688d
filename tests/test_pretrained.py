"""The shipped weights and their model cards (the results report: tests/test_reports.py)."""

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from deblur import corruption, data, metrics, models, pretrained

ROOT = Path(__file__).resolve().parents[1]
COUNTS = {"cae": 779_395, "win5rb": 1_276_879, "deblurnet": 313_667, "deblurnet_photo": 609_091,
          "cae_realistic": 779_395, "win5rb_realistic": 1_276_879, "deblurnet_realistic": 313_667}
STUDY = ("cae", "win5rb")


def test_the_study_models_and_the_photo_deblurnet_ship():
    assert models.pretrained_names(degradation="study") == ["cae", "deblurnet", "deblurnet_photo", "win5rb"]
    assert models.pretrained_names(degradation="realistic") == ["cae_realistic", "deblurnet_realistic",
                                                                "win5rb_realistic"]  # the real-blur study's
    assert models.pretrained_names() == sorted(["cae", "deblurnet", "deblurnet_photo", "win5rb", "cae_realistic",
                                                "deblurnet_realistic", "win5rb_realistic"])
    assert pretrained.DEFAULT_MODEL == "deblurnet_photo" and set(pretrained.PURPOSES) == set(models.pretrained_names())


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_weights_load_into_exact_architecture_and_match_card(name):
    card = models.model_card(name)
    weights = models.PRETRAINED_DIR / card["weights_file"]
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == card["weights_sha256"]
    model = models.load_pretrained(name)
    assert model.name == name and model.count_params() == COUNTS[name] == card["parameters"]
    # The loaded weights are the trained ones, not a fresh initialisation.
    fresh = models.build(card["architecture"], **card["recipe"]["build"])
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), fresh.get_weights()))


@pytest.mark.parametrize("name", STUDY)
def test_model_card_is_complete(name):
    card = models.model_card(name)
    p = card["protocol"]
    assert p["epochs_run"] == 20 and p["batch_size"] == 32 and p["learning_rate"] == 1e-3
    assert p["n_train"] == 45_000 and p["n_val"] == 5_000
    assert p["lr_schedule"] == ("win5rb" if name == "win5rb" else "constant")
    assert card["data"]["archive_sha256"] == "820394552d8cd6cf2834c7f34753d3e36624717e73e6a373a57a01edb25bc5f0"
    assert set(card["seeds"]) >= {"split_shuffle_and_init", "train_corruption", "test_corruption"}
    t = card["training"]
    assert t["backend"] and t["hardware"]["devices"] and t["wall_seconds"] > 0 and t["command"]
    for key in ("loss", "val_loss", "learning_rate", "seconds"):
        assert len(card["history"][key]) == 20
    assert card["test_metrics"]["n_images"] == 10_000
    assert card["test_metrics"]["mse"] < 0.5 * card["identity_metrics"]["mse"]


def test_deblurnet_card_records_its_cpu_recipe():
    card = models.model_card("deblurnet")
    p = card["protocol"]
    assert p["corruption"] == "fresh" and p["flips"] is True and p["budget_seconds"] == 1800
    assert p["train_seconds"] >= 1800 and p["n_train"] == 49_000
    assert card["original_recipe"] == {"corruption": "fresh", "schedule": "cosine", "loss": "mse", "flips": True,
                                       "lr": 1e-3}
    # The command of the card replays its steps with the package's recipe, in float32 as every record trains.
    import dataclasses

    from deblur import study

    recipe = dataclasses.replace(study.get_profile("full").recipe_for("deblurnet"), precision="float32")
    assert card["recipe"] == recipe.as_dict()
    assert card["recipe"]["length"]["steps"] * card["recipe"]["batch_size"] == card["images_seen"]
    assert card["data"]["archive_sha256"] == "820394552d8cd6cf2834c7f34753d3e36624717e73e6a373a57a01edb25bc5f0"
    assert card["training"]["hardware"]["cpu_count"] == 2 and card["training"]["command"]
    assert len(card["history"]["loss"]) == p["epochs_run"]
    assert card["test_metrics"]["n_images"] == 10_000
    # Less training compute than the shipped Win5-RB got (images seen x forward GFLOP).
    win = models.model_card("win5rb")["protocol"]
    assert card["training_compute_gflop"] < 0.05 * win["n_train"] * win["epochs_run"] * 2.6114
    assert card["test_metrics"]["mse"] < models.model_card("win5rb")["test_metrics"]["mse"]


def test_tampered_or_unknown_weights_raise(tmp_path, monkeypatch):
    for f in models.PRETRAINED_DIR.iterdir():
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    path = tmp_path / "cae.weights.h5"
    blob = bytearray(path.read_bytes())
    blob[-100] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(models.PretrainedWeightsError, match="sha256"):
        models.load_pretrained("cae")
    (tmp_path / "win5rb.weights.h5").unlink()
    with pytest.raises(models.PretrainedWeightsError, match="missing"):
        models.load_pretrained("win5rb")
    with pytest.raises(models.PretrainedWeightsError, match="No shipped model"):
        models.load_pretrained("unet")


@pytest.mark.slow
def test_shipped_models_clearly_beat_identity_on_100_test_images(stand_in_archive):
    (_, _), (x_test, y_test) = data.load_cifar10(stand_in_archive)
    # 100 images: the ratios to identity (about cae 0.42, win5rb 0.34, deblurnet 0.32 on 500) stay far
    # below the bar of 0.6, at a fifth of the time.
    x, _ = data.subset(x_test, y_test, 100, seed=123)
    corrupted, _ = corruption.corrupt(x, seed=456)
    identity = metrics.evaluate(None, corrupted, x)["mse"]
    for name in ("cae", "win5rb", "deblurnet"):
        mse = metrics.evaluate(models.load_pretrained(name), corrupted, x)["mse"]
        assert mse < 0.6 * identity, (name, mse, identity)
