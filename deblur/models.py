"""Model builders (the study's CAE and Win5-RB, our DeblurNet), their FLOPs, precision, and the shipped weights.

Each builder returns a named functional ``keras.Model`` (Keras 3, any backend) mapping a corrupted float32 image
``(height, width, 3)`` in about [0, 1] to a restored image of the same shape."""

from __future__ import annotations

import contextlib
import json
import math
import zipfile

import keras
from keras import layers

from ._validation import check_int
from .machine import resolve_precision
from .pretrained import PRETRAINED_DIR, PretrainedWeightsError, model_card, pretrained_names, weights_file

__all__ = ["cae", "win5rb", "deblurnet", "MODELS", "build", "load_model_file", "ModelFileError", "conv_flops_per_pixel",
           "gflops_per_image", "load_pretrained", "model_card", "pretrained_names", "PretrainedWeightsError",
           "set_precision", "computing_in"]


def _kernel_init(seed, index):
    """Glorot-uniform (Keras's default) seeded per layer, leaving Keras's global state alone; unseeded for None."""
    return "glorot_uniform" if seed is None else keras.initializers.GlorotUniform(seed=seed + index)


def _conv_bn_relu(x, filters, kernel_size, *, name, seed, index, bn_momentum=0.99):
    x = layers.Conv2D(filters, kernel_size, padding="same", kernel_initializer=_kernel_init(seed, index),
                      name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def cae(input_shape=(32, 32, 3), *, seed=None, bn_momentum=0.99, name="cae"):
    """The study's convolutional autoencoder (779,395 parameters): float32 (B, H, W, C) to (B, H, W, 3) in (0, 1).

    Encoder: Conv -> BatchNorm -> ReLU blocks of 32, 64, 128, 256 filters (3x3, same padding), 2x2 max-pooling after the
    last two; decoder: blocks of 128 and 64, each then 2x2 upsampling, and 32, then Conv 3, sigmoid. ``input_shape``:
    height and width multiples of 4, or ``None``. ``seed``: the initializers' (None: unseeded). ``bn_momentum``: of the
    BatchNorm statistics; the study's 0.99 leaves them near their start for hundreds of steps, so ours uses 0.9."""
    _check_input_shape(input_shape, multiple=4, model=name)
    inputs = keras.Input(shape=input_shape, name="corrupted")
    x = inputs
    for i, filters in enumerate((32, 64, 128, 256), start=1):  # kernel initialisers 0 .. 3
        x = _conv_bn_relu(x, filters, 3, name=f"enc{i}", seed=seed, index=i - 1, bn_momentum=bn_momentum)
        if filters >= 128:
            x = layers.MaxPooling2D(2, name=f"enc{i}_pool")(x)
    for i, filters in enumerate((128, 64, 32), start=1):  # 4 .. 6, and 7 the output's
        x = _conv_bn_relu(x, filters, 3, name=f"dec{i}", seed=seed, index=3 + i, bn_momentum=bn_momentum)
        if filters >= 64:
            x = layers.UpSampling2D(2, name=f"dec{i}_up")(x)
    outputs = layers.Conv2D(3, 3, padding="same", activation="sigmoid", kernel_initializer=_kernel_init(seed, 7),
                            name="restored")(x)
    return keras.Model(inputs, outputs, name=name)


def win5rb(input_shape=(None, None, 3), *, seed=None, identity_init=False, bn_momentum=0.99, name="win5rb"):
    """Win5-RB (Liu et al. 2017), the study's wide residual denoiser (1,276,879 parameters, any height and width).

    Conv -> BatchNorm -> ReLU blocks 32@3x3, 64@5x5, 128@7x7, 128@7x7, then Conv 3@7x7 -> BatchNorm, plus the input (the
    network learns the residual): float32 (B, H, W, 3) to float32 (B, H, W, 3), unbounded. ``input_shape``: ``None``
    leaves a dimension free; ``bn_momentum`` as in :func:`cae`. ``identity_init`` starts the residual BatchNorm's gamma
    at 0, not 1, so the untrained network is the identity (the study's 1 adds unit-variance noise, costing steps)."""
    _check_input_shape(input_shape, multiple=1, model=name, residual=True)
    inputs = keras.Input(shape=input_shape, name="corrupted")
    x = inputs
    for i, (filters, size) in enumerate(((32, 3), (64, 5), (128, 7), (128, 7)), start=1):
        x = _conv_bn_relu(x, filters, size, name=f"block{i}", seed=seed, index=i - 1, bn_momentum=bn_momentum)
    x = layers.Conv2D(3, 7, padding="same", kernel_initializer=_kernel_init(seed, 4), name="residual_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, gamma_initializer="zeros" if identity_init else "ones",
                                  name="residual_bn")(x)
    outputs = layers.Add(name="restored")([inputs, x])
    return keras.Model(inputs, outputs, name=name)


def deblurnet(input_shape=(None, None, 3), *, width=64, blocks=4, head=32, seed=None, name="deblurnet"):
    """DeblurNet: residual blocks at half resolution, an identity at initialisation (313,667 parameters by default).

    Head: Conv ``head``@3x3 + ReLU at full resolution. Down: Conv ``width``@2x2, stride 2 (a learned pixel-unshuffle).
    Body: ``blocks`` residual blocks, each Conv 3x3 -> ReLU -> Conv 3x3 plus the block's input; no BatchNorm. Up:
    ConvTranspose ``head``@2x2, stride 2, plus the head's features, ReLU. Tail: Conv 3@3x3 with a zero initial kernel,
    added to the input, so the untrained network is the identity. At half resolution a 3x3 convolution covers 6x6
    pixels at a quarter of the cost: 0.16 GFLOP per 32x32 image, 1/16 of Win5-RB's (``reports/cpu_ablation.json``).
    Maps float32 (B, H, W, 3), H and W even (:func:`deblur.restore` pads), to input + correction, unbounded."""
    _check_input_shape(input_shape, multiple=2, model=name, residual=True, width=width, blocks=blocks, head=head)
    inputs = keras.Input(shape=input_shape, name="corrupted")
    outputs = _deblurnet_graph(inputs, inputs, width=width, blocks=blocks, head=head, seed=seed)
    return keras.Model(inputs, outputs, name=name)


def deblurnet_nonblind(input_shape=(None, None, 3), *, width=64, blocks=4, head=32, hidden=32,
                       sigma_range=(1.0, 4.0), seed=None, name="deblurnet_nonblind"):
    """DeblurNet told each image's blur sigma (FiLM conditioning; 330,627 parameters by default, 16,960 of them FiLM's).

    A second input, sigma (``sigma_range`` mapped to [-1, 1], values outside extrapolating linearly), goes through
    ``hidden`` ReLUs to a scale and a shift of each residual block's first convolution, starting at 1 and 0 (the
    untrained network is the identity). The other arguments are :func:`deblurnet`'s. Inputs ``{"corrupted": (B, H, W,
    3), "sigma": (B, 1)}``. Train with ``Recipe(sigma_input=True)``; predict with ``metrics.predict(..., sigmas=)``."""
    _check_input_shape(input_shape, multiple=2, model=name, hidden=hidden)
    low, high = (float(v) for v in sigma_range)
    if not 0 < low < high:
        raise ValueError(f"{name}: sigma_range must satisfy 0 < low < high; got {sigma_range}.")
    image = keras.Input(shape=input_shape, name="corrupted")
    sigma = keras.Input(shape=(1,), name="sigma")
    code = layers.Rescaling(2 / (high - low), offset=-(high + low) / (high - low), name="sigma_code")(sigma)
    code = layers.Dense(hidden, activation="relu", kernel_initializer=_kernel_init(seed, 100),
                        name="film_hidden")(code)

    def film(i, y):
        scale = layers.Dense(width, kernel_initializer="zeros", bias_initializer="ones",
                             name=f"block{i + 1}_film_scale")(code)
        shift = layers.Dense(width, kernel_initializer="zeros", name=f"block{i + 1}_film_shift")(code)
        scale = layers.Reshape((1, 1, width), name=f"block{i + 1}_film_scale_map")(scale)
        shift = layers.Reshape((1, 1, width), name=f"block{i + 1}_film_shift_map")(shift)
        return layers.Add(name=f"block{i + 1}_film")([layers.Multiply(name=f"block{i + 1}_film_mul")([y, scale]),
                                                      shift])

    restored = _deblurnet_graph(image, image, width=width, blocks=blocks, head=head, seed=seed, modulation=film)
    return keras.Model({"corrupted": image, "sigma": sigma}, restored, name=name)


def _deblurnet_graph(image, features, *, width, blocks, head, seed, modulation=None):
    """DeblurNet's layers on ``features``, plus ``image``; ``modulation(i, y)`` alters block i's conv1 before ReLU."""
    h = layers.Conv2D(head, 3, padding="same", activation="relu",
                      kernel_initializer=_kernel_init(seed, 0), name="head")(features)
    x = layers.Conv2D(width, 2, strides=2, kernel_initializer=_kernel_init(seed, 1), name="down")(h)
    for i in range(blocks):
        y = layers.Conv2D(width, 3, padding="same", activation=None if modulation else "relu",
                          kernel_initializer=_kernel_init(seed, 10 + 2 * i), name=f"block{i + 1}_conv1")(x)
        if modulation:
            y = layers.ReLU(name=f"block{i + 1}_relu")(modulation(i, y))
        y = layers.Conv2D(width, 3, padding="same",
                          kernel_initializer=_kernel_init(seed, 11 + 2 * i), name=f"block{i + 1}_conv2")(y)
        x = layers.Add(name=f"block{i + 1}_add")([x, y])
    x = layers.Conv2DTranspose(head, 2, strides=2, kernel_initializer=_kernel_init(seed, 2), name="up")(x)
    x = layers.Add(name="skip")([x, h])
    x = layers.ReLU(name="skip_relu")(x)
    correction = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="correction")(x)
    return layers.Add(name="restored")([image, correction])


