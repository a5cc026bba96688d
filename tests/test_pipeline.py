import numpy as np
import pytest

from deblur import corruption, training
from deblur.degradations import Study
from deblur.recipe import Epochs, Recipe
from deblur.training import pipeline


def _images(n=40, size=16, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_batches_are_repeatable_and_fresh_every_epoch():
    x = _images()
    a = pipeline.FreshCorruption(x, batch_size=8, seed=3, epochs=3)
    b = pipeline.FreshCorruption(x, batch_size=8, seed=3, epochs=3, workers=2)
    assert len(a) == 3 * 5
    for index in (0, 4, 7, 14):
        for u, v in zip(a[index], b[index]):
            np.testing.assert_array_equal(u, v)
    # Epoch 1 sees every image once, with a different corruption than epoch 0.
    clean0 = np.concatenate([a.batch(0, s)[1] for s in range(5)])
    clean1 = np.concatenate([a.batch(1, s)[1] for s in range(5)])
    key = lambda c: sorted(map(bytes, (np.round(c * 255).astype(np.uint8)).reshape(len(c), -1)))  # noqa: E731
    assert key(clean0) == key(clean1) == key(x.astype(np.float32) / 255)
    first = {bytes(np.round(c * 255).astype(np.uint8)): n for c, n in zip(*a.batch(0, 0)[::-1])}
    for step in range(5):
        noisy, clean = a.batch(1, step)
        for c, n in zip(clean, noisy):
            k = bytes(np.round(c * 255).astype(np.uint8))
            if k in first:
                assert not np.allclose(first[k], n)  # same image, new corruption


def test_resumed_dataset_serves_the_same_batches():
    x = _images()
    full = pipeline.FreshCorruption(x, batch_size=8, seed=1, epochs=3)
    resumed = pipeline.FreshCorruption(x, batch_size=8, seed=1, epochs=3, start_epoch=2)
    assert len(resumed) == 5
    for step in range(5):
        np.testing.assert_array_equal(resumed[step][0], full[10 + step][0])


def test_corruption_statistics_match_the_study():
    # Constant images isolate the noise (a blur leaves a constant unchanged).
    x = np.full((64, 16, 16, 3), 0.5, dtype=np.float32)
    ds = pipeline.FreshCorruption(x, batch_size=64, seed=0, noise_std=0.02)
    noisy, clean = ds[0]
    np.testing.assert_array_equal(clean, x)
    residual = noisy - clean
    assert abs(residual.std() - 0.02) < 0.001 and abs(residual.mean()) < 0.001
    # Without noise, each image is a Gaussian blur with a sigma in [1, 4).
    smooth = np.random.default_rng(0).random((8, 16, 16, 3)).astype(np.float32)
    ds = pipeline.FreshCorruption(smooth, batch_size=8, seed=0, noise_std=0.0, shuffle=False)
    noisy, clean = ds[0]
    errors = []
    for image, target in zip(clean, noisy):
        best = min(
            np.abs(corruption.gaussian_blur(image[None], [s])[0] - target).max()
            for s in np.linspace(1.0, 4.0, 301)
        )
        errors.append(best)
    assert max(errors) < 2e-3


def test_flips_keep_pairs_aligned():
    x = np.zeros((16, 8, 8, 3), dtype=np.float32)
    x[:, 0, 0, :] = 1.0  # a marker in the top-left corner
    ds = pipeline.FreshCorruption(x, batch_size=16, seed=0, flips=True, noise_std=0.0, sigma_range=(1.0, 1.0))
    noisy, clean = ds[0]
    corners = {tuple(np.argwhere(c[..., 0] == 1.0)[0]) for c in clean}
    assert len(corners) > 1  # some images were flipped
    for c, n in zip(clean, noisy):
        assert np.unravel_index(np.argmax(n[..., 0]), n.shape[:2]) == tuple(np.argwhere(c[..., 0] == 1.0)[0])


def test_uint8_data_are_kept_without_a_float_copy():
    x = _images()
    ds = pipeline.FreshCorruption(x, batch_size=8)
    assert ds.clean is x and ds.clean.dtype == np.uint8


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"epochs": 0}, "epochs"),
        ({"start_epoch": 5, "epochs": 2}, "start_epoch"),
        ({"sigma_range": (-0.5, 1.0)}, "sigma_range"),
        ({"noise_std": -1.0}, "noise_std"),
        ({"kernel_size": 4}, "kernel_size"),
    ],
)
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pipeline.FreshCorruption(_images(), **kwargs)


