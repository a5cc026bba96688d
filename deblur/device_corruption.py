"""The study's corruption as Keras operations, inside the compiled training step (``corruption="device"``).

A batch travels to the accelerator as clean uint8 images and is flipped, blurred (:mod:`deblur.corruption`'s code
with ``xp=keras.ops``) and made noisy there. Every draw is a pure function of the batch's key
(:func:`deblur.training.pipeline.batch_key`), so a resumed run sees the same batches."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ._validation import check_int, to_float32
from .corruption import check_settings, gaussian_kernels, separable_blur

__all__ = ["blur_ops", "gaussian_kernels_ops", "convolve_ops", "DeviceCorruption", "CorruptionTrainer"]


def gaussian_kernels_ops(sigmas, kernel_size=5):
    """Normalised 1-D Gaussian kernels (float32, ``keras.ops``) of sigmas (N,), > 0, unchecked: this runs traced."""
    return gaussian_kernels(ops.cast(ops.reshape(sigmas, (-1, 1)), "float32"), kernel_size, dtype="float32", xp=ops)


def blur_ops(images, sigmas, *, kernel_size=5):
    """Blur each image with its own Gaussian, reflect-101 borders, in ``keras.ops``: a float32 backend tensor.

    The device twin of :func:`deblur.corruption.gaussian_blur`; tensors or arrays in."""
    check_int(kernel_size, "kernel_size", odd=True)
    images = to_float32(ops.convert_to_tensor(images), xp=ops)
    if len(images.shape) != 4:
        raise ValueError(f"images must have shape (N, H, W, C); got {tuple(images.shape)}.")
    return separable_blur(images, gaussian_kernels_ops(ops.convert_to_tensor(sigmas), kernel_size), xp=ops)


def convolve_ops(images, kernels):
    """Convolve each image (N, H, W, C) with its own kernel (N, K, K), K odd, reflect-101 borders, in ``keras.ops``.

    The device twin of :func:`deblur.degradations.convolve` (kernels drawn on the CPU travel with the batch): one
    depthwise convolution, the batch's images the channels of one image, each kernel flipped (Keras correlates)."""
    images = to_float32(ops.convert_to_tensor(images), xp=ops)
    kernels = ops.cast(ops.convert_to_tensor(kernels), "float32")
    n, height, width, channels = images.shape
    size = kernels.shape[1]
    half = size // 2
    if min(height, width) <= half:
        raise ValueError(f"Images of {height}x{width} are too small for a {size}x{size} kernel "
                         "with reflect-101 borders.")
    padded = ops.pad(images, ((0, 0), (half, half), (half, half), (0, 0)), mode="reflect")
    stacked = ops.reshape(ops.transpose(padded, (1, 2, 0, 3)), (1, height + 2 * half, width + 2 * half, n * channels))
    flipped = ops.flip(ops.flip(kernels, axis=1), axis=2)                                   # (N, K, K)
    depthwise = ops.repeat(ops.transpose(flipped, (1, 2, 0)), channels, axis=2)[..., None]  # (K, K, N * C, 1)
    out = ops.depthwise_conv(stacked, depthwise, strides=1, padding="valid")               # (1, H, W, N * C)
    return ops.transpose(ops.reshape(out, (height, width, n, channels)), (2, 0, 1, 3))