#: The model table: name -> builder. Tests and the notebook iterate over it.
MODELS = {"cae": cae, "win5rb": win5rb, "deblurnet": deblurnet}


def build(name, **kwargs):
    """Build a model from :data:`MODELS` by name (``"cae"``, ``"win5rb"`` or ``"deblurnet"``)."""
    if name not in MODELS:
        raise ValueError(f"Unknown model {name!r}; choose one of {sorted(MODELS)}.")
    return MODELS[name](**kwargs)


def conv_flops_per_pixel(model, image_shape=(32, 32, 3)):
    """Convolution FLOPs (float) of one forward pass, per input pixel.

    Two FLOPs per multiply-add of every ``Conv2D`` (grouped too), ``DepthwiseConv2D`` and ``Conv2DTranspose`` (per input
    pixel) at the sizes of an ``image_shape`` input; biases, normalisation, activations, pooling, upsampling and
    additions are left out. ``model``: functional, one input (run once); nested models count as taking the image. Sizes
    dividing evenly through the strides count alike: per 32x32 image DeblurNet 0.163 GFLOP, Win5-RB 2.61, CAE 0.457."""
    kinds = (layers.Conv2D, layers.DepthwiseConv2D, layers.Conv2DTranspose)
    convs = [layer for layer in model.layers if isinstance(layer, kinds)]
    nested = sum(conv_flops_per_pixel(layer, image_shape) for layer in model.layers if isinstance(layer, keras.Model))
    if not convs:
        return nested
    extractor = keras.Model(model.inputs, [layer.output for layer in convs])
    outputs = extractor(keras.ops.zeros((1, *image_shape)))
    total = 0
    for layer, out in zip(convs, outputs):
        kh, kw = layer.kernel_size
        oh, ow, cout = out.shape[1:]
        if isinstance(layer, layers.Conv2DTranspose):  # kernel (kh, kw, out, in), applied per input pixel
            macs = layer.kernel.shape[-1] * cout * (oh // layer.strides[0]) * (ow // layer.strides[1])
        else:  # kernel (kh, kw, in per group, out); depthwise: one input channel per output channel
            macs = (1 if isinstance(layer, layers.DepthwiseConv2D) else layer.kernel.shape[-2]) * cout * oh * ow
        total += 2 * kh * kw * macs
    return nested + total / (image_shape[0] * image_shape[1])


def gflops_per_image(model, size=32):
    """Convolution GFLOP (float) of one ``size`` x ``size`` image (:func:`conv_flops_per_pixel`)."""
    return conv_flops_per_pixel(model, (size, size, model.inputs[0].shape[-1])) * size * size / 1e9


def _check_input_shape(input_shape, *, multiple, model, residual=False, **counts):
    """Refuse an input shape the model cannot take, then any of ``counts`` (layer sizes) that is not a positive int."""
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"{model}: input_shape must be (height, width, channels); got {shape}.")
    for dim in shape[:2]:
        if dim is not None and (int(dim) <= 0 or int(dim) % multiple):
            raise ValueError(f"{model}: height and width must be positive multiples of {multiple}; "
                             f"got input_shape={shape}. Pad the images (e.g. by reflection) first.")
    if shape[2] is None or int(shape[2]) <= 0:
        raise ValueError(f"{model}: the channel count must be fixed; got {shape}.")
    if residual and shape[2] != 3:
        raise ValueError(f"{model} adds its input to its 3-channel output, so input_shape must end in 3 channels; "
                         f"got {shape}.")
    for label, value in counts.items():
        check_int(value, f"{model}: {label}")


