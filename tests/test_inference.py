"""deblur.restore: any size, dtype, gray or RGB, single or batch; input untouched."""

import keras
import numpy as np
import pytest

import deblur
from deblur import inference, models


@pytest.fixture(scope="module")
def win5rb():
    return models.load_pretrained("win5rb")


@pytest.mark.parametrize(
    "shape, dtype",
    [
        ((33, 47, 3), np.uint8),  # odd size, single RGB image
        ((2, 17, 30, 3), np.float32),  # batch of floats
        ((21, 19), np.uint8),  # 2-D grayscale
        ((3, 10, 14, 1), np.float64),  # batch of grayscale floats
    ],
)
@pytest.mark.parametrize("name", ["cae", "win5rb", "deblurnet"])
def test_restore_keeps_shape_dtype_and_range(name, shape, dtype):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, shape).astype(np.uint8) if dtype == np.uint8 else rng.random(shape).astype(dtype)
    before = images.copy()
    out = deblur.restore(name, images)
    assert out.shape == images.shape and out.dtype == images.dtype
    assert np.array_equal(images, before)
    if dtype == np.uint8:
        assert out.min() >= 0 and out.max() <= 255
    else:
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_restore_improves_a_corrupted_image_like_the_model(win5rb):
    from deblur.corruption import corrupt

    rng = np.random.default_rng(1)
    clean = np.kron(rng.random((1, 6, 6, 3)), np.ones((1, 8, 8, 1))).astype(np.float32)
    noisy, _ = corrupt(clean, seed=0)
    noisy = np.clip(noisy, 0, 1)
    out = deblur.restore(win5rb, noisy, precision="float32")  # the model's own arithmetic (bfloat16: test_precision)
    direct = np.clip(keras.ops.convert_to_numpy(win5rb(noisy)), 0, 1)
    np.testing.assert_allclose(out, direct, atol=1e-5)
    assert np.mean((out - clean) ** 2) < np.mean((noisy - clean) ** 2)


def test_cae_padding_and_size_multiple():
    cae = models.load_pretrained("cae", input_shape=(None, None, 3))
    assert inference.size_multiple(cae) == 4
    assert inference.size_multiple(models.win5rb()) == 1
    out = deblur.restore(cae, np.full((5, 7, 3), 0.5, np.float32))
    assert out.shape == (5, 7, 3)
    fixed = models.load_pretrained("cae")  # built for 32x32: rebuilt for 40x44 with the same weights
    x = np.random.default_rng(4).random((40, 44, 3)).astype(np.float32)
    np.testing.assert_allclose(deblur.restore(fixed, x), deblur.restore(cae, x), atol=1e-6)


def test_batches_with_progress(win5rb, capsys):
    images = np.zeros((5, 8, 8, 3), np.uint8)
    out = deblur.restore(win5rb, images, batch_size=2, progress=True)
    assert out.shape == images.shape
    assert "restoring" in capsys.readouterr().err


