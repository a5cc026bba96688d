"""Model builders: the study's convolutional autoencoder (CAE) and Win5-RB.

Each builder is a plain function that returns a named functional
``keras.Model``, in the style of ``keras.applications``: every layer is
named, every argument has a default, and nothing outside Keras 3's
backend-agnostic API is used, so the same code trains on TensorFlow, JAX or
PyTorch.

Both networks map a corrupted image, float32 in about [0, 1] with shape
``(height, width, 3)``, to a restored image of the same shape.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import keras
from keras import layers

__all__ = [
    "cae",
    "win5rb",
    "MODELS",
    "build",
    "load_pretrained",
    "model_card",
    "pretrained_names",
    "PretrainedWeightsError",
]


def _kernel_init(seed, index):
    """Glorot-uniform initializer (Keras's default) seeded per layer.

    An explicit seed per layer makes a freshly built model repeatable without
    touching Keras's global random state. ``seed=None`` keeps Keras's default
    (unseeded) behaviour.
    """
    if seed is None:
        return "glorot_uniform"
    return keras.initializers.GlorotUniform(seed=seed + index)


def _conv_bn_relu(x, filters, kernel_size, *, name, seed, index):
    x = layers.Conv2D(
        filters,
        kernel_size,
        padding="same",
        kernel_initializer=_kernel_init(seed, index),
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def cae(input_shape=(32, 32, 3), *, seed=None, name="cae"):
    """Convolutional autoencoder of the original study.

    Encoder: Conv 32, 64, 128, 256 (3x3, same padding), each Conv ->
    BatchNorm -> ReLU, with 2x2 max-pooling after the 128 and 256 blocks.
    Decoder: Conv 128 and 64 blocks, each followed by 2x2 upsampling, a Conv 32
    block, then Conv 3 with a sigmoid. 779,395 parameters.

    Parameters
    ----------
    input_shape : tuple of int, default (32, 32, 3)
        ``(height, width, channels)``. Height and width must be multiples of
        4 (two poolings); ``None`` allows any such size at call time.
    seed : int or None, default None
        Seed for the convolution kernels' initializers; ``None`` is unseeded.
    name : str, default "cae"
        Name of the returned model.

    Returns
    -------
    model : keras.Model
        Maps ``(batch, H, W, C)`` float32 to ``(batch, H, W, 3)`` in (0, 1).
    """
    _check_input_shape(input_shape, multiple=4, model=name)
    inputs = keras.Input(shape=input_shape, name="corrupted")
    x = inputs
    index = 0
    for i, filters in enumerate((32, 64, 128, 256), start=1):
        x = _conv_bn_relu(x, filters, 3, name=f"enc{i}", seed=seed, index=index)
        index += 1
        if filters >= 128:
            x = layers.MaxPooling2D(2, name=f"enc{i}_pool")(x)
    for i, filters in enumerate((128, 64, 32), start=1):
        x = _conv_bn_relu(x, filters, 3, name=f"dec{i}", seed=seed, index=index)
        index += 1
        if filters >= 64:
            x = layers.UpSampling2D(2, name=f"dec{i}_up")(x)
    outputs = layers.Conv2D(
        3,
        3,
        padding="same",
        activation="sigmoid",
        kernel_initializer=_kernel_init(seed, index),
        name="restored",
    )(x)
    return keras.Model(inputs, outputs, name=name)


def win5rb(input_shape=(None, None, 3), *, seed=None, name="win5rb"):
    """Win5-RB (Liu et al. 2017), the study's wide residual denoiser.

    Conv 32@3x3, 64@5x5, 128@7x7, 128@7x7, each Conv -> BatchNorm -> ReLU,
    then Conv 3@7x7 -> BatchNorm, and a skip connection that adds the input
    to the output (the network learns the residual). 1,276,879 parameters.
    Fully convolutional: any height and width.

    Parameters
    ----------
    input_shape : tuple, default (None, None, 3)
        ``(height, width, 3)``; ``None`` leaves a dimension free.
    seed : int or None, default None
        Seed for the convolution kernels' initializers; ``None`` is unseeded.
    name : str, default "win5rb"
        Name of the returned model.

    Returns
    -------
    model : keras.Model
        Maps ``(batch, H, W, 3)`` float32 to ``(batch, H, W, 3)`` float32
        (unbounded: the residual output is not clipped).
    """
    _check_input_shape(input_shape, multiple=1, model=name)
    if input_shape[-1] != 3:
        raise ValueError(
            f"{name} adds its input to its 3-channel output, so input_shape must "
            f"end in 3 channels; got {tuple(input_shape)}."
        )
    inputs = keras.Input(shape=input_shape, name="corrupted")
    x = inputs
    for i, (filters, size) in enumerate(((32, 3), (64, 5), (128, 7), (128, 7)), start=1):
        x = _conv_bn_relu(x, filters, size, name=f"block{i}", seed=seed, index=i - 1)
    x = layers.Conv2D(
        3, 7, padding="same", kernel_initializer=_kernel_init(seed, 4), name="residual_conv"
    )(x)
    x = layers.BatchNormalization(name="residual_bn")(x)
    outputs = layers.Add(name="restored")([inputs, x])
    return keras.Model(inputs, outputs, name=name)


#: The model table: name -> builder. Tests and the notebook iterate over it.
MODELS = {"cae": cae, "win5rb": win5rb}


def build(name, **kwargs):
    """Build a model from :data:`MODELS` by name (``"cae"`` or ``"win5rb"``)."""
    try:
        builder = MODELS[name]
    except KeyError:
        raise ValueError(
            f"Unknown model {name!r}; choose one of {sorted(MODELS)}."
        ) from None
    return builder(**kwargs)


def _check_input_shape(input_shape, *, multiple, model):
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(
            f"{model}: input_shape must be (height, width, channels); got {shape}."
        )
    for dim in shape[:2]:
        if dim is not None and (int(dim) <= 0 or int(dim) % multiple):
            raise ValueError(
                f"{model}: height and width must be positive multiples of {multiple}; "
                f"got input_shape={shape}. Pad the images (e.g. by reflection) first."
            )
    if shape[2] is None or int(shape[2]) <= 0:
        raise ValueError(f"{model}: the channel count must be fixed; got {shape}.")


#: Folder of the shipped weights and model cards (inside the installed package).
PRETRAINED_DIR = Path(__file__).resolve().parent / "weights"


class PretrainedWeightsError(RuntimeError):
    """Shipped weights are missing, unknown or do not match their model card."""


def pretrained_names():
    """Names of the models that ship with trained weights.

    Returns
    -------
    list of str
        Each has ``weights/<name>.weights.h5`` and its card ``<name>.json``.
    """
    return sorted(p.name[: -len(".json")] for p in PRETRAINED_DIR.glob("*.json"))


def model_card(name):
    """The model card of a shipped model: protocol, data, hardware, metrics.

    Parameters
    ----------
    name : str
        ``"cae"`` or ``"win5rb"`` (see :func:`pretrained_names`).

    Returns
    -------
    dict
        Parsed ``weights/<name>.json``.
    """
    path = PRETRAINED_DIR / f"{name}.json"
    if not path.is_file():
        raise PretrainedWeightsError(
            f"No shipped model {name!r}; available: {pretrained_names()}."
        )
    return json.loads(path.read_text(encoding="utf-8"))


def load_pretrained(name, *, input_shape=None, verify=True):
    """Build a study model and load its shipped, trained weights.

    Parameters
    ----------
    name : str
        ``"cae"`` or ``"win5rb"``.
    input_shape : tuple, optional
        Passed to the builder; default is the builder's own default
        (CAE 32x32x3, Win5-RB any size).
    verify : bool, default True
        Check the weights file's sha256 against the model card first.

    Returns
    -------
    keras.Model
        Ready for inference (not compiled).

    Raises
    ------
    PretrainedWeightsError
        Unknown name, missing file, or a checksum that does not match.
    """
    card = model_card(name)
    weights = PRETRAINED_DIR / card["weights_file"]
    if not weights.is_file():
        raise PretrainedWeightsError(
            f"Weights file {weights} is missing; reinstall the package (pip install -e .)."
        )
    if verify:
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        if digest != card["weights_sha256"]:
            raise PretrainedWeightsError(
                f"{weights} has sha256 {digest}, but its model card says "
                f"{card['weights_sha256']}: the file is corrupt or was replaced. "
                "Reinstall the package or restore the file from git."
            )
    kwargs = {} if input_shape is None else {"input_shape": input_shape}
    model = build(card["architecture"], **kwargs)
    model.load_weights(weights)
    return model
