import json
import math
import shutil

import keras
import numpy as np
import pytest

from deblur import models, training
from deblur.degradations import Study
from deblur.recipe import Budget, Epochs, Recipe, Steps
from deblur.training import pipeline

from conftest import CAE_RECIPE, cae16, smooth_images, trained_once


def small_deblurnet(seed=0):
    """A narrow DeblurNet (same layers and code path, fewer channels): for step counting, not learning."""
    return models.deblurnet(seed=seed, width=16, blocks=1, head=8)


class StopAfter(keras.callbacks.Callback):
    """Simulates an interruption (Ctrl-C) at the end of an epoch."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def test_win5rb_schedule_matches_study_multiplicative_form():
    lr, expected = 1e-3, []
    for epoch in range(20):
        lr = lr if epoch < 5 else lr * math.exp(-0.5)
        expected.append(lr)
    got = [training.win5rb_lr_schedule(e, 1e-3) for e in range(20)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert training.constant_lr_schedule(7, 1e-3) == 1e-3


def test_split_is_disjoint_covering_and_seeded():
    tr, va = training.split_train_val(100, val_fraction=0.1, seed=3)
    assert len(va) == 10 and len(tr) == 90
    assert np.array_equal(np.sort(np.concatenate([tr, va])), np.arange(100))
    tr2, va2 = training.split_train_val(100, val_fraction=0.1, seed=3)
    assert np.array_equal(va, va2)
    assert not np.array_equal(va, training.split_train_val(100, val_fraction=0.1, seed=4)[1])
    with pytest.raises(ValueError, match="val_fraction"):
        training.split_train_val(10, val_fraction=1.0)


def test_image_pairs_order_depends_only_on_seed_and_epoch():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    full = pipeline.ImagePairs(x, x, batch_size=4, seed=1, epochs=3)
    assert len(full) == 3 * 3 and full.batches_per_epoch == 3
    for epoch in range(3):
        seen = np.concatenate([full[epoch * 3 + b][0].ravel() for b in range(3)])
        assert np.array_equal(np.sort(seen), np.arange(10))  # each image once per epoch
    resumed = pipeline.ImagePairs(x, x, batch_size=4, seed=1, epochs=3, start_epoch=2)
    assert len(resumed) == 3
    for b in range(3):
        assert np.array_equal(resumed[b][0], full[6 + b][0])
    assert not np.array_equal(full[0][0], full[3][0])  # reshuffled between epochs


@pytest.fixture(scope="session")
def cae_history(cae_run_dir):
    """The history of the session's finished :data:`conftest.CAE_RECIPE` run (the resume test trains it again)."""
    return training.load_history(cae_run_dir)


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A finished one-epoch run folder of :func:`small_deblurnet` on 16 images (copy it before changing it)."""
    return trained_once(tmp_path_factory, "small", lambda run_dir: training.train(
        small_deblurnet(0), smooth_images(16, seed=3), Recipe("deblurnet", length=Epochs(1), batch_size=8), run_dir=run_dir,
        verbose=0))


def test_loss_goes_down_on_a_small_batch(cae_history):
    history = cae_history
    loss = history["loss"]
    assert len(loss) == 6
    assert loss[-1] < 0.7 * loss[0]
    assert history["val_loss"][-1] < history["val_loss"][0]


def test_run_folder_contents_and_load_run(tmp_path):
    x = smooth_images(24, seed=1)
    run_dir = tmp_path / "run"
    run = training.train(models.win5rb(seed=0), x, Recipe("win5rb", length=Epochs(2), batch_size=8, lr_schedule="win5rb"), run_dir=run_dir, verbose=0)
    names = sorted(p.name for p in run_dir.iterdir())
    assert names == [".lock", "checkpoint-epoch002.keras", "config.json", "history.json", "model.keras"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config == Recipe("win5rb", length=Epochs(2), batch_size=8, lr_schedule="win5rb").as_dict()  # the recipe, as it is
    assert Recipe.from_dict(config) == Recipe("win5rb", length=Epochs(2), batch_size=8, lr_schedule="win5rb")
    data = json.loads((run_dir / "history.json").read_text())["data"]
    assert data["n_val"] == 2 and data["n_train"] == 22 and data["image_shape"] == [16, 16, 3]
    loaded = training.load_run(run_dir)
    assert loaded.history == run.history == training.load_history(run_dir)
    probe = np.random.default_rng(0).random((1, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(loaded.model.predict(probe, verbose=0), run.model.predict(probe, verbose=0),
                               atol=1e-6)


def test_interrupted_run_resumes_and_keeps_what_was_saved(tmp_path, cae_history):
    x, recipe = smooth_images(64), CAE_RECIPE  # the session's CAE run (cae_history), here interrupted and resumed
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        training.train(cae16(0), x, recipe, run_dir=run_dir, callbacks=[StopAfter(1)], verbose=0)
    saved_history = json.loads((run_dir / "history.json").read_text())
    saved_config = (run_dir / "config.json").read_bytes()
    assert len(saved_history["epochs"]) == 2
    assert (run_dir / "checkpoint-epoch002.keras").exists()
    assert not (run_dir / "model.keras").exists()

    # Resume: the model argument is ignored, the checkpoint is used.
    resumed = training.train(cae16(99), x, recipe, run_dir=run_dir, verbose=0)
    history = json.loads((run_dir / "history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [1, 2, 3, 4, 5, 6]
    assert history["epochs"][:2] == saved_history["epochs"]  # nothing saved before is lost
    assert (run_dir / "config.json").read_bytes() == saved_config
    assert (run_dir / "model.keras").exists()
    # Same batches, same optimizer state: the resumed run matches an uninterrupted one.
    np.testing.assert_allclose(resumed.history["loss"], cae_history["loss"], rtol=1e-3)
    assert not list(run_dir.glob("*.tmp*")) and sorted(p.name for p in run_dir.glob(".*")) == [training.LOCK_FILE]

    # Another length is another recipe: refused, so config.json stays the recipe that made the run.
    with pytest.raises(training.RunMismatchError, match="length.epochs: saved 6 vs now 5"):
        training.train(cae16(0), x, Recipe("cae", length=Epochs(5), batch_size=16, validation_split=0.25, seed=0),
                       run_dir=run_dir, verbose=0)


def test_existing_run_is_never_overwritten(tmp_path, small_run):
    x = smooth_images(16, seed=3)
    run_dir = shutil.copytree(small_run, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    with pytest.raises(training.RunMismatchError, match="batch_size"):
        training.train(small_deblurnet(0), x, Recipe("deblurnet", length=Epochs(2), batch_size=4), run_dir=run_dir, verbose=0)
    with pytest.raises(training.RunMismatchError, match="data sha256"):
        training.train(small_deblurnet(0), smooth_images(16, seed=4), Recipe("deblurnet", length=Epochs(2), batch_size=8), run_dir=run_dir, verbose=0)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"workers": 0}, ValueError, "workers"),
        ({"x_corrupted": np.zeros((4, 32, 32, 3), np.float32)}, ValueError, "same shape"),
        ({"x_corrupted": np.full((8, 32, 32, 3), np.inf, np.float32)}, ValueError, "NaN or infinite"),
    ],
)
def test_bad_arguments_raise_before_anything_is_written(tmp_path, kwargs, error, match):
    x = smooth_images(8, size=32)
    with pytest.raises(error, match=match):
        training.train(models.cae(), x, Recipe("cae"), run_dir=tmp_path / "run", verbose=0, **kwargs)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"length": {"epochs": 0}}, "epochs"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"lr_schedule": "exponential"}, "Unknown lr_schedule"),
        ({"corruption": "sometimes"}, "corruption must be"),
        ({"validation_split": 1.5}, "validation_split"),
        ({"flips": True}, "flips=True needs"),
        ({"length": {"epochs": 2, "steps": 3}}, "A length is"),
        ({"length": {"steps": 3, "hold_steps": 3}}, "hold_steps"),
        ({"length": {"budget_seconds": -1.0}}, "budget_seconds"),
        ({"length": "20 epochs"}, "length must be"),
        ({"corruption": "device", "degradation": Study(noise_std=(0.0, 0.05))}, "range"),
    ],
)
def test_a_bad_recipe_is_refused_when_it_is_made(fields, match):
    with pytest.raises(ValueError, match=match):
        Recipe("cae", **fields)


def test_a_recipe_round_trips_through_its_dict():
    recipe = Recipe("deblurnet", corruption="fresh", flips=True, degradation=Study(noise_std=(0.0, 0.05)), length=Steps(9), seed=3)
    assert Recipe.from_dict(json.loads(json.dumps(recipe.as_dict()))) == recipe
    with pytest.raises(ValueError, match="Unknown recipe field"):
        Recipe.from_dict({**recipe.as_dict(), "n_train": 3})


def test_bad_images_and_model(tmp_path):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        training.train(models.cae(), np.full((4, 32, 32, 3), 255.0), Recipe("cae"), run_dir=tmp_path / "r", verbose=0)
    with pytest.raises(TypeError, match="Recipe"):
        training.train(models.cae(), smooth_images(4, size=32), {"model": "cae"}, run_dir=tmp_path / "r")
    with pytest.raises(TypeError, match="keras.Model"):
        training.train("cae", smooth_images(4, size=32), Recipe("cae"), run_dir=tmp_path / "r", verbose=0)
    with pytest.raises(FileNotFoundError, match="history.json"):
        training.load_history(tmp_path)


def test_step_budget_learning_rate_holds_then_decays_to_zero():
    budget = training.StepBudget(1e-3, cosine=True, doc={}, steps=100, hold_steps=20)
    assert budget.learning_rate(0) == budget.learning_rate(19) == 1e-3
    assert budget.learning_rate(20) == pytest.approx(1e-3)
    assert budget.learning_rate(60) == pytest.approx(0.5e-3)
    assert budget.learning_rate(100) == pytest.approx(0.0, abs=1e-12)
    rates = [budget.learning_rate(k) for k in range(20, 101)]
    assert all(a >= b for a, b in zip(rates, rates[1:]))


def test_a_step_count_stops_mid_epoch_and_resumes_nothing(tmp_path):
    x = smooth_images(40)  # 36 training images: 3 batches of 16 per epoch
    run = training.train(small_deblurnet(0), x, Recipe("deblurnet", length=Steps(7), batch_size=16, lr_schedule="cosine", seed=0), run_dir=tmp_path / "run", verbose=0)
    assert run.finished and run.steps == 7 and len(run.history["loss"]) == 3
    assert run.length == {"budget_seconds": None, "steps": 7, "hold_steps": 0}
    again = training.train(small_deblurnet(0), x, Recipe("deblurnet", length=Steps(7), batch_size=16, lr_schedule="cosine", seed=0), run_dir=tmp_path / "run", verbose=0)
    assert again.steps == 7 and again.history == run.history  # complete: nothing more trained
    assert training.load_run(tmp_path / "run").steps == 7


def test_a_time_budget_records_its_steps_and_replays_exactly_on_any_machine(tmp_path):
    # The full DeblurNet on 32x32: a real time budget fixes fewer steps (and epochs, each with a
    # checkpoint) the slower a step is, so a smaller model would make this test longer, not shorter.
    x = smooth_images(40, size=32)
    budget = training.train(models.deblurnet(seed=0), x, Recipe("deblurnet", length=Budget(4.0), batch_size=8, lr_schedule="cosine", corruption="fresh", flips=True, seed=0), run_dir=tmp_path / "budget", verbose=0)
    length = json.loads((tmp_path / "budget" / "history.json").read_text())["length"]
    assert budget.finished and length["budget_seconds"] == 4.0
    assert length["steps"] == budget.steps > length["hold_steps"] >= training.StepBudget.WARMUP_STEPS + 5
    replay = training.train(models.deblurnet(seed=0), x, Recipe("deblurnet", length=Steps(length["steps"], length["hold_steps"]), batch_size=8, lr_schedule="cosine", corruption="fresh", flips=True, seed=0), run_dir=tmp_path / "replay", verbose=0)
    assert replay.history["loss"] == budget.history["loss"]
    for a, b in zip(budget.model.get_weights(), replay.model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_image_pairs_and_fresh_corruption_share_one_epoch_indexing():
    x = smooth_images(10)
    pairs = pipeline.ImagePairs(x.astype(np.float32), x, batch_size=4, seed=3, epochs=2)
    fresh = pipeline.FreshCorruption(x, batch_size=4, seed=3, epochs=2)
    assert isinstance(pairs, pipeline.EpochBatches) and isinstance(fresh, pipeline.EpochBatches)
    for epoch in range(2):
        for step in range(3):
            np.testing.assert_array_equal(pairs.indices(epoch, step), fresh.indices(epoch, step))
            np.testing.assert_array_equal(pairs[epoch * 3 + step][1], x[pairs.indices(epoch, step)])


def test_a_step_count_resumed_after_a_mid_epoch_stop_still_reaches_its_steps(tmp_path):
    x = smooth_images(40)  # 36 training images: 3 batches of 16 per epoch
    recipe = Recipe("deblurnet", batch_size=16, length=Steps(8))
    with pytest.raises(KeyboardInterrupt):  # stopped after its first epoch: 3 of 8 steps
        training.train(small_deblurnet(0), x, recipe, run_dir=tmp_path / "run", callbacks=[StopAfter(0)], verbose=0)
    run = training.train(small_deblurnet(0), x, recipe, run_dir=tmp_path / "run", verbose=0)
    assert run.finished and run.steps == 8
    with pytest.raises(training.RunMismatchError, match="steps: saved 8 vs now 9"):
        training.train(small_deblurnet(0), x, Recipe("deblurnet", batch_size=16, length=Steps(9)), run_dir=tmp_path / "run")


def test_a_budget_resumed_before_it_fixed_its_steps_keeps_the_time_it_spent(tmp_path, monkeypatch):
    ticks = iter(np.arange(0.0, 1e5, 0.5))  # a fake clock: every training step takes 0.5 s

    monkeypatch.setattr(training.StepBudget, "clock", staticmethod(lambda: float(next(ticks))))
    x = smooth_images(40)
    recipe = Recipe("deblurnet", length=Budget(20.0), batch_size=16, lr_schedule="cosine", seed=0)
    kwargs = dict(run_dir=tmp_path / "run", verbose=0)
    with pytest.raises(KeyboardInterrupt):  # after 3 steps (1.5 s): before the step count is fixed
        training.train(small_deblurnet(0), x, recipe, callbacks=[StopAfter(0)], **kwargs)
    doc = json.loads((tmp_path / "run" / "history.json").read_text())
    assert doc["budget_used_seconds"] == 1.5 and "length" not in doc
    run = training.train(small_deblurnet(0), x, recipe, **kwargs)
    # 20 s at 0.5 s a step is 40 steps in all, not 40 more than the first session's 3.
    assert run.finished and run.steps == run.length["steps"] == 40 and run.length["hold_steps"] == 11


def test_a_tampered_history_cannot_point_outside_the_run_folder(tmp_path, small_run):
    x = smooth_images(16, seed=3)
    run_dir = shutil.copytree(small_run, tmp_path / "run")
    victim = tmp_path / "important.keras"
    victim.write_bytes(b"precious")
    history = json.loads((run_dir / "history.json").read_text())
    history["checkpoint"] = "../important.keras"
    (run_dir / "history.json").write_text(json.dumps(history))
    with pytest.raises(training.RunMismatchError, match="not a checkpoint file of this run folder"):
        training.train(small_deblurnet(0), x, Recipe("deblurnet", length=Epochs(1), batch_size=8), run_dir=run_dir, verbose=0)
    (run_dir / "model.keras").unlink()  # so that load_run must read the checkpoint history.json names
    with pytest.raises(training.RunMismatchError, match="not a checkpoint file of this run folder"):
        training.load_run(run_dir)
    assert victim.read_bytes() == b"precious"


def test_a_second_run_on_a_live_run_folder_is_refused_and_names_the_holder(tmp_path):
    run_dir = tmp_path / "run"
    with training.run_lock(run_dir):
        with pytest.raises(training.RunLockedError, match=r"in use by another training run \(pid \d+"):
            training.train(small_deblurnet(0), smooth_images(16), Recipe("deblurnet", length=Epochs(1), batch_size=8), run_dir=run_dir, verbose=0)
        # Nothing else written: the lock (filelock) and the holder's name beside it.
        assert sorted(p.name for p in run_dir.iterdir()) == [training.LOCK_FILE, ".lock.holder"]
    assert not (run_dir / ".lock.holder").exists()  # released; the empty lock file stays and blocks nobody
    run = training.train(small_deblurnet(0), smooth_images(16), Recipe("deblurnet", length=Epochs(1), batch_size=8), run_dir=run_dir, verbose=0)
    assert run.finished
