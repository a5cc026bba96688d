"""A non-blind DeblurNet (experiments/nonblind.py) and training told the blur (train(sigma_input=True))."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import keras

from deblur import corruption, models, study, training
from deblur.recipe import Recipe, Steps
from tools import reports
from deblur.training.pipeline import FreshCorruption

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("nonblind", ROOT / "experiments" / "nonblind.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


nonblind = _load()


@pytest.mark.parametrize("conditioning, parameters", [("plane", 313_955), ("film", 330_627)])
def test_nonblind_deblurnet_is_deblurnet_plus_its_conditioning_and_starts_as_the_identity(conditioning, parameters):
    model = nonblind.deblurnet_nonblind(conditioning, seed=0)
    # plane: the head convolution gains one input channel (32 filters x 3 x 3);
    # film: 1 -> 32 hidden units, then a scale and a shift of 64 per block, from 32.
    extra = {"plane": 32 * 9, "film": 2 * 32 + 4 * 2 * (32 * 64 + 64)}[conditioning]
    assert models.deblurnet(seed=0).count_params() + extra == parameters == model.count_params()
    assert sorted(t.name for t in model.inputs) == ["corrupted", "sigma"]
    x, sigmas = corruption.corrupt(np.random.default_rng(0).integers(0, 256, (3, 12, 10, 3), dtype=np.uint8), seed=1)
    np.testing.assert_array_equal(nonblind.restore(model, x, sigmas), x)


def test_unknown_conditioning_and_bad_builder_options_are_refused():
    with pytest.raises(ValueError, match="conditioning must be one of"):
        nonblind.deblurnet_nonblind("concat")
    with pytest.raises(ValueError, match="sigma_range"):
        models.deblurnet_nonblind(sigma_range=(4, 1))
    with pytest.raises(ValueError, match="hidden"):
        models.deblurnet_nonblind(hidden=0)


def test_film_maps_the_sigma_range_to_minus_one_one_and_the_package_builder_is_the_film_variant():
    model = models.deblurnet_nonblind(seed=0)
    assert model.count_params() == 330_627 and model.name == "deblurnet_nonblind"
    code = model.get_layer("sigma_code")
    np.testing.assert_allclose(np.asarray(code(np.array([[1.0], [2.5], [4.0]], np.float32))).ravel(), [-1, 0, 1],
                               atol=1e-6)
    film = nonblind.deblurnet_nonblind("film", seed=0)
    for a, b in zip(model.get_weights(), film.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_predict_feeds_sigmas_to_a_nonblind_model_and_checks_them():
    from deblur import metrics

    model = models.deblurnet_nonblind(seed=0)
    x = np.random.default_rng(1).random((5, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(metrics.predict(model, x, sigmas=np.full(5, 2.0)), x)  # the identity at start
    with pytest.raises(ValueError, match="sigmas must be 5 finite numbers"):
        metrics.predict(model, x, sigmas=[1.0, 2.0])
    with pytest.raises(ValueError, match="sigmas must be 5 finite numbers"):
        metrics.predict(model, x, sigmas=[1.0, 2.0, np.nan, 1.0, 1.0])


def test_sigma_input_serves_the_same_draws_as_a_blind_batch_plus_their_sigmas():
    clean = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    common = dict(batch_size=16, seed=7, epochs=2, flips=True)
    blind = FreshCorruption(clean, **common)
    told = FreshCorruption(clean, sigma_input=True, **common)
    for epoch, step in ((0, 0), (1, 2)):
        (x_blind, y_blind), (inputs, y_told) = blind.batch(epoch, step), told.batch(epoch, step)
        np.testing.assert_array_equal(inputs["corrupted"], x_blind)
        np.testing.assert_array_equal(y_told, y_blind)
        # The sigmas are the batch's own draws: flips first, then one sigma per image.
        rng = np.random.default_rng([7, epoch, step, 1])
        rng.random((2, len(y_blind)))
        expected = rng.uniform(1.0, 4.0, size=len(y_blind)).astype(np.float32)[:, None]
        np.testing.assert_array_equal(inputs["sigma"], expected)
        assert inputs["sigma"].shape == (len(y_blind), 1)


@pytest.mark.parametrize("kwargs, message", [
    ({"corruption": "fixed"}, "needs corruption='fresh'"),
    ({"corruption": "device"}, "needs corruption='fresh'"),
])
def test_sigma_input_needs_fresh_corruption(tmp_path, kwargs, message):
    model = nonblind.deblurnet_nonblind("plane", seed=0)
    with pytest.raises(ValueError, match=message):
        Recipe("deblurnet_plane", length=Steps(1), sigma_input=True, **kwargs)


def test_a_model_and_sigma_input_must_agree(tmp_path):
    images = np.zeros((8, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="inputs named 'corrupted' and 'sigma'"):
        training.train(models.deblurnet(), images, Recipe("deblurnet", length=Steps(1), corruption="fresh", sigma_input=True), run_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="recipe of sigma_input=True"):
        training.train(nonblind.deblurnet_nonblind("film"), images, Recipe("deblurnet_nonblind", length=Steps(1), corruption="fresh"), run_dir=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


class _StopAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


def test_nonblind_training_learns_and_resumes_with_its_custom_layer(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (96, 16, 16, 3), dtype=np.uint8)
    recipe = Recipe("deblurnet_plane", batch_size=16, corruption="fresh", flips=True, sigma_input=True,
                    learning_rate=3e-3, validation_split=0.25, seed=3, length=Steps(24))
    with pytest.raises(KeyboardInterrupt):  # stopped after its first epoch (5 of 24 steps)
        training.train(nonblind.deblurnet_nonblind("plane", seed=0), images, recipe, run_dir=tmp_path / "run",
                       callbacks=[_StopAfterFirstEpoch()], verbose=0)
    assert training.load_run(tmp_path / "run").steps == 5  # 72 training images: 5 batches of 16
    resumed = training.train(nonblind.deblurnet_nonblind("plane", seed=0), images, recipe, run_dir=tmp_path / "run",
                             verbose=0)
    assert resumed.steps == 24
    val = resumed.history["val_loss"]
    assert val[-1] < val[0]
    assert training.load_run(tmp_path / "run").model.name == "deblurnet_plane"


def test_recipe_carries_sigma_input_only_when_set():
    blind = nonblind.variant_recipe("blind")
    told = nonblind.variant_recipe("plane", steps=100)
    assert blind.length.steps == study.SHIPPED_DEBLURNET["steps"] and blind.as_dict()["sigma_input"] is False
    assert told.as_dict()["sigma_input"] is True
    assert told.length.steps == 100 and told.corruption == "fresh"


def _row(mse, diff=None):
    row = {"mse": mse, "mse_ci": [mse * 0.99, mse * 1.01], "mean_psnr": 27.0, "mean_psnr_ci": [26.9, 27.1],
           "psnr_of_mean_mse": 26.5, "parameters": 313_667}
    if diff is not None:
        row.update(mse_minus_blind=diff, mse_minus_blind_ci=[diff * 1.5, diff * 0.5])
    return row


def test_the_table_renders_the_ablation_and_then_the_twins():
    machine = {"processor": "AMD EPYC", "cpu_count": 2, "keras": "3.15.1", "backend": "tensorflow"}
    ablation = {"rows": {"blind": _row(0.0030), "plane": _row(0.0027, -0.0003)}, "steps": 1000,
                "n_images": 1000, "command": "python experiments/nonblind.py ablation", "machine": machine,
                "date": "2026-11-26"}
    text = reports.render_nonblind_table({"records": {"ablation": ablation}})
    assert "| plane | 0.00270 [0.00267, 0.00273] |" in text and "-0.000300 [-0.000450, -0.000150]" in text
    assert "not scored yet" in text
    twins = {"rows": {"DeblurNet, blind": _row(0.0021), "DeblurNet-plane, true sigma": _row(0.0019, -0.0002)},
             "estimator_mae_by_bin": {"spectral": {"[1.00, 1.50)": {"mae": 0.37, "n_images": 10}},
                                      "network": {"[1.00, 1.50)": {"mae": 0.25, "n_images": 10}}},
             "verdict": {"best_estimator": "network", "ships": False, "rule": "the rule"},
             "training": {"blind": {"steps": 19_823, "images_seen": 634_336, "parameters": 313_667},
                          "film": {"steps": 19_823, "images_seen": 634_336, "parameters": 330_627}},
             "n_images": 10000, "command": "python experiments/nonblind.py evaluate", "machine": machine,
             "date": "2026-11-27"}
    text = reports.render_nonblind_table({"records": {"ablation": ablation, "twins": twins}})
    assert "| DeblurNet-plane, true sigma | 0.00190" in text
    assert "| spectral | 0.370 |" in text and "| network | 0.250 |" in text
    assert "(network estimator) does not beat the blind twin, so neither ships" in text
    assert "not scored yet" not in text and "figures/nonblind.png" in text
    assert ("blind 19,823 steps (634,336 images, 313,667 parameters) and film 19,823 steps "
            "(634,336 images, 330,627 parameters)") in text


def test_nonblind_recipe_replays_a_blind_budget_as_its_recorded_steps():
    quick = study.get_profile("quick").recipe_for("deblurnet")
    assert quick.length.budget_seconds == study.QUICK_TRAIN_SECONDS["deblurnet"]
    told = study.nonblind_recipe(quick, replay={"budget_seconds": 60.0, "steps": 140, "hold_steps": 12})
    assert told.length == study.Steps(140, 12)
    assert told.sigma_input
    assert (told.learning_rate, told.lr_schedule, told.flips, told.model) == (
        quick.learning_rate, quick.lr_schedule, quick.flips, quick.model)
    tiny = study.get_profile("tiny").recipe_for("deblurnet")
    assert study.nonblind_recipe(tiny, replay={}).length == tiny.length  # an epoch count needs no replay
    with pytest.raises(ValueError, match="needs corruption='fresh'"):
        study.nonblind_recipe(study.recipe("study", "cae"))


def test_the_pipeline_ships_only_when_its_whole_interval_beats_the_blind_twin():
    def rows(spectral_ci, network_ci):
        return {"DeblurNet-film, spectral-estimated sigma": {"mse": 0.0024, "mse_minus_blind_ci": spectral_ci},
                "DeblurNet-film, network-estimated sigma": {"mse": 0.0022, "mse_minus_blind_ci": network_ci}}

    estimators = ("spectral", "network")
    worse = nonblind.verdict(rows([1e-4, 2e-4], [-1e-5, 3e-5]), estimators, variant="film")
    assert worse["best_estimator"] == "network" and not worse["ships"]  # its interval straddles zero
    better = nonblind.verdict(rows([1e-4, 2e-4], [-5e-5, -1e-5]), estimators, variant="film")
    assert better["best_estimator"] == "network" and better["ships"] and better["pipeline_beats_blind"]


def test_evaluate_without_the_estimator_network_names_the_command_that_trains_it(tmp_path):
    with pytest.raises(SystemExit, match=r"experiments/blur_estimator\.py --data PATH"):
        nonblind.estimated_sigmas(np.zeros((4, 8, 8, 3), np.uint8), np.zeros((2, 8, 8, 3), np.float32),
                                  network_file=tmp_path / "missing.keras")
