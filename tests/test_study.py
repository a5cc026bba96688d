"""The study's protocol (deblur.study): seeds, recipes, profiles, and one home for each."""

import ast
import dataclasses
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from deblur import data, machine, study

ROOT = Path(__file__).resolve().parents[1]


def test_seeds_are_one_record_derived_from_one_base():
    s = study.Seeds(0)
    assert (s.train_subset, s.init, s.training, s.test_subset, s.train_corruption, s.test_corruption) == (
        0, 0, 0, 1, 10, 20)
    assert s.validation_corruption == [0, 1]
    assert study.Seeds(5).test_corruption == 25 and study.Seeds(5).as_dict()["base"] == 5
    seeds = study.Seeds(5)
    streams = [seeds.train_subset, seeds.test_subset, seeds.train_corruption, seeds.test_corruption,
               seeds.bootstrap, seeds.sweep_corruption]
    assert len(set(streams[1:])) == len(streams) - 1  # no two streams share a seed (but the base's own)
    assert study.get_profile("quick").seeds == study.Seeds(0)


def _python_sources():
    for folder in ("deblur", "experiments", "bench", "svg", "tools"):
        yield from (ROOT / folder).rglob("*.py")


def test_no_seed_offset_is_typed_outside_the_seeds_record():
    # The study's offsets (+1, +10, +20, [seed, 1]) and the baselines' tuning seeds live in study.Seeds only.
    offset = re.compile(r"seed\s*\+\s*\d|\[\s*(?:profile\.)?seed\s*,\s*1\s*\]|seed=(?:1234|4321)\b")
    notebook = (ROOT / "CIFAR_10_Image_Deblurring.ipynb").read_text(encoding="utf-8")
    offenders = [p.name for p in _python_sources() if p.name != "study.py"
                 and offset.search(p.read_text(encoding="utf-8"))]
    assert not offenders and not offset.search(notebook), offenders


def test_model_names_match_the_builders():
    from deblur import models

    assert list(study.MODEL_NAMES) == list(models.MODELS)


def test_recipes_keep_the_study_unchanged_and_ours_separate():
    full = study.get_profile("full")
    assert full.recipe == "study" and not full.reduced and full.n_train is None
    cae, win5rb = full.recipe_for("cae"), full.recipe_for("win5rb")
    assert (cae.length.epochs, cae.lr_schedule, cae.corruption, cae.build) == (20, "constant", "fixed", {})
    assert (win5rb.lr_schedule, win5rb.learning_rate, win5rb.batch_size, win5rb.validation_split) == (
        "win5rb", 1e-3, 32, 0.1)
    # DeblurNet is not in the study: the full profile trains it as shipped, with our recipe.
    deblurnet = full.recipe_for("deblurnet")
    assert deblurnet.corruption == "fresh" and deblurnet.length.steps == 19823 and deblurnet.validation_split == 0.02
    quick = study.get_profile("quick")
    assert quick.recipe_for("win5rb").build == {"identity_init": True, "bn_momentum": 0.9}
    assert quick.recipe_for("cae").build == {"bn_momentum": 0.9}
    for name in study.MODEL_NAMES:
        r = quick.recipe_for(name)
        assert (r.lr_schedule, r.corruption, r.flips) == ("cosine", "fresh", True)
        assert r.length == study.Budget(study.QUICK_TRAIN_SECONDS[name])
        assert r.batch_size == 8  # reports/quick_recipe.json: batches of 32 left the CAE worse than doing nothing
    assert (quick.recipe_for("win5rb").learning_rate, quick.recipe_for("cae").learning_rate) == (3e-3, 1e-3)
    assert "REDUCED RUN" in quick.banner() and "budget" in quick.banner()
    assert "REDUCED" not in full.banner()


