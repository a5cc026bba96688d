"""Architectures DeblurNet was compared with in the ablations (not part of the study).

These builders exist so that the ablation runs recorded in
``reports/cpu_ablation.json`` (``experiments/cpu_budget.py``) and
``reports/ablation_gpu.json`` (``experiments/ablation.py``) can be repeated;
the winner, DeblurNet, lives in :mod:`deblur.models`, and so does the FLOP
counter used for every "GFLOP per image" figure
(:func:`deblur.models.conv_flops_per_pixel`). The Win5-RB variant the
ablations call ``win5rb_fixed`` is ``deblur.models.win5rb(identity_init=True)``.

- :func:`nafunet`: a small U-Net of NAFNet-style blocks (LayerNorm, 1x1
  expand, 3x3 depthwise, SimpleGate, simplified channel attention; no
  nonlinear activation functions), two 2x downsamplings by strided 2x2
  convolutions, additive skips, and a residual output (input + prediction)
  whose last convolution starts at zero, so the untrained network is the
  identity. Height and width must be multiples of 4.
- :func:`plain_resnet`: a plain stack of 3x3 convolutions with ReLU, no
  BatchNorm, and a zero-initialised residual output.
- :func:`deblurnet_gated`: DeblurNet's skeleton (full-resolution head, one
  half-resolution trunk, transposed-conv up, zero-initialised residual
  output) with NAFNet-style gated blocks in the trunk instead of DeblurNet's
  conv-ReLU-conv blocks: the block is the only change (issue 25's ablation).
- :func:`resunet`: a three-level U-Net of DeblurNet's residual blocks (equal cost per block at every level), for
  photo-scale kernels (issue 40's ablation, ``experiments/photo_model.py``).
- :func:`deblurnet_two_scale`: DeblurNet with its middle blocks at quarter
  resolution and twice the channels (equal FLOPs per block): the trunk's
  scales are the only change (issue 25's ablation).

Import it as a sibling module: the scripts in this folder do
``import candidates`` (their folder is on ``sys.path`` when run as
``python experiments/<script>.py``).
"""

from __future__ import annotations

import keras
from keras import layers

__all__ = ["nafunet", "plain_resnet", "deblurnet_gated", "deblurnet_two_scale", "resunet", "CANDIDATES"]


def _kernel_init(seed, index):
    """Glorot-uniform seeded per layer, as in :mod:`deblur.models` (``None``: unseeded)."""
    return "glorot_uniform" if seed is None else keras.initializers.GlorotUniform(seed=seed + index)


def _naf_block(x, channels, *, name, seed, index):
    """NAFNet block: two gated sub-blocks with learnable residual scales."""

    counter = iter(range(16))

    def conv(filters, size, suffix):
        return layers.Conv2D(
            filters, size, padding="same",
            kernel_initializer=_kernel_init(seed, index * 16 + next(counter)), name=f"{name}_{suffix}",
        )

    # Spatial mixing: LN -> 1x1 (2c) -> depthwise 3x3 -> SimpleGate -> SCA -> 1x1.
    y = layers.LayerNormalization(axis=-1, epsilon=1e-6, name=f"{name}_ln1")(x)
    a = conv(channels, 1, "pw_a")(y)
    b = conv(channels, 1, "pw_b")(y)
    a = layers.DepthwiseConv2D(3, padding="same", name=f"{name}_dw_a")(a)
    b = layers.DepthwiseConv2D(3, padding="same", name=f"{name}_dw_b")(b)
    y = layers.Multiply(name=f"{name}_gate1")([a, b])  # SimpleGate
    w = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_sca_pool")(y)
    w = conv(channels, 1, "sca")(w)
    y = layers.Multiply(name=f"{name}_sca_mul")([y, w])
    y = conv(channels, 1, "proj1")(y)
    y = _Scale(name=f"{name}_beta")(y)
    x = layers.Add(name=f"{name}_add1")([x, y])
    # Channel mixing: LN -> 1x1 (2c) -> SimpleGate -> 1x1.
    y = layers.LayerNormalization(axis=-1, epsilon=1e-6, name=f"{name}_ln2")(x)
    a = conv(channels, 1, "ffn_a")(y)
    b = conv(channels, 1, "ffn_b")(y)
    y = layers.Multiply(name=f"{name}_gate2")([a, b])
    y = conv(channels, 1, "proj2")(y)
    y = _Scale(name=f"{name}_gamma")(y)
    return layers.Add(name=f"{name}_add2")([x, y])