class DeviceCorruption(keras.layers.Layer):
    """The study's corruption of a batch, on the device: flips, blur, noise (the same images and key, the same output).

    ``call(images, key)`` returns ``(corrupted, clean)``: ``clean`` is the batch as float32 in [0, 1], flipped
    horizontally and/or vertically (each with probability 1/2 per image, if ``flips``); ``corrupted`` is ``clean``
    corrupted as by :func:`deblur.corruption.corrupt` (``noise_std`` one number)."""

    def __init__(self, *, flips=False, kernel_size=5, sigma_range=(1.0, 4.0), noise_std=0.02, sharp_fraction=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        settings = check_settings(kernel_size=kernel_size, sigma_range=sigma_range, noise_std=noise_std,
                                  sharp_fraction=sharp_fraction)
        if np.ndim(noise_std) > 0:
            raise ValueError(f"A noise range {tuple(noise_std)} is drawn per image by corruption='fresh' only; "
                             "on the device noise_std is one number.")
        self.flips = bool(flips)
        for name in ("kernel_size", "sigma_range", "noise_std", "sharp_fraction"):
            setattr(self, name, settings[name])
        self.seed_generator = keras.random.SeedGenerator(0)

    def draw(self, images, key):
        """The corruption of one batch with its draws.

        ``images``: (B, H, W, C), uint8 or float in [0, 1]; ``key``: int (2,) or (B, 2), the batch's random key
        (:func:`deblur.training.pipeline.batch_key`; of a (B, 2) key, the first row). Returns a dict: ``corrupted`` and
        ``clean`` (float32 (B, H, W, C)), ``sigmas`` (float32 (B,)), ``flipped`` (bool (B, 2): horizontal, vertical)."""
        clean = to_float32(ops.convert_to_tensor(images), xp=ops)
        key = ops.convert_to_tensor(key)
        if len(key.shape) == 2:
            key = key[0]
        self.seed_generator.state.assign(ops.cast(key, self.seed_generator.state.dtype))
        batch = ops.shape(clean)[0]
        flipped = keras.random.uniform((batch, 2), seed=self.seed_generator) < 0.5
        if self.flips:
            clean = ops.where(flipped[:, 0, None, None, None], ops.flip(clean, axis=2), clean)
            clean = ops.where(flipped[:, 1, None, None, None], ops.flip(clean, axis=1), clean)
        else:
            flipped = ops.zeros_like(flipped)
        low, high = self.sigma_range
        sigmas = keras.random.uniform((batch,), minval=low, maxval=high, seed=self.seed_generator)
        if self.sharp_fraction > 0:  # drawn only then: the study's draws stay as they were
            sharp = keras.random.uniform((batch,), seed=self.seed_generator) < self.sharp_fraction
            sigmas = ops.where(sharp, 0.0, sigmas)
        corrupted = blur_ops(clean, sigmas, kernel_size=self.kernel_size)
        if self.noise_std > 0:
            corrupted = corrupted + self.noise_std * keras.random.normal(ops.shape(clean), seed=self.seed_generator)
        return {"corrupted": corrupted, "clean": clean, "sigmas": sigmas, "flipped": flipped}

    def call(self, images, key):
        out = self.draw(images, key)
        return out["corrupted"], out["clean"]

    def compute_output_spec(self, images, key):
        spec = keras.KerasTensor(images.shape, dtype="float32")
        return spec, spec

    def get_config(self):
        return {**super().get_config(), "flips": self.flips, "kernel_size": self.kernel_size,
                "sigma_range": list(self.sigma_range), "noise_std": self.noise_std,
                "sharp_fraction": self.sharp_fraction}


class CorruptionTrainer(keras.Model):
    """Training-time wrapper: clean uint8 batches in, the restoration ``model`` trained on their corruption.

    Called with a :class:`deblur.training.pipeline.DeviceBatches` batch, it corrupts it and returns ``{"restored":
    model(corrupted), "target": clean}`` for :meth:`compute_loss`; with a float array (the fixed validation images) it
    is ``model`` itself. It owns no weights: compiled with ``model.optimizer``, it trains ``model`` and its state."""

    def __init__(self, model, corruption, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.corruption = corruption
        self.built = model.built  # no weights of its own to create

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            corrupted, target = self.corruption(inputs["images"], inputs["key"])
            return {"restored": self.model(corrupted, training=training), "target": target}
        return self.model(inputs, training=training)

    # The loss and metrics compare the restoration with the clean batch the step drew (y is None in training).
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        y, y_pred = (y_pred["target"], y_pred["restored"]) if isinstance(y_pred, dict) else (y, y_pred)
        return super().compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        y, y_pred = (y_pred["target"], y_pred["restored"]) if isinstance(y_pred, dict) else (y, y_pred)
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)
