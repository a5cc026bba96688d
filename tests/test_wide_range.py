"""Corruption with a per-image noise level, and training on another sigma range (the wide-range model's recipe)."""

import json
from dataclasses import replace

import numpy as np
import pytest

from deblur import corruption, files, models, study, training
from deblur.training.pipeline import FreshCorruption
from deblur.degradations import Study
from deblur.recipe import Recipe, Steps
from deblur.training import RunMismatchError
from tools import records

FLAT = np.full((400, 32, 32, 3), 128, dtype=np.uint8)  # blur leaves it unchanged: what is left is noise


def _residual_std(corrupted):
    return (corrupted - 128 / 255).std(axis=(1, 2, 3))


def test_a_number_keeps_the_studys_stream_and_a_range_draws_one_level_per_image_after_the_sigmas():
    x = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    a, sa = corruption.corrupt(x, seed=3)
    b, sb = corruption.corrupt(x, seed=3, noise_std=0.02)
    np.testing.assert_array_equal(a, b)
    _, sc = corruption.corrupt(x, seed=3, noise_std=(0.0, 0.05))
    np.testing.assert_array_equal(sa, sc)  # the sigmas come first, unchanged

    noisy, sigmas = corruption.corrupt(FLAT, seed=7, noise_std=(0.01, 0.05))
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(rng.uniform(1.0, 4.0, len(FLAT)), sigmas)
    levels = rng.uniform(0.01, 0.05, len(FLAT))
    np.testing.assert_allclose(_residual_std(noisy), levels, rtol=0.05)
    assert levels.min() < 0.015 and levels.max() > 0.045


def test_fresh_batches_draw_the_noise_level_per_image_too():
    data = FreshCorruption(FLAT, batch_size=200, seed=2, epochs=1, noise_std=(0.0, 0.05), shuffle=False)
    corrupted, _ = data.batch(0, 0)
    rng = np.random.default_rng([2, 0, 0, 1])
    rng.uniform(1.0, 4.0, 200)
    np.testing.assert_allclose(_residual_std(corrupted), rng.uniform(0.0, 0.05, 200), rtol=0.05, atol=1e-3)


@pytest.mark.parametrize("noise_std", [(0.05, 0.01), (-0.01, 0.02), (0.01,), (0.0, np.inf), -1.0, np.nan, "0.02"])
def test_bad_noise_settings_name_the_problem(noise_std):
    with pytest.raises(ValueError, match="noise_std"):
        corruption.corrupt(FLAT[:2], seed=0, noise_std=noise_std)


def test_training_records_its_corruption_and_resumes_only_with_the_same(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (48, 8, 8, 3), dtype=np.uint8)
    wide = dict(degradation=Study(sigma_range=(0.5, 6.0), noise_std=(0.0, 0.05)))
    settings = dict(length=Steps(2), batch_size=16, corruption="fresh", flips=True)
    training.train(models.deblurnet(seed=0), images, Recipe("deblurnet", **settings, **wide), run_dir=tmp_path / "run",
                   verbose=0)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["degradation"]["sigma_range"] == [0.5, 6.0] and config["degradation"]["noise_std"] == [0.0, 0.05]
    with pytest.raises(RunMismatchError, match="noise_std"):
        training.train(models.deblurnet(seed=0), images,
                       Recipe("deblurnet", **settings, degradation=Study(sigma_range=(0.5, 6.0))),
                       run_dir=tmp_path / "run")
    with pytest.raises(ValueError, match="corruption='device' takes one number"):
        Recipe("deblurnet", **{**settings, "corruption": "device"}, **wide)


def test_recipes_hold_their_corruption_as_numbers_that_compare_equal():
    shipped = study.recipe("ours", "deblurnet")
    assert shipped.as_dict()["degradation"] == {"kind": "study", "kernel_size": 5, "sigma_range": [1.0, 4.0],
                                                "noise_std": 0.02, "sharp_fraction": 0.0, "zoom_fraction": 0.0,
                                                "zoom_range": [1.0, 2.0]}
    wide = study.recipe("ours", "deblurnet", degradation=Study(sigma_range=[0.5, 6], noise_std=[0, 0.05]))
    assert wide.degradation.sigma_range == (0.5, 6.0) and wide.degradation.noise_std == (0.0, 0.05)
    assert wide.as_dict()["degradation"]["noise_std"] == [0.0, 0.05]
    assert study.recipe("ours", "deblurnet", degradation=Study(sigma_range=[1, 4])) == shipped
    assert Recipe.from_dict(wide.as_dict()) == wide


