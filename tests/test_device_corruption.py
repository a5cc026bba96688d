"""The corruption as Keras operations: OpenCV's blur, the study's noise, repeatable draws, training.

The checks run in-process on the test session's backend (TensorFlow) and,
for the blur, the draws and the noise, again on JAX in a subprocess
(a backend is chosen once per process).
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from deblur import corruption, models, training
from deblur.recipe import Epochs, Recipe
from deblur.training import pipeline
from deblur.study import Seeds
from deblur.device_corruption import CorruptionTrainer, DeviceCorruption, blur_ops

cv2 = pytest.importorskip("cv2", reason="OpenCV is the reference for the blur (test-only dependency)")

ROOT = Path(__file__).resolve().parents[1]


# ---- checks shared by both backends: each returns numbers, the tests assert them ----

def blur_deviation_from_opencv(seed=0):
    """Largest |blur_ops - cv2.GaussianBlur| over many sigmas, sizes (square, non-square, tiny) and dtypes."""
    rng = np.random.default_rng(seed)
    worst = 0.0
    for shape in [(32, 32, 3), (17, 23, 3), (9, 40, 1), (3, 5, 3), (64, 48, 3)]:
        for dtype in ("float32", "uint8"):
            x = rng.random((12, *shape), dtype=np.float32)
            if dtype == "uint8":
                x = (x * 255).astype(np.uint8)
            sigmas = np.concatenate([[1.0, 3.999, 0.3, 8.0], rng.uniform(1.0, 4.0, 8)])
            got = keras.ops.convert_to_numpy(blur_ops(x, sigmas))
            xf = x.astype(np.float32) / 255 if dtype == "uint8" else x
            ref = np.stack([cv2.GaussianBlur(im, (5, 5), s).reshape(shape) for im, s in zip(xf, sigmas)])
            assert got.shape == x.shape and got.dtype == np.float32
            worst = max(worst, float(np.abs(got - ref).max()))
    return worst


def noise_and_draws(batch=512, size=8, key=(7, 11)):
    """The layer's draws on one batch: residual noise statistics, sigmas, flips."""
    rng = np.random.default_rng(1)
    images = (rng.random((batch, size, size, 3)) * 255).astype(np.uint8)
    out = DeviceCorruption(flips=True).draw(images, np.array([key] * batch, np.int32))
    out = {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}
    noise = out["corrupted"] - keras.ops.convert_to_numpy(blur_ops(out["clean"], out["sigmas"]))
    flipped = out["flipped"]
    expected = images.astype(np.float32) * np.float32(1 / 255)  # as the layer and corruption.corrupt scale
    expected = np.where(flipped[:, 0, None, None, None], expected[:, :, ::-1], expected)
    expected = np.where(flipped[:, 1, None, None, None], expected[:, ::-1], expected)
    return {
        "noise_mean": float(noise.mean()), "noise_std": float(noise.std()), "n": int(noise.size),
        "sigma_min": float(out["sigmas"].min()), "sigma_max": float(out["sigmas"].max()),
        "sigma_mean": float(out["sigmas"].mean()),
        "flip_fraction": flipped.mean(axis=0).tolist(),
        "clean_is_flipped_input": bool(np.array_equal(out["clean"], expected)),
    }


def repeatability():
    """Same key -> identical output, another key -> another; True/False per case."""
    images = (np.random.default_rng(2).random((16, 32, 32, 3)) * 255).astype(np.uint8)
    layer = DeviceCorruption(flips=True)

    def run(key):
        return keras.ops.convert_to_numpy(layer(images, np.array([key] * 16, np.int32))[0])

    first, again, other = run((3, 4)), run((3, 4)), run((3, 5))
    fresh_layer = keras.ops.convert_to_numpy(
        DeviceCorruption(flips=True)(images, np.array([(3, 4)] * 16, np.int32))[0])
    return {"same_key": bool(np.array_equal(first, again)), "new_layer": bool(np.array_equal(first, fresh_layer)),
            "other_key_differs": bool(not np.allclose(first, other))}