# Registered as "deblur>_Scale", its name from when this module was deblur.candidates,
# so the models saved by earlier ablation runs still load.
@keras.saving.register_keras_serializable(package="deblur")
class _Scale(layers.Layer):
    """Per-channel learnable scale, initialised to zero (a block starts as identity)."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="scale")

    def call(self, x):
        return x * self.scale


def nafunet(input_shape=(None, None, 3), *, width=32, blocks=(1, 2, 4, 2, 1), seed=None, name="nafunet"):
    """A small NAFNet-style U-Net with a residual output.

    Parameters
    ----------
    input_shape : tuple, default (None, None, 3)
        Height and width must be multiples of 4 at call time.
    width : int, default 32
        Channels at full resolution (doubled at each of the two lower levels).
    blocks : tuple of 5 int, default (1, 2, 4, 2, 1)
        NAF blocks at: encoder full res, encoder 1/2, middle 1/4, decoder 1/2,
        decoder full res.
    seed : int or None
    name : str

    Returns
    -------
    keras.Model
        ``(batch, H, W, 3)`` -> ``(batch, H, W, 3)``, unbounded (input + residual).
    """
    if any(d is not None and int(d) % 4 for d in tuple(input_shape)[:2]):
        raise ValueError(
            f"{name}: height and width must be multiples of 4 (two 2x downsamplings); "
            f"got input_shape={tuple(input_shape)}."
        )
    inputs = keras.Input(shape=input_shape, name="corrupted")
    c = width
    x = layers.Conv2D(c, 3, padding="same", kernel_initializer=_kernel_init(seed, 0), name="intro")(inputs)
    skips = []
    for level in range(2):
        for i in range(blocks[level]):
            x = _naf_block(x, c, name=f"enc{level}_{i}", seed=seed, index=10 + level * 10 + i)
        skips.append(x)
        x = layers.Conv2D(2 * c, 2, strides=2, kernel_initializer=_kernel_init(seed, 1 + level),
                          name=f"down{level}")(x)
        c *= 2
    for i in range(blocks[2]):
        x = _naf_block(x, c, name=f"mid_{i}", seed=seed, index=40 + i)
    for level in (1, 0):
        c //= 2
        x = layers.Conv2DTranspose(c, 2, strides=2, kernel_initializer=_kernel_init(seed, 4 + level),
                                   name=f"up{level}")(x)
        x = layers.Add(name=f"skip{level}")([x, skips[level]])
        for i in range(blocks[4 - level]):
            x = _naf_block(x, c, name=f"dec{level}_{i}", seed=seed, index=60 + level * 10 + i)
    # Zero-initialised last convolution: the untrained network is the identity.
    residual = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="ending")(x)
    outputs = layers.Add(name="restored")([inputs, residual])
    return keras.Model(inputs, outputs, name=name)


def plain_resnet(input_shape=(None, None, 3), *, width=64, depth=8, seed=None, name="plain_resnet"):
    """A plain residual CNN: ``depth`` 3x3 convolutions with ReLU, no BatchNorm.

    The last convolution starts at zero, so the untrained network is the
    identity, and the output is input + prediction.
    """
    inputs = keras.Input(shape=input_shape, name="corrupted")
    x = inputs
    for i in range(depth - 1):
        x = layers.Conv2D(width, 3, padding="same", activation="relu",
                          kernel_initializer=_kernel_init(seed, i), name=f"conv{i}")(x)
    residual = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="ending")(x)
    return keras.Model(inputs, layers.Add(name="restored")([inputs, residual]), name=name)


def deblurnet_gated(input_shape=(None, None, 3), *, width=64, blocks=11, head=32, seed=None, name="deblurnet_gated"):
    """DeblurNet with NAFNet-style gated blocks (:func:`_naf_block`) in its half-resolution trunk.

    Head, down, up and the zero-initialised output are DeblurNet's (:func:`deblur.models.deblurnet`), so the block is
    the only difference. A gated block of 64 channels costs about 0.35 of a DeblurNet block's FLOPs: 11 blocks
    (0.157 GFLOP per 32x32 image, 356,083 parameters) cost about as much as DeblurNet's 4 (0.163).
    """
    inputs = keras.Input(shape=input_shape, name="corrupted")
    h = layers.Conv2D(head, 3, padding="same", activation="relu", kernel_initializer=_kernel_init(seed, 0),
                      name="head")(inputs)
    x = layers.Conv2D(width, 2, strides=2, kernel_initializer=_kernel_init(seed, 1), name="down")(h)
    for i in range(blocks):
        x = _naf_block(x, width, name=f"block{i + 1}", seed=seed, index=10 + i)
    x = layers.Conv2DTranspose(head, 2, strides=2, kernel_initializer=_kernel_init(seed, 2), name="up")(x)
    x = layers.ReLU(name="skip_relu")(layers.Add(name="skip")([x, h]))
    correction = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="correction")(x)
    return keras.Model(inputs, layers.Add(name="restored")([inputs, correction]), name=name)


def _residual_block(x, channels, *, name, seed, index):
    """DeblurNet's block (:func:`deblur.models.deblurnet`): conv 3x3 -> ReLU -> conv 3x3, plus the block's input."""
    y = layers.Conv2D(channels, 3, padding="same", activation="relu", kernel_initializer=_kernel_init(seed, index),
                      name=f"{name}_conv1")(x)
    y = layers.Conv2D(channels, 3, padding="same", kernel_initializer=_kernel_init(seed, index + 1),
                      name=f"{name}_conv2")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def deblurnet_two_scale(input_shape=(None, None, 3), *, width=64, blocks=(1, 2, 1), head=32, seed=None,
                        name="deblurnet_two_scale"):
    """DeblurNet with a two-scale trunk: half resolution, then quarter resolution at twice the channels, then half.

    Head, down, up and the zero-initialised output are DeblurNet's (:func:`deblur.models.deblurnet`). Of its 4
    residual blocks at half resolution, the middle ``blocks[1]`` move to quarter resolution with ``2 * width``
    channels: the same FLOPs per block, twice the reach per 3x3 convolution. A stride-2 2x2 convolution goes down, a
    stride-2 2x2 transposed one comes back and is added to the half-resolution features before the last blocks
    (0.171 GFLOP per 32x32 image, 822,019 parameters, against DeblurNet's 0.163 and 313,667). Height and width
    multiples of 4 (:func:`deblur.restore` pads any size).
    """
    before, middle, after = blocks
    inputs = keras.Input(shape=input_shape, name="corrupted")
    h = layers.Conv2D(head, 3, padding="same", activation="relu", kernel_initializer=_kernel_init(seed, 0),
                      name="head")(inputs)
    x = layers.Conv2D(width, 2, strides=2, kernel_initializer=_kernel_init(seed, 1), name="down")(h)
    for i in range(before):
        x = _residual_block(x, width, name=f"block{i + 1}", seed=seed, index=10 + 2 * i)
    y = layers.Conv2D(2 * width, 2, strides=2, kernel_initializer=_kernel_init(seed, 3), name="down2")(x)
    for i in range(before, before + middle):
        y = _residual_block(y, 2 * width, name=f"block{i + 1}", seed=seed, index=10 + 2 * i)
    y = layers.Conv2DTranspose(width, 2, strides=2, kernel_initializer=_kernel_init(seed, 4), name="up2")(y)
    x = layers.Add(name="skip2")([x, y])
    for i in range(before + middle, before + middle + after):
        x = _residual_block(x, width, name=f"block{i + 1}", seed=seed, index=10 + 2 * i)
    x = layers.Conv2DTranspose(head, 2, strides=2, kernel_initializer=_kernel_init(seed, 2), name="up")(x)
    x = layers.ReLU(name="skip_relu")(layers.Add(name="skip")([x, h]))
    correction = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="correction")(x)
    return keras.Model(inputs, layers.Add(name="restored")([inputs, correction]), name=name)


def resunet(input_shape=(None, None, 3), *, width=32, levels=3, blocks=(1, 1, 1, 2), head=32, seed=None,
            name="resunet"):
    """A U-Net of DeblurNet's residual blocks over ``levels`` 2x downsamplings, for photo-scale blur.

    Head: Conv ``head``@3x3 + ReLU at full resolution. Level ``l`` (1 to ``levels``) sits at ``1 / 2**l`` resolution
    with ``width * 2**l`` channels, so a block costs the same at every level while a 3x3 convolution reaches
    ``2**(l+1)`` pixels; the encoder has ``blocks[l-1]`` blocks per level, the bottom ``blocks[-1]`` more, and the
    decoder (stride-2 2x2 transposed convolutions, additive skips) one block per level. The output convolution starts
    at zero (the untrained network is the identity). Height and width: multiples of ``2**levels``.
    """
    if len(blocks) != levels + 1:
        raise ValueError(f"{name}: blocks needs {levels + 1} counts (one per level, then the bottom); got {blocks}.")
    inputs = keras.Input(shape=input_shape, name="corrupted")
    h = layers.Conv2D(head, 3, padding="same", activation="relu", kernel_initializer=_kernel_init(seed, 0),
                      name="head")(inputs)
    x, skips, index = h, [], 100
    for level in range(1, levels + 1):
        x = layers.Conv2D(width * 2**level, 2, strides=2, kernel_initializer=_kernel_init(seed, level),
                          name=f"down{level}")(x)
        for i in range(blocks[level - 1] + (blocks[-1] if level == levels else 0)):
            x = _residual_block(x, width * 2**level, name=f"enc{level}_{i}", seed=seed, index=index)
            index += 2
        skips.append(x)
    for level in range(levels, 0, -1):
        if level < levels:
            x = _residual_block(layers.Add(name=f"skip{level}")([x, skips[level - 1]]), width * 2**level,
                                name=f"dec{level}", seed=seed, index=index)
            index += 2
        channels = head if level == 1 else width * 2**(level - 1)
        x = layers.Conv2DTranspose(channels, 2, strides=2, kernel_initializer=_kernel_init(seed, 10 + level),
                                   name=f"up{level}")(x)
    x = layers.ReLU(name="skip_relu")(layers.Add(name="skip0")([x, h]))
    correction = layers.Conv2D(3, 3, padding="same", kernel_initializer="zeros", name="correction")(x)
    return keras.Model(inputs, layers.Add(name="restored")([inputs, correction]), name=name)


#: Candidate name -> builder.
CANDIDATES = {
    "nafunet": nafunet,
    "plain_resnet": plain_resnet,
    "deblurnet_gated": deblurnet_gated,
    "deblurnet_two_scale": deblurnet_two_scale,
    "resunet": resunet,
}
