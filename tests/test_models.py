import keras
import numpy as np
import pytest

from deblur import models
from deblur.recipe import Epochs, Recipe

# One table parametrizes the model tests: name -> (builder, exact parameter count, sizes it accepts).
MODEL_TABLE = {
    "cae": (models.cae, 779_395, [(32, 32), (16, 24)]),
    "win5rb": (models.win5rb, 1_276_879, [(32, 32), (17, 23), (9, 40)]),
    "deblurnet": (models.deblurnet, 313_667, [(32, 32), (18, 30), (64, 10)]),
}


@pytest.mark.parametrize("name", sorted(MODEL_TABLE))
def test_exact_parameter_count_for_32x32(name):
    builder, count, _ = MODEL_TABLE[name]
    model = builder(input_shape=(32, 32, 3))
    assert isinstance(model, keras.Model)
    assert model.name == name
    assert model.count_params() == count


def test_model_table_is_complete():
    assert set(models.MODELS) == set(MODEL_TABLE)


@pytest.mark.parametrize("name", sorted(MODEL_TABLE))
def test_output_shape_dtype_on_several_sizes(name):
    builder, _, sizes = MODEL_TABLE[name]
    model = builder(input_shape=(None, None, 3))
    rng = np.random.default_rng(0)
    for h, w in sizes:
        x = rng.random((2, h, w, 3), dtype=np.float32)
        y = keras.ops.convert_to_numpy(model(x, training=False))
        assert y.shape == (2, h, w, 3)
        assert y.dtype == np.float32


def test_cae_output_is_sigmoid_bounded():
    y = keras.ops.convert_to_numpy(models.cae()(np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)))
    assert y.min() > 0.0 and y.max() < 1.0


def test_win5rb_default_is_fully_convolutional_with_skip():
    model = models.win5rb()
    assert model.input_shape == (None, None, None, 3)
    assert isinstance(model.get_layer("restored"), keras.layers.Add)
    # With the residual branch zeroed, the skip connection makes it the identity.
    conv = model.get_layer("residual_conv")
    conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])
    bn = model.get_layer("residual_bn")
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights([gamma, np.zeros_like(beta), np.zeros_like(mean), var])
    x = np.random.default_rng(1).random((1, 11, 13, 3), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), x, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODEL_TABLE))
def test_every_layer_named_and_architecture(name):
    model = MODEL_TABLE[name][0]()
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    if name == "cae":
        assert [c.filters for c in convs] == [32, 64, 128, 256, 128, 64, 32, 3]
        assert all(c.kernel_size == (3, 3) for c in convs)
        assert len(bns) == 7
        assert sum(isinstance(l, keras.layers.MaxPooling2D) for l in model.layers) == 2
        assert sum(isinstance(l, keras.layers.UpSampling2D) for l in model.layers) == 2
    elif name == "win5rb":
        assert [(c.filters, c.kernel_size[0]) for c in convs] == [(32, 3), (64, 5), (128, 7), (128, 7), (3, 7)]
        assert len(bns) == 5
    else:
        assert [(c.filters, c.kernel_size[0], c.strides[0]) for c in convs] == (
            [(32, 3, 1), (64, 2, 2)] + [(64, 3, 1)] * 8 + [(3, 3, 1)]
        )
        assert isinstance(model.get_layer("up"), keras.layers.Conv2DTranspose)
        assert bns == []


@pytest.mark.parametrize("name", sorted(MODEL_TABLE))
def test_seed_makes_init_repeatable(name):
    a = MODEL_TABLE[name][0](seed=5).get_weights()
    b = MODEL_TABLE[name][0](seed=5).get_weights()
    c = MODEL_TABLE[name][0](seed=6).get_weights()
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))


def test_build_by_name_and_errors():
    assert models.build("cae").name == "cae"
    with pytest.raises(ValueError, match="Unknown model"):
        models.build("unet")
    with pytest.raises(ValueError, match="multiples of 4"):
        models.cae(input_shape=(30, 30, 3))
    with pytest.raises(ValueError, match="3 channels"):
        models.win5rb(input_shape=(None, None, 1))
    with pytest.raises(ValueError, match="height, width, channels"):
        models.win5rb(input_shape=(32, 32))


@pytest.mark.parametrize("name", sorted(MODEL_TABLE))
def test_save_load_round_trip(tmp_path, name):
    model = MODEL_TABLE[name][0](seed=0)
    x = np.random.default_rng(2).random((2, 32, 32, 3), dtype=np.float32)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.count_params() == MODEL_TABLE[name][1]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6
    )