def test_epoch_order_is_a_seeded_permutation():
    a = pipeline.epoch_order(10, seed=1, epoch=2)
    assert sorted(a) == list(range(10))
    np.testing.assert_array_equal(a, pipeline.epoch_order(10, seed=1, epoch=2))
    assert not np.array_equal(a, pipeline.epoch_order(10, seed=1, epoch=3))
    np.testing.assert_array_equal(pipeline.epoch_order(5, seed=0, epoch=0, shuffle=False), np.arange(5))


def test_train_with_fresh_corruption_records_recipe_and_keeps_uint8(tmp_path):
    from deblur import models

    x = _images(48)
    run = training.train(models.deblurnet(seed=0, width=8, blocks=1, head=8), x, Recipe("deblurnet", length=Epochs(2), batch_size=8, corruption="fresh", flips=True, lr_schedule="cosine"), run_dir=tmp_path / "r", verbose=0)
    config = __import__("json").loads((tmp_path / "r" / "config.json").read_text())
    assert config["corruption"] == "fresh" and config["flips"] is True and config["lr_schedule"] == "cosine"
    assert run.history["learning_rate"] == pytest.approx([1e-3, 0.5e-3])
    with pytest.raises(ValueError, match="corruption='fresh'"):
        training.train(models.deblurnet(), x, Recipe("deblurnet", corruption="fresh"), x_corrupted=x.astype(np.float32) / 255, run_dir=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_cosine_schedule_values():
    lrs = [training.cosine_lr_schedule(e, 1e-3, epochs=4) for e in range(4)]
    np.testing.assert_allclose(lrs, [1e-3, 0.5e-3 * (1 + np.cos(np.pi / 4)), 0.5e-3, 0.5e-3 * (1 + np.cos(3 * np.pi / 4))])


def test_a_sharp_share_of_one_serves_the_clean_images_themselves():
    x = _images(16)
    corrupted, clean = pipeline.FreshCorruption(x, batch_size=8, seed=0, noise_std=0.0, sharp_fraction=1.0)[0]
    np.testing.assert_allclose(corrupted, clean, atol=1e-7)
    with pytest.raises(ValueError, match="sharp_fraction"):
        pipeline.FreshCorruption(x, sharp_fraction=-0.1)


def test_a_zoomed_share_serves_magnified_clean_images_as_targets():
    x = _images(16)
    plain = pipeline.FreshCorruption(x, batch_size=8, seed=0, noise_std=0.0, sharp_fraction=1.0)
    zoomed = pipeline.FreshCorruption(x, batch_size=8, seed=0, noise_std=0.0, sharp_fraction=1.0, zoom_fraction=1.0,
                                      zoom_range=(1.5, 2.0))
    (c0, t0), (c1, t1) = plain[0], zoomed[0]
    np.testing.assert_allclose(c1, t1, atol=1e-7)          # sharp and noise-free: the input is the (magnified) target
    assert t1.shape == t0.shape and np.abs(t1 - t0).mean() > 0.01
    # Magnification smooths: less high-frequency energy than the raw images.
    assert np.abs(np.diff(t1, axis=2)).mean() < np.abs(np.diff(t0, axis=2)).mean()
    # No zoom draws nothing: the stream is the one without the option.
    same = pipeline.FreshCorruption(x, batch_size=8, seed=0, noise_std=0.0, sharp_fraction=1.0, zoom_fraction=0.0)
    np.testing.assert_array_equal(same[0][1], t0)
    with pytest.raises(ValueError, match="zoom_range"):
        pipeline.FreshCorruption(x, zoom_fraction=0.5, zoom_range=(0.5, 2.0))
    with pytest.raises(ValueError, match="zoom_fraction"):
        pipeline.FreshCorruption(x, zoom_fraction=1.5)


def test_a_recipe_zooms_only_with_fresh_corruption():
    Recipe(model="deblurnet", corruption="fresh", degradation=Study(zoom_fraction=0.5))
    with pytest.raises(ValueError, match="zoom_fraction > 0 needs corruption='fresh'"):
        Recipe(model="deblurnet", corruption="device", degradation=Study(zoom_fraction=0.5))
