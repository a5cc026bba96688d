import pytest

from deblur import data, profiles


def test_profiles_and_study_settings():
    quick = profiles.get_profile()
    assert quick.name == "quick" and quick.reduced and "REDUCED RUN" in quick.banner()
    full = profiles.get_profile("full")
    assert not full.reduced and full.n_train is None
    assert full.epochs == {"cae": 20, "win5rb": 20, "deblurnet": 20}
    assert full.batch_size == 32 and full.validation_split == 0.1
    assert "REDUCED" not in full.banner()
    assert profiles.STUDY_TRAINING["win5rb"]["lr_schedule"] == "win5rb"


def test_overrides_and_errors():
    p = profiles.get_profile("quick", n_train=300, epochs={"cae": 1})
    assert p.n_train == 300 and p.epochs == {"cae": 1, "win5rb": 2, "deblurnet": 30}
    changed = profiles.get_profile("full", epochs={"win5rb": 3})
    assert changed.reduced and "REDUCED RUN" in changed.banner()
    with pytest.raises(ValueError, match="Unknown profile"):
        profiles.get_profile("huge")
    with pytest.raises(ValueError, match="n_trian"):
        profiles.get_profile("quick", n_trian=5)


def test_machine_info_names_backend():
    info = profiles.machine_info()
    assert info["cpu_count"] >= 1 and info["backend"] in {"tensorflow", "jax", "torch", "numpy"}


def test_subset_is_seeded_sorted_and_validated():
    import numpy as np

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


def test_recipes_keep_the_study_unchanged_for_the_full_profile():
    full = profiles.get_profile("full")
    assert full.recipe == "study"
    assert full.recipe_for("cae") == ({}, {"lr_schedule": "constant"})
    assert full.recipe_for("win5rb") == ({}, {"lr_schedule": "win5rb"})
    # DeblurNet is not in the study: it always trains with our recipe.
    assert full.recipe_for("deblurnet") == profiles.get_profile("quick").recipe_for("deblurnet")
    quick = profiles.get_profile("quick")
    build, train = quick.recipe_for("win5rb")
    assert build == {"identity_init": True, "bn_momentum": 0.9}
    assert train == {"lr_schedule": "cosine", "corruption": "fresh", "flips": True}
    assert quick.recipe_for("cae")[0] == {"bn_momentum": 0.9}
    assert "recipe 'ours'" in quick.banner()
    with pytest.raises(ValueError, match="No training recipe"):
        quick.recipe_for("unet")