def load_pretrained(name, *, input_shape=None, verify=True):
    """Build a study model and load its shipped, trained weights: a ``keras.Model`` ready for inference (not compiled).

    ``name``: a shipped model (:func:`deblur.pretrained.pretrained_names`), built from its card's architecture and
    ``recipe.build``; ``input_shape``: for the builder (default its own: CAE 32x32x3, Win5-RB any); ``verify``: check
    the sha256 first. Raises :class:`PretrainedWeightsError` for an unknown name, a missing file or a wrong checksum."""
    weights = weights_file(name, verify=verify)  # an unknown name or a bad file is refused first
    card = model_card(name)
    model = MODELS[card["architecture"]](**card["recipe"]["build"], name=name,
                                         **({} if input_shape is None else {"input_shape": input_shape}))
    model.load_weights(weights)
    return model


def set_precision(model, precision="auto"):
    """Compute ``model`` in float32 or bfloat16 from now on, in place; return the precision it had (a str).

    bfloat16 is Keras's ``mixed_bfloat16`` policy: weights stay float32, each layer (nested models' too) but the model's
    last (the residual add or sigmoid) computes in bfloat16; the losses stay float32. Not rebuilt: its weights,
    optimizer and compiled state stay. ``"auto"``: :func:`deblur.machine.resolve_precision`.

    Examples
    --------
    >>> model = deblurnet()
    >>> set_precision(model, "bfloat16"), model.layers[1].compute_dtype, model.layers[-1].compute_dtype
    ('float32', 'bfloat16', 'float32')"""
    after = resolve_precision(precision)
    inner = [layer for layer in _all_layers(model) if layer is not model.layers[-1]]
    before = "bfloat16" if any(layer.compute_dtype == "bfloat16" for layer in inner) else "float32"
    for layer in inner:
        layer.dtype_policy = "mixed_bfloat16" if after == "bfloat16" else "float32"
    if after != before:
        model.predict_function = None  # traced at the old precision
    return before