def test_recipe_options_keep_the_architecture():
    # The fixes our CPU recipe uses change no parameter count.
    assert models.cae(bn_momentum=0.9).count_params() == 779_395
    assert models.cae(bn_momentum=0.9).get_layer("enc1_bn").momentum == 0.9
    win = models.win5rb(identity_init=True, seed=0)
    assert win.count_params() == 1_276_879
    x = np.random.default_rng(0).random((2, 15, 21, 3), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(win(x, training=False)), x, atol=1e-6)


def test_deblurnet_is_the_identity_at_initialisation_and_cheap():
    model = models.deblurnet(seed=0)
    x = np.random.default_rng(0).random((2, 14, 22, 3), dtype=np.float32)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), x, atol=1e-6)
    ratio = models.conv_flops_per_pixel(model) / models.conv_flops_per_pixel(models.win5rb())
    assert ratio < 0.25  # the "at most a quarter of Win5-RB's FLOPs"
    assert 16 < 1 / ratio < 16.1  # the documented "1/16 of Win5-RB's"
    assert round(models.gflops_per_image(model), 3) == 0.163
    with pytest.raises(ValueError, match="multiples of 2"):
        models.deblurnet(input_shape=(31, 32, 3))
    with pytest.raises(ValueError, match="width must be a positive integer"):
        models.deblurnet(width=0)


# Convolution multiply-adds per pixel of a 32x32 image, by hand: kernel area x
# input channels x output channels, divided by 4 at half resolution (and by
# 16 at a quarter). ConvT counts per input pixel, so as its half-resolution input.
CONV_MACS_PER_PIXEL = {
    "cae": 3 * 9 * 32 + 32 * 9 * 64 + 64 * 9 * 128 + 128 * 9 * 256 // 4
    + 256 * 9 * 128 // 16 + 128 * 9 * 64 // 4 + 64 * 9 * 32 + 32 * 9 * 3,
    "win5rb": 3 * 9 * 32 + 32 * 25 * 64 + 64 * 49 * 128 + 128 * 49 * 128 + 128 * 49 * 3,
    "deblurnet": 3 * 9 * 32 + 32 * 4 * 64 // 4 + 8 * (64 * 9 * 64) // 4 + 64 * 4 * 32 // 4 + 32 * 9 * 3,
}


@pytest.mark.parametrize(
    "name, flops_per_pixel, flops_per_image",
    [
        ("cae", 445_824, 456_523_776),
        ("win5rb", 2_550_208, 2_611_412_992),
        ("deblurnet", 159_104, 162_922_496),
    ],
)
def test_conv_flops_are_exact(name, flops_per_pixel, flops_per_image):
    model = models.build(name)
    assert flops_per_pixel == 2 * CONV_MACS_PER_PIXEL[name]
    assert models.conv_flops_per_pixel(model) == flops_per_pixel
    assert models.conv_flops_per_pixel(model) * 32 * 32 == flops_per_image
    assert models.gflops_per_image(model) == flops_per_image / 1e9
    if name != "cae":  # fully convolutional: the count per pixel does not depend on the size
        assert models.conv_flops_per_pixel(model, (64, 48, 3)) == flops_per_pixel


def test_deblurnet_short_training_beats_identity(tmp_path):
    from deblur import corruption, metrics, training

    rng = np.random.default_rng(0)
    coarse = rng.random((576, 4, 4, 3))
    # 16x16 images (DeblurNet is fully convolutional): half the time of 32x32; after 2 epochs (64 steps) the
    # trained/identity MSE ratio is about 0.27 (0.16 after 3), and an untrained or broken run stays near 1.
    images = (np.kron(coarse, np.ones((1, 4, 4, 1))) * 255).astype(np.uint8)
    train, test = images[:512], images[512:]
    run = training.train(models.deblurnet(seed=0), train, Recipe("deblurnet", length=Epochs(2), batch_size=16, corruption="fresh", flips=True, lr_schedule="cosine", validation_split=0.0), run_dir=tmp_path / "run", verbose=0)
    noisy, _ = corruption.corrupt(test, seed=7)
    identity = metrics.evaluate(None, noisy, test)["mse"]
    trained = metrics.evaluate(run.model, noisy, test)["mse"]
    assert trained < 0.5 * identity, (trained, identity)