def _load_wide_range():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "wide_range.py"
    spec = importlib.util.spec_from_file_location("wide_range", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wide_range = _load_wide_range()


def test_the_wide_recipe_is_the_shipped_deblurnets_with_the_wide_corruption():
    wide, shipped = wide_range.wide_recipe(), study.get_profile("full").recipe_for("deblurnet")
    assert wide.length == shipped.length == Steps(19_823) and wide.validation_split == shipped.validation_split
    assert (wide.degradation.sigma_range, wide.degradation.noise_std) == ((0.5, 6.0), (0.0, 0.05))
    assert replace(wide, degradation=shipped.degradation) == shipped
    assert replace(wide.degradation, sigma_range=(1.0, 4.0), noise_std=0.02) == shipped.degradation


def _sweep_row(method, sigma, noise, mse):
    return {"method": method, "sigma": sigma, "noise_std": noise, "mse": mse}


def test_the_verdict_needs_both_the_inside_ratio_and_a_win_at_every_outside_setting():
    wide = "deblurnet (wide range)"
    rows = []
    for sigma, noise, wide_mse in ((0.5, 0.0, 0.001), (2.0, 0.02, 0.0030), (2.0, 0.05, 0.004), (6.0, 0.0, 0.009)):
        rows += [_sweep_row(wide, sigma, noise, wide_mse), _sweep_row("cae", sigma, noise, 0.008),
                 _sweep_row("deblurnet", sigma, noise, 0.005)]
    inside = {wide: {"mse": 0.00216}, "deblurnet": {"mse": 0.00211}}
    v = wide_range.verdict(inside, rows, shipped=["cae", "deblurnet"])
    assert v["inside_ratio"] == pytest.approx(0.00216 / 0.00211) and v["inside_ok"]
    assert v["outside_settings"] == 3 and v["outside_wins"] == 2  # (2.0, 0.02) is inside the range
    assert v["outside_losses"] == [{"sigma": 6.0, "noise_std": 0.0, "wide_mse": 0.009, "best_shipped": "deblurnet",
                                    "best_shipped_mse": 0.005}]
    assert not v["qualifies"]
    inside[wide]["mse"] = 0.0022  # 4 % worse inside
    rows = [r for r in rows if r["sigma"] != 6.0]
    v = wide_range.verdict(inside, rows, shipped=["cae", "deblurnet"])
    assert v["outside_ok"] and not v["inside_ok"] and not v["qualifies"]


def test_wide_training_runs_with_its_corruption(tmp_path):
    from dataclasses import replace

    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    run = wide_range.train(images, run_dir=tmp_path / "run", recipe=replace(wide_range.wide_recipe(), length=Steps(2)),
                           verbose=0)
    assert run.steps == 2 and run.model.name == "deblurnet_wide"
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["degradation"]["sigma_range"] == [0.5, 6.0] and config["degradation"]["noise_std"] == [0.0, 0.05]


def test_export_ships_only_a_qualifying_model_under_its_own_name(tmp_path):
    from dataclasses import replace

    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    wide_range.train(images, run_dir=tmp_path / "run", recipe=replace(wide_range.wide_recipe(), length=Steps(2)), verbose=0)
    verdict = {"qualifies": False, "inside_ratio": 1.05, "outside_losses": [{}]}
    inside = {wide_range.WIDE: {"mse": 0.0022}, "identity": {"mse": 0.0066}}
    report = tmp_path / "wide_range.json"
    records.write_report(report, about="a", records={"wide_range": {"verdict": verdict, "inside": inside}}, command="c")
    argv = ["export", "--out", str(report), "--run-dir", str(tmp_path / "run"), "--weights-dir", str(tmp_path / "w")]
    with pytest.raises(files.OutputConflictError):  # the card would overwrite the record it reads
        wide_range.main([*argv[:1], "--out", str(tmp_path / "w" / "deblurnet_wide.json"), *argv[3:]])
    with pytest.raises(SystemExit, match="does not qualify .*inside ratio 1.050.* 1 outside settings lost"):
        wide_range.main(argv)
    assert not (tmp_path / "w").exists()
    records.write_report(report, about="a", records={"wide_range": {"verdict": {**verdict, "qualifies": True},
                                                                    "inside": inside}}, command="c")
    assert wide_range.main(argv) == 0
    card = json.loads((tmp_path / "w" / "deblurnet_wide.json").read_text())
    assert card["name"] == "deblurnet_wide" and card["architecture"] == "deblurnet"
    assert card["data"]["corruption"].startswith("5x5 Gaussian blur, sigma ~ U[0.5, 6)")
    assert card["test_metrics"] == {"mse": 0.0022} and card["training"]["command"] == "python experiments/wide_range.py train"
    assert (tmp_path / "w" / "deblurnet_wide.weights.h5").is_file()


def test_wide_recipe_replays_a_budgeted_run_as_its_step_count():
    quick = study.get_profile("quick").recipe_for("deblurnet")
    assert isinstance(quick.length, study.Budget)
    wide = study.wide_recipe(quick, replay={"steps": 123, "hold_steps": 4, "budget_seconds": quick.length.budget_seconds})
    assert wide.length == Steps(123, 4)
    assert (wide.degradation.sigma_range, wide.degradation.noise_std) == (study.WIDE_SIGMA_RANGE,
                                                                          study.WIDE_NOISE_RANGE)
    assert study.wide_recipe(quick) == replace(quick, degradation=Study(sigma_range=(0.5, 6.0),
                                                                        noise_std=(0.0, 0.05)))
    with pytest.raises(ValueError, match="corruption='fresh'"):
        study.wide_recipe(study.get_profile("full").recipe_for("cae"))