@contextlib.contextmanager
def computing_in(model, precision):
    """Inside the block ``model`` computes in ``precision`` (:func:`set_precision`); then as before.

    ``with computing_in(model, "float32"): model.save(path)`` saves a file that loads as float32 anywhere."""
    before = set_precision(model, precision)
    try:
        yield model
    finally:
        set_precision(model, before)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


class ModelFileError(ValueError):
    """A model file that is not whole, or declares more weights than it stores."""


def load_model_file(path):
    """Load a ``.keras`` file after checking that its layers declare no more weights than it stores.

    Keras allocates every layer's weights from ``config.json`` before reading them, so a few kB could declare gigabytes.
    Raises :class:`ModelFileError` (a ``ValueError``) for a file not a whole ``.keras`` file, or declaring more."""
    try:
        with zipfile.ZipFile(path) as archive:
            sizes = {i.filename: i.file_size for i in archive.infolist()}
            config = json.loads(archive.read("config.json")) if sizes["config.json"] <= 16 << 20 else None
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        config = None
    if config is None:
        raise ModelFileError(f"{path}: not a whole .keras file (a zip with a config.json of at most 16 MB; this one is "
                             "truncated or of another format); save or copy the model again.")
    declared = 4 * sum(_declared_weights(layer) for layer in _leaf_layers(config))
    stored = sizes.get("model.weights.h5", 0)
    if declared > 4 * stored + (1 << 20):  # generous: a counted layer may hold fewer weights than declared
        raise ModelFileError(f"{path}: its layers declare {declared / 1e6:,.0f} MB of weights but the file stores "
                             f"{stored / 1e3:,.0f} kB; it is damaged or hostile and was not loaded.")
    return keras.models.load_model(path)


def _leaf_layers(config):
    """Every layer config in a saved model config (nested models included)."""
    items = config if isinstance(config, list) else [config]
    for item in (i for i in items if isinstance(i, dict)):
        inner = item.get("config")
        if isinstance(inner, dict) and isinstance(inner.get("layers"), list):
            yield from _leaf_layers(inner["layers"])
        elif "class_name" in item:
            yield item


def _declared_weights(layer):
    """The weights a layer config declares: kernel x input channels x (filters, units or depth multiplier)."""
    def number(value):  # a product of the numbers in a value or list (kernel sizes), booleans and text ignored
        return math.prod(float(v) for v in (value if isinstance(value, list) else [value])
                         if isinstance(v, (int, float)) and not isinstance(v, bool))

    cfg = layer["config"] if isinstance(layer.get("config"), dict) else {}
    shape = (layer.get("build_config") or {}).get("input_shape")
    while isinstance(shape, list) and shape and isinstance(shape[-1], list):  # several inputs: the last one's
        shape = shape[-1]
    channels = number(shape[-1]) if isinstance(shape, list) and shape else 1.0
    width = sum(number(cfg[k]) for k in ("filters", "units", "depth_multiplier") if k in cfg)
    return number(cfg.get("kernel_size", 1)) * channels * width + number(cfg.get("input_dim", 0)) * number(
        cfg.get("output_dim", 0))
