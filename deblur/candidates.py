"""Architectures DeblurNet was compared with in the ablations (not part of the study).

These builders exist so that the ablation runs recorded in
``reports/cpu_ablation.json`` (``experiments/cpu_budget.py``) and
``reports/ablation_gpu.json`` (``experiments/ablation.py``) can be repeated;
the winner, DeblurNet, lives in :mod:`deblur.models`.

- :func:`win5rb_fixed`: Win5-RB with one change to its initialisation: the
  BatchNorm on the residual output starts with gamma = 0, so the untrained
  network is the identity (input + 0) instead of input + unit-variance noise.
  (``deblur.models.win5rb(identity_init=True)`` is the same network.)
- :func:`nafunet`: a small U-Net of NAFNet-style blocks (LayerNorm, 1x1
  expand, 3x3 depthwise, SimpleGate, simplified channel attention; no
  nonlinear activation functions), two 2x downsamplings by strided 2x2
  convolutions, additive skips, and a residual output (input + prediction)
  whose last convolution starts at zero, so the untrained network is the
  identity. Height and width must be multiples of 4.
- :func:`plain_resnet`: a plain stack of 3x3 convolutions with ReLU, no
  BatchNorm, and a zero-initialised residual output.
- :func:`conv_flops_per_pixel`: the convolution FLOP counter used for every
  "GFLOP per image" figure in this project.
"""

from __future__ import annotations

import keras
from keras import layers

from .models import _check_input_shape, _kernel_init, win5rb

__all__ = ["win5rb_fixed", "nafunet", "plain_resnet", "conv_flops_per_pixel", "CANDIDATES"]


def win5rb_fixed(input_shape=(None, None, 3), *, seed=None, name="win5rb_fixed"):
    """Win5-RB whose residual BatchNorm starts at gamma = 0 (identity at init).

    Same architecture and parameter count as :func:`deblur.models.win5rb`.
    """
    model = win5rb(input_shape, seed=seed, name=name)
    bn = model.get_layer("residual_bn")
    gamma, beta, mean, var = bn.get_weights()
    bn.set_weights([gamma * 0.0, beta, mean, var])
    return model


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
    _check_input_shape(input_shape, multiple=4, model=name)
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


def conv_flops_per_pixel(model, image_shape=(32, 32, 3)):
    """FLOPs (2 per multiply-add) of the convolutions per input pixel.

    Counts Conv2D, DepthwiseConv2D and Conv2DTranspose layers, the bulk of
    the work; normalisation, gating and additions are left out.
    """
    kinds = (layers.Conv2D, layers.DepthwiseConv2D, layers.Conv2DTranspose)
    convs = [l for l in model.layers if isinstance(l, kinds)]
    extractor = keras.Model(model.inputs, [l.output for l in convs])
    outs = extractor(keras.ops.zeros((1, *image_shape)))
    total = 0
    for layer, out in zip(convs, outs):
        kh, kw = layer.kernel_size
        oh, ow, cout = out.shape[1:]
        if isinstance(layer, layers.Conv2DTranspose):
            cin = layer.kernel.shape[-1]
            macs = kh * kw * cin * cout * (oh // layer.strides[0]) * (ow // layer.strides[1])
        elif isinstance(layer, layers.DepthwiseConv2D):
            macs = kh * kw * cout * oh * ow
        else:
            cin = layer.kernel.shape[-2]  # per group
            macs = kh * kw * cin * cout * oh * ow
        total += 2 * macs
    return total / (image_shape[0] * image_shape[1])


#: Candidate name -> builder.
CANDIDATES = {
    "win5rb_fixed": win5rb_fixed,
    "nafunet": nafunet,
    "plain_resnet": plain_resnet,
}