def test_a_recipe_is_the_whole_configuration_and_has_one_length():
    r = study.recipe("ours", "deblurnet", steps=50, hold_steps=5)
    assert r.length == study.Steps(50, 5) and str(r.length) == "50 steps"
    assert study.recipe("ours", "deblurnet", budget_seconds=120).length == study.Budget(120)
    assert study.recipe("ours", "deblurnet").length == study.Epochs(20)  # the study's, unless a length is given
    assert study.get_profile("quick", seed=7).recipe_for("cae").seed == 7  # the profile's seed is the recipe's
    assert study.recipe("study", "cae", epochs=3).length == study.Epochs(3)
    import inspect

    from deblur import training

    assert len(inspect.signature(training.train).parameters) <= 8
    with pytest.raises(ValueError, match="one length"):
        study.recipe("study", "cae", epochs=2, steps=3)
    with pytest.raises(ValueError, match="hold_steps must be below steps"):
        study.Steps(5, hold_steps=5)
    with pytest.raises(ValueError, match="length must be"):
        study.Recipe("cae", length=20)
    for length in (study.Epochs(3), study.Steps(7, 2), study.Budget(90.0)):  # the key is the tag: JSON round trip
        assert study.Recipe.from_dict(study.Recipe("cae", length=length).as_dict()).length == length
    with pytest.raises(ValueError, match="No training recipe"):
        study.recipe("ours", "unet")
    with pytest.raises(ValueError, match="Unknown recipe field"):
        study.recipe("ours", "cae", lr=1e-3)


def test_profile_overrides_time_budgets_and_errors():
    p = study.get_profile("quick", n_train=300, lengths={"cae": {"epochs": 1}})
    assert p.n_train == 300 and p.recipe_for("cae").length == study.Epochs(1)
    assert p.recipe_for("win5rb").length.budget_seconds == study.QUICK_TRAIN_SECONDS["win5rb"]
    p = study.get_profile("quick", train_seconds=40)
    assert {p.recipe_for(m).length.budget_seconds for m in study.MODEL_NAMES} == {40.0}
    p = study.get_profile("quick", train_seconds={"cae": 10})
    assert p.recipe_for("cae").length.budget_seconds == 10
    assert p.recipe_for("deblurnet").length.budget_seconds == study.QUICK_TRAIN_SECONDS["deblurnet"]
    changed = study.get_profile("full", lengths={"win5rb": {"epochs": 3}})
    assert changed.reduced and "REDUCED RUN" in changed.banner()
    with pytest.raises(ValueError, match="Unknown profile"):
        study.get_profile("huge")
    with pytest.raises(ValueError, match="n_trian"):
        study.get_profile("quick", n_trian=5)


def test_machine_info_names_backend_and_cpu_type():
    info = machine.machine_info()
    assert info["cpu_count"] >= 1 and info["backend"] in {"tensorflow", "jax", "torch", "numpy"}
    assert info["avx512"] in (True, False, None)


def test_load_profile_data_uses_the_seeds(stand_in_archive):
    profile = study.get_profile("tiny", n_train=40, n_test=16)
    arrays = study.load_profile_data(profile, stand_in_archive)
    assert arrays["x_train"].shape == (40, 32, 32, 3) and arrays["x_test"].dtype == np.uint8
    (_, _), (x_test, y_test) = data.load_cifar10(stand_in_archive)
    expected, _ = data.subset(x_test, y_test, 16, seed=profile.seeds.test_subset)
    assert np.array_equal(arrays["x_test"], expected)
    from deblur import corruption

    again, sigma = corruption.corrupt(expected, seed=profile.seeds.test_corruption)
    assert np.array_equal(arrays["x_test_corrupted"], again) and np.array_equal(arrays["sigma_test"], sigma)


def test_subset_is_seeded_sorted_and_validated():
    x = np.arange(100)[:, None]
    y = np.arange(100)
    xs, ys = data.subset(x, y, 10, seed=1)
    assert len(xs) == 10 and np.array_equal(xs[:, 0], ys) and np.all(np.diff(ys) > 0)
    assert np.array_equal(data.subset(x, y, 10, seed=1)[1], ys)
    assert data.subset(x, y, None)[0] is x and data.subset(x, y, 1000)[0] is x
    with pytest.raises(ValueError, match="positive integer"):
        data.subset(x, y, 0)
    with pytest.raises(ValueError, match="same length"):
        data.subset(x, y[:5], 3)


def test_every_entry_point_trains_through_study():
    # The notebook, the command line and experiments/ call study.train_model, never training.train directly.
    callers = [ROOT / "deblur" / "cli.py", *sorted((ROOT / "experiments").glob("*.py"))]
    for path in callers:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        assert "training.train" not in calls, path.name
    notebook = (ROOT / "CIFAR_10_Image_Deblurring.ipynb").read_text(encoding="utf-8")
    assert "study.train_model(" in notebook and "training.train(" not in notebook