def _assert_checks(blur, stats, repeat):
    assert blur < 1e-5
    se = 0.02 / np.sqrt(stats["n"])
    assert abs(stats["noise_mean"]) < 5 * se
    assert stats["noise_std"] == pytest.approx(0.02, rel=0.01)  # std of the std: 0.02 / sqrt(2n), 0.2 %
    assert 1.0 <= stats["sigma_min"] and stats["sigma_max"] < 4.0
    assert stats["sigma_mean"] == pytest.approx(2.5, abs=0.2)  # 512 draws: standard error 0.04
    assert all(0.4 < f < 0.6 for f in stats["flip_fraction"])
    assert stats["clean_is_flipped_input"]
    assert repeat == {"same_key": True, "new_layer": True, "other_key_differs": True}


def test_blur_noise_and_draws_on_this_backend():
    _assert_checks(blur_deviation_from_opencv(), noise_and_draws(), repeatability())


def test_blur_noise_and_draws_on_jax(tmp_path):
    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    script = tmp_path / "check.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(ROOT / 'tests')!r})
        import keras
        assert keras.backend.backend() == "jax"
        import test_device_corruption as t
        print(json.dumps({{"blur": t.blur_deviation_from_opencv(), "stats": t.noise_and_draws(),
                          "repeat": t.repeatability()}}))
    """))
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    _assert_checks(report["blur"], report["stats"], report["repeat"])


def test_blur_ops_agrees_with_the_numpy_blur_written_once():
    x = np.random.default_rng(3).random((5, 12, 10, 3), dtype=np.float32)
    sigmas = np.linspace(1.0, 3.9, 5)
    got = keras.ops.convert_to_numpy(blur_ops(x, sigmas))
    np.testing.assert_allclose(got, corruption.gaussian_blur(x, sigmas), atol=1e-6)
    # One kernel formula and one separable pass serve both (keras.ops here, numpy in corruption).
    assert "separable_blur" in blur_ops.__code__.co_names and not hasattr(corruption, "blur_ops")


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: blur_ops(np.zeros((1, 2, 8, 3), np.float32), [1.0]), "too small"),
        (lambda: blur_ops(np.zeros((1, 8, 8, 3), np.float32), [1.0], kernel_size=4), "kernel_size"),
        (lambda: blur_ops(np.zeros((8, 8, 3), np.float32), [1.0]), r"\(N, H, W, C\)"),
        (lambda: DeviceCorruption(sigma_range=(-1.0, 1.0)), "sigma_range"),
        (lambda: DeviceCorruption(sharp_fraction=2.0), "sharp_fraction"),
        (lambda: DeviceCorruption(noise_std=-1.0), "noise_std"),
    ],
)
def test_bad_settings_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---- the data set: clean batches, keys from (seed, epoch, step) ----

def _images(n=20, seed=0):
    return (np.random.default_rng(seed).random((n, 8, 8, 3)) * 255).astype(np.uint8)


def test_device_batches_are_clean_uint8_with_keys_from_seed_epoch_and_step():
    x = _images()
    full = pipeline.DeviceBatches(x, batch_size=8, seed=5, epochs=3)
    assert full.batches_per_epoch == 3 and len(full) == 9
    first = full[0]
    assert first["images"].dtype == np.uint8 and first["images"].shape == (8, 8, 8, 3)
    assert first["key"].dtype == np.int32 and first["key"].shape == (8, 2)
    assert (first["key"] == pipeline.batch_key(5, 0, 0)).all()
    np.testing.assert_array_equal(first["images"], x[full.indices(0, 0)])
    keys = {tuple(full[i]["key"][0]) for i in range(len(full))}
    assert len(keys) == 9  # every batch its own draws
    assert not np.array_equal(pipeline.batch_key(5, 0, 0), pipeline.batch_key(6, 0, 0))
    # A resumed data set serves exactly the batches of the uninterrupted one.
    resumed = pipeline.DeviceBatches(x, batch_size=8, seed=5, epochs=3, start_epoch=2)
    for b in range(3):
        for name in ("images", "key"):
            np.testing.assert_array_equal(resumed[b][name], full[6 + b][name])
    # And the corruption of a batch is a function of the batch alone.
    layer = DeviceCorruption(flips=True)
    a = keras.ops.convert_to_numpy(layer(resumed[1]["images"], resumed[1]["key"])[0])
    b = keras.ops.convert_to_numpy(DeviceCorruption(flips=True)(full[7]["images"], full[7]["key"])[0])
    np.testing.assert_array_equal(a, b)


# ---- training ----

def smooth_images(n, seed=0, size=16):
    rng = np.random.default_rng(seed)
    return (np.kron(rng.random((n, 4, 4, 3)), np.ones((1, size // 4, size // 4, 1))) * 255).astype(np.uint8)


class StopAfter(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _tiny():
    return models.deblurnet(seed=0, width=16, blocks=1, head=8)


def test_device_corruption_trains_saves_the_plain_model_and_resumes_exactly(tmp_path):
    x = smooth_images(64)
    recipe = Recipe("deblurnet", length=Epochs(4), batch_size=8, corruption="device", flips=True, validation_split=0.25,
                    learning_rate=3e-3, seed=0)
    reference = training.train(_tiny(), x, recipe, run_dir=tmp_path / "uninterrupted", verbose=0)
    loss = reference.history["loss"]
    val_loss = reference.history["val_loss"]
    _, val_idx = training.split_train_val(len(x), val_fraction=0.25, seed=0)
    val_clean = x[val_idx].astype(np.float32) / 255
    identity = float(np.mean((corruption.corrupt(val_clean, seed=Seeds(0).validation_corruption)[0] - val_clean) ** 2))
    # DeblurNet starts as the identity: learning shows as losses below doing nothing, going down.
    assert loss[-1] < 0.92 * loss[0] and val_loss[-1] < val_loss[0] < identity
    assert val_loss[-1] < 0.9 * identity
    config = json.loads((tmp_path / "uninterrupted" / "config.json").read_text())
    assert config["corruption"] == "device" and config["flips"] is True
    saved = training.load_run(tmp_path / "uninterrupted").model
    assert saved.name == "deblurnet" and saved.count_params() == _tiny().count_params()  # the plain model

    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        training.train(_tiny(), x, recipe, run_dir=run_dir, callbacks=[StopAfter(1)], verbose=0)
    resumed = training.train(models.deblurnet(seed=99, width=16, blocks=1, head=8), x, recipe, run_dir=run_dir,
                             verbose=0)  # ignored: the checkpoint is used
    np.testing.assert_allclose(resumed.history["loss"], loss, rtol=1e-4)
    for a, b in zip(resumed.model.get_weights(), reference.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_device_corruption_validates_like_fresh(tmp_path):
    x = smooth_images(16)
    with pytest.raises(ValueError, match="corruption='device'"):
        training.train(_tiny(), x, Recipe("deblurnet", corruption="device"), x_corrupted=x.astype(np.float32) / 255, run_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="'fixed', 'fresh', 'device'"):
        Recipe("deblurnet", corruption="gpu")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_wrapper_is_the_plain_model_on_float_inputs():
    model = _tiny()
    wrapper = CorruptionTrainer(model, DeviceCorruption())
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(wrapper(x)), keras.ops.convert_to_numpy(model(x)))
    assert wrapper.trainable_variables and len(wrapper.trainable_variables) == len(model.trainable_variables)


def test_the_device_sharp_share_leaves_its_images_unblurred():
    layer = DeviceCorruption(sigma_range=(0.3, 6.0), noise_std=0.0, sharp_fraction=0.5)
    x = smooth_images(64)
    out = layer.draw(x, np.array([3, 4], np.int32))
    sigmas = keras.ops.convert_to_numpy(out["sigmas"])
    sharp = sigmas == 0
    assert 0.2 < sharp.mean() < 0.8
    corrupted, clean = (keras.ops.convert_to_numpy(out[k]) for k in ("corrupted", "clean"))
    np.testing.assert_allclose(corrupted[sharp], clean[sharp], atol=1e-6)
    assert np.abs(corrupted[~sharp] - clean[~sharp]).max() > 1e-3