@pytest.mark.parametrize(
    "images, match",
    [
        (np.zeros((4, 4, 4, 4, 3), np.uint8), "shape"),
        (np.zeros((8, 8, 4), np.uint8), "alpha"),
        (np.zeros((0, 8, 8, 3), np.uint8), "empty"),
        (np.zeros((8, 8, 3), np.int16), "dtype"),
        (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
        (np.full((8, 8, 3), 200.0, np.float32), "divide by 255"),
    ],
)
def test_bad_images_raise(win5rb, images, match):
    with pytest.raises(ValueError, match=match):
        deblur.restore(win5rb, images)


def test_bad_model_and_batch_size(win5rb):
    with pytest.raises(TypeError, match="keras.Model"):
        deblur.restore(42, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(models.PretrainedWeightsError, match="No shipped model"):
        deblur.restore("unet", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="batch_size"):
        deblur.restore(win5rb, np.zeros((8, 8, 3), np.uint8), batch_size=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got True"):
        deblur.restore(win5rb, np.zeros((8, 8, 3), np.uint8), batch_size=True)
    with pytest.raises(ValueError, match=r'tile, if not "auto" or None, must be a positive integer; got 0'):
        deblur.restore(win5rb, np.zeros((8, 8, 3), np.uint8), tile=0)
    with pytest.raises(ValueError, match=r"tile, .* got array"):
        deblur.restore(win5rb, np.zeros((8, 8, 3), np.uint8), tile=np.array([64, 64]))


# ------------------------------------------------------------------ tiling


@pytest.mark.parametrize("name", ["deblurnet", "win5rb", "cae"])
def test_one_pixel_changes_nothing_beyond_the_receptive_radius(name):
    model = inference.as_any_size_model(name)
    radius = inference.receptive_radius(model)
    x = np.random.default_rng(2).random((1, 96, 96, 3)).astype(np.float32)
    poked = x.copy()
    poked[0, 48, 48] += 0.5
    diff = np.abs(keras.ops.convert_to_numpy(model(poked)) - keras.ops.convert_to_numpy(model(x))).max(axis=(0, 3))
    rows, cols = np.nonzero(diff > 1e-6)
    reach = max(np.abs(rows - 48).max(), np.abs(cols - 48).max())
    assert reach <= radius <= 1.5 * reach + 2  # a bound, and not a loose one
    assert inference.tile_overlap(model) >= radius and inference.tile_overlap(model) % inference.size_multiple(model) == 0


@pytest.mark.parametrize("name", ["deblurnet", "win5rb", "cae"])
def test_tiled_restoration_equals_one_pass(name):
    model = inference.as_any_size_model(name)
    # Odd sizes: padded, then tiled (3 x 4 tiles of at most 40, for every model's overlap).
    x = np.random.default_rng(3).random((97, 131, 3)).astype(np.float32)
    whole = deblur.restore(model, x, tile=None)
    tiled = deblur.restore(model, x, tile=40, progress=False)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    gray = (x[..., :1] * 255).astype(np.uint8)
    assert np.abs(deblur.restore(model, gray, tile=40).astype(int) - deblur.restore(model, gray, tile=None)).max() <= 1


def test_tiles_cover_the_image_once_with_equal_windows():
    windows = inference.tile_windows(3000, 4000, tile=384, overlap=22, multiple=2)
    assert len(windows) == 8 * 11  # the fewest cores of at most 384, of equal size: 376 and 364 (multiples of 2)
    assert {(w[0].stop - w[0].start, w[1].stop - w[1].start) for w, _, _ in windows} == {(376 + 44, 364 + 44)}
    cover = np.zeros((3000, 4000), np.int8)
    for window, core, kept in windows:
        cover[core] += 1
        for axis in (0, 1):  # the kept part is at least the overlap away from a window edge inside the image
            assert kept[axis].start >= 22 or window[axis].start == 0
            assert window[axis].stop - window[axis].start - kept[axis].stop >= 22 or \
                window[axis].stop == (3000, 4000)[axis]
            assert window[axis].start % 2 == 0
    assert (cover == 1).all()


def test_memory_per_pass_does_not_grow_with_the_image(monkeypatch):
    model = models.deblurnet(seed=0, width=8, blocks=1, head=8)  # widest output: the head, 8 values per pixel
    monkeypatch.setattr(inference, "PASS_BUDGET", 2_000_000)  # 250,000 pixels a pass: tiles of 500 less the margins
    assert inference._pass_pixels(model) == 250_000 and inference.auto_tile(model) == 500 - 2 * inference.tile_overlap(model)
    seen = []
    forward = inference._forward
    monkeypatch.setattr(inference, "_forward",
                        lambda m, batch, dtype, **kw: seen.append(batch.shape) or forward(m, batch, dtype, **kw))
    for size in (1100, 2300):  # both tiled
        seen.clear()
        out = deblur.restore(model, np.zeros((size, size, 3), np.uint8), progress=False)
        assert out.shape == (size, size, 3)
        # 1100: 3 x 3 cores of 368 in windows of 388; 2300: 5 x 5 cores of 460 in windows of 480; one a pass.
        assert seen == [(1, 388, 388, 3)] * 9 if size == 1100 else seen == [(1, 480, 480, 3)] * 25
    seen.clear()
    small = deblur.restore(model, np.zeros((1100, 1100, 3), np.uint8), tile=100, progress=False)
    assert small.shape == (1100, 1100, 3) and seen[0] == (16, 120, 120, 3)  # small tiles share a pass, 230,400 pixels
    seen.clear()
    deblur.restore(model, np.zeros((6, 300, 300, 3), np.uint8), progress=False)  # whole images: 2 a pass
    assert [n for n, *_ in seen] == [2, 2, 2]


@pytest.mark.parametrize("name, widest, tile", [("deblurnet", 32, 1076), ("deblurnet_photo", 32, 1044),
                                                ("win5rb", 128, 536), ("cae", 128, 512)])
def test_auto_tile_fits_the_pass_budget(name, widest, tile):
    model = inference.as_any_size_model(name)
    assert inference._pass_pixels(model) == inference.PASS_BUDGET // widest
    assert inference.auto_tile(model) == tile and tile % inference.size_multiple(model) == 0
    window = tile + 2 * inference.tile_overlap(model)
    assert window ** 2 * widest <= inference.PASS_BUDGET < (window + inference.size_multiple(model)) ** 2 * widest
    if widest == 32:  # a 1024x1024 photo in one DeblurNet pass
        assert inference.Restorer(name).passes((1, 1024, 1024, 3)) == 1


def test_a_model_inside_a_model_is_walked_inside():
    inner = models.deblurnet(seed=0)
    inputs = keras.Input((None, None, 3))
    outer = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inner(inputs)))
    assert inference.receptive_radius(outer) == inference.receptive_radius(inner) + 1
    assert inference._pass_pixels(outer) == inference._pass_pixels(inner) == inference.PASS_BUDGET // 32


def test_a_large_single_pass_is_compiled(monkeypatch):
    model = models.deblurnet(seed=0, width=8, blocks=1, head=8)
    calls = []
    forward = inference._forward
    monkeypatch.setattr(inference, "_forward", lambda m, batch, dtype, **kw: calls.append((batch.shape[1:3], kw))
                        or forward(m, batch, dtype, **kw))
    deblur.restore(model, np.zeros((64, 64, 3), np.uint8))
    deblur.restore(model, np.zeros((512, 512, 3), np.uint8))  # an eager pass would hold every layer's output
    assert calls == [((64, 64), {"compiled": False}), ((512, 512), {"compiled": True})]


def test_a_layer_of_unknown_reach_refuses_tiling():
    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(3, 3, padding="same")(inp)
    out = keras.layers.Add()([x, keras.layers.GlobalAveragePooling2D(keepdims=True)(x)])  # sees every pixel
    model = keras.Model(inp, out)
    with pytest.raises(ValueError, match="tile=None"):
        inference.restore(model, np.zeros((600, 600, 3), np.float32))
    assert inference.restore(model, np.zeros((40, 40, 3), np.float32), tile=None).shape == (40, 40, 3)


# ------------------------------------------------------------------ self-ensemble


def _symmetric_conv_model():
    """A model equivariant to flips and quarter turns by construction: one 3x3 conv whose every
    kernel is D4-symmetric ([[a, b, a], [b, c, b], [a, b, a]]), zero "same" padding, then a ReLU."""
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(3, 3, padding="same", activation="relu")
    model = keras.Model(inputs, conv(inputs))
    a, b, c = np.random.default_rng(7).normal(size=(3, 1, 3, 3))  # (in, out) matrices
    kernel = np.stack([np.concatenate([a, b, a]), np.concatenate([b, c, b]), np.concatenate([a, b, a])])
    conv.set_weights([kernel.astype(np.float32), np.full(3, 0.1, np.float32)])
    return model


@pytest.mark.parametrize("tile", [None, 8])
def test_ensemble_is_exact_for_an_equivariant_model(tile):
    model = _symmetric_conv_model()
    x = np.random.default_rng(5).random((2, 29, 41, 3)).astype(np.float32)  # not square: turns swap H and W
    plain = deblur.restore(model, x, tile=None)
    ensembled = deblur.restore(model, x, tile=tile, ensemble=True, progress=False)
    assert ensembled.shape == x.shape and ensembled.dtype == x.dtype
    np.testing.assert_allclose(ensembled, plain, atol=1e-6)
    assert np.abs(plain - x).max() > 0.05  # the model does something


def test_ensemble_of_a_shipped_model_differs_and_keeps_shape(win5rb):
    from deblur.corruption import corrupt

    rng = np.random.default_rng(6)
    clean = (rng.random((2, 24, 31, 3)) * 255).astype(np.uint8)
    noisy = np.clip(corrupt(clean, seed=0)[0], 0, 1)
    plain = deblur.restore(win5rb, noisy)
    ensembled = deblur.restore(win5rb, noisy, ensemble=True)
    assert ensembled.shape == plain.shape == noisy.shape and ensembled.dtype == noisy.dtype
    assert 1e-4 < np.abs(ensembled - plain).max() < 0.2  # different, but the same restoration
    as_uint8 = deblur.restore(win5rb, clean[0], ensemble=True)
    assert as_uint8.shape == clean[0].shape and as_uint8.dtype == np.uint8
    with pytest.raises(ValueError, match="ensemble"):
        deblur.restore(win5rb, noisy, ensemble="yes")


@pytest.mark.parametrize("name", ["cae", "win5rb", "deblurnet", "deblurnet_photo"])
def test_a_restorer_is_restore_made_once(name):
    # Issue 40, part 3: the model, guard, precision and geometry resolved once; each call pure and equal to restore's.
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    restorer = inference.Restorer(name, precision="float32")
    first = restorer(image)
    np.testing.assert_array_equal(first, inference.restore(name, image, precision="float32"))
    np.testing.assert_array_equal(restorer(image), first)  # a second call: the same output
    assert restorer.guard == inference.shipped_guard(name)  # the guard travels with the restorer
    assert (restorer.guard is not None) == (name == "deblurnet_photo")
    ph, pw = (-37) % restorer.geometry[0], (-53) % restorer.geometry[0]
    padded = np.pad(image / np.float32(255), ((0, ph), (0, pw), (0, 0)), mode="reflect")
    whole = keras.ops.convert_to_numpy(restorer.model(padded[None]))[0, :37, :53]
    if restorer.guard is None:  # no guard: the network's own output, quantised
        assert np.abs(first.astype(np.float32) - np.clip(whole, 0, 1) * 255).max() <= 1.0


def test_a_restorer_leaves_a_model_it_was_given_as_it_was():
    model = models.deblurnet(seed=0)
    restorer = inference.Restorer(model, precision="bfloat16", guard=None)
    restorer(np.zeros((8, 8, 3), np.uint8))
    assert model.layers[1].compute_dtype == "float32" and restorer.model is model
    with pytest.raises(ValueError, match="guard must be"):
        inference.Restorer(model, guard=(0.5, 0.1))
    assert "Restorer('deblurnet'" in repr(restorer)
