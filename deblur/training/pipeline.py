"""Training input pipeline that corrupts every batch as it is drawn.

The study corrupts the whole data set once, up front, and keeps float64
copies of the clean and corrupted images in memory (about 2.9 GB for the
60,000 CIFAR-10 images). :class:`FreshCorruption` instead keeps the clean
images as they came (uint8: 150 MB for 50,000 images) and corrupts each batch
when Keras asks for it, with a new blur sigma and new noise every epoch, so
a model never sees the same corrupted image twice. Everything random is a
pure function of ``(seed, epoch, batch)``: a run is repeatable, and a resumed
run sees exactly the batches an uninterrupted one would.

It is a ``keras.utils.PyDataset``, so it feeds ``model.fit`` on every Keras
backend; ``workers=2`` prepares batches on a second thread while the model
trains.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from .._validation import check_images, to_float32
from ..corruption import _corrupt_into, check_noise, check_settings, noise_levels

__all__ = ["EpochBatches", "ImagePairs", "FreshCorruption", "DeviceBatches", "epoch_order", "batch_key"]


def epoch_order(n, *, seed, epoch, shuffle=True):
    """The order in which epoch ``epoch`` visits ``n`` images.

    ``default_rng([seed, epoch]).permutation(n)``: a pure function of the
    seed and the epoch, never of global random state or of how many epochs
    ran before.

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


def batch_key(seed, epoch, step):
    """The random key of batch ``step`` of epoch ``epoch``: two int32 from ``(seed, epoch, step)``.

    ``default_rng([seed, epoch, step, 2]).integers(0, 2**31, 2)``: the
    device corruption (:class:`deblur.device_corruption.DeviceCorruption`)
    draws a batch's flips, sigmas and noise from it, so they are a pure
    function of the seed, the epoch and the step (the trailing 2 keys this
    stream apart from :class:`FreshCorruption`'s, which ends in 1).

    Returns
    -------
    ndarray of int32, shape (2,)
    """
    return np.random.default_rng([int(seed), int(epoch), int(step), 2]).integers(0, 2**31, size=2).astype(np.int32)


class EpochBatches(keras.utils.PyDataset):
    """Batches of an image set over epochs ``start_epoch .. epochs - 1``, back to back.

    The shared indexing of :class:`ImagePairs` and :class:`FreshCorruption`:
    item ``i`` is batch ``i % batches_per_epoch`` of epoch ``start_epoch + i
    // batches_per_epoch``, and batch ``b`` of epoch ``e`` holds the images at
    ``epoch_order(n, seed=seed, epoch=e)[b * batch_size : (b + 1) * batch_size]``
    (sorted, so memory is read in order). Subclasses implement
    ``batch(epoch, step)``. Train with ``steps_per_epoch=batches_per_epoch``
    and ``shuffle=False``.

    Parameters
    ----------
    n : int
        Number of images.
    batch_size : int
    seed : int
    epochs : int
        Index one past the last epoch to serve.
    start_epoch : int, default 0
        First epoch to serve (the resume point).
    shuffle : bool, default True
        Reshuffle every epoch; False serves the images in order.
    workers : int, default 1
        Threads preparing batches ahead of the model (Keras's PyDataset option).
    """

    def __init__(self, n, *, batch_size, seed, epochs, start_epoch=0, shuffle=True, workers=1):
        super().__init__(workers=workers, use_multiprocessing=False)
        for value, name in ((batch_size, "batch_size"), (epochs, "epochs")):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if not 0 <= start_epoch <= epochs:
            raise ValueError(f"start_epoch must be in [0, epochs]; got {start_epoch}.")
        self.n = int(n)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.epochs = int(epochs)
        self.start_epoch = int(start_epoch)
        self.shuffle = bool(shuffle)
        self.batches_per_epoch = math.ceil(self.n / self.batch_size)
        self._orders = {}

    def __len__(self):
        return (self.epochs - self.start_epoch) * self.batches_per_epoch

    def indices(self, epoch, step):
        """Sorted indices of the images in batch ``step`` of epoch ``epoch``."""
        # Worker threads may ask for two epochs around a boundary; keep both.
        if epoch not in self._orders:
            if len(self._orders) > 2:
                self._orders.pop(min(self._orders))
            self._orders[epoch] = epoch_order(self.n, seed=self.seed, epoch=epoch, shuffle=self.shuffle)
        return np.sort(self._orders[epoch][step * self.batch_size : (step + 1) * self.batch_size])

    def batch(self, epoch, step):
        raise NotImplementedError

    def __getitem__(self, index):
        epoch = self.start_epoch + index // self.batches_per_epoch
        return self.batch(epoch, index % self.batches_per_epoch)


class ImagePairs(EpochBatches):
    """Fixed (corrupted, clean) pairs, reshuffled every epoch: the study's way.

    Parameters
    ----------
    inputs, targets : ndarray, shape (N, H, W, C), float32
        Network inputs and targets, aligned.
    **kwargs
        ``batch_size``, ``seed``, ``epochs``, ``start_epoch``, ``shuffle``
        (see :class:`EpochBatches`).
    """

    def __init__(self, inputs, targets, **kwargs):
        if len(inputs) != len(targets):
            raise ValueError("inputs and targets must have the same length.")
        super().__init__(len(inputs), **kwargs)
        self.inputs = inputs
        self.targets = targets

    def batch(self, epoch, step):
        idx = self.indices(epoch, step)
        return self.inputs[idx], self.targets[idx]


class FreshCorruption(EpochBatches):
    """Batches of (corrupted, clean) pairs, corrupted anew every epoch.

    Batch ``b`` of epoch ``e`` takes the images at ``epoch_order(...)[b *
    batch_size : (b + 1) * batch_size]``, optionally flips each one
    (horizontally and/or vertically, each with probability 1/2: the blur and
    the noise are symmetric, so a flipped pair is as valid as the original),
    then blurs it with a sigma drawn from ``sigma_range`` and adds
    ``noise_std * N(0, 1)``, the study's corruption. The random draws of a
    batch come from ``default_rng([seed, e, b, 1])``.

    The data set serves epochs ``start_epoch .. epochs - 1`` back to back:
    train with ``steps_per_epoch=FreshCorruption.batches_per_epoch`` and
    ``shuffle=False``.

    Parameters
    ----------
    clean : ndarray, shape (N, H, W, C), uint8 or float in [0, 1]
        Clean images. Kept by reference, not copied or converted: uint8 data
        stays uint8 in memory.
    batch_size : int, default 32
    seed : int, default 0
    epochs : int, default 1
        Index one past the last epoch to serve.
    start_epoch : int, default 0
        First epoch to serve (the resume point).
    flips : bool, default False
        Random horizontal and vertical flips.
    shuffle : bool, default True
        Reshuffle every epoch; False serves the images in order.
    kernel_size, sigma_range, noise_std
        The corruption, as in :func:`deblur.corruption.corrupt`.
    workers : int, default 1
        Threads preparing batches ahead of the model (Keras's PyDataset
        option).
    sigma_input : bool, default False
        Serve ``{"corrupted": corrupted, "sigma": sigmas (B, 1)}`` as the
        input, for a model told the blur (the same draws as without).
    """

    def __init__(
        self,
        clean,
        *,
        batch_size=32,
        seed=0,
        epochs=1,
        start_epoch=0,
        flips=False,
        shuffle=True,
        kernel_size=5,
        sigma_range=(1.0, 4.0),
        noise_std=0.02,
        workers=1,
        sigma_input=False,
    ):
        clean = check_images(clean, name="clean")
        super().__init__(len(clean), batch_size=batch_size, seed=seed, epochs=epochs,
                         start_epoch=start_epoch, shuffle=shuffle, workers=workers)
        low, high = check_settings(kernel_size=kernel_size, sigma_range=sigma_range, noise_std=noise_std)
        self.clean = clean
        self.flips = bool(flips)
        self.kernel_size = int(kernel_size)
        self.sigma_range = (low, high)
        self.noise_std = check_noise(noise_std)
        self.sigma_input = bool(sigma_input)

    def batch(self, epoch, step):
        """The (corrupted, clean) pair of batch ``step`` of epoch ``epoch``.

        Returns
        -------
        corrupted, clean : ndarray of float32, shape (B, H, W, C)
            With ``sigma_input``, ``corrupted`` is ``{"corrupted": ...,
            "sigma": float32 (B, 1)}``.
        """
        idx = self.indices(epoch, step)
        rng = np.random.default_rng([self.seed, int(epoch), int(step), 1])
        clean = self.clean[idx]
        clean = to_float32(clean)
        if self.flips:
            horizontal, vertical = rng.random((2, len(idx))) < 0.5
            clean[horizontal] = clean[horizontal, :, ::-1]
            clean[vertical] = clean[vertical, ::-1]
        sigmas = rng.uniform(*self.sigma_range, size=len(idx))
        corrupted = _corrupt_into(
            clean, sigmas, rng, kernel_size=self.kernel_size,
            noise_std=noise_levels(self.noise_std, rng, len(idx)), workers=1
        )
        if self.sigma_input:
            return {"corrupted": corrupted, "sigma": sigmas.astype(np.float32)[:, None]}, clean
        return corrupted, clean


class DeviceBatches(EpochBatches):
    """Clean batches and their random keys, for corruption on the training device.

    Batch ``b`` of epoch ``e`` is ``{"images": clean[idx], "key": k}``: the
    clean images of :class:`EpochBatches`' indexing, as they are stored
    (uint8 stays uint8, a quarter of float32's bytes to the device), and
    ``k = batch_key(seed, e, b)`` repeated once per image (``int32, (B,
    2)``; one row per image keeps the batch axis that Keras splits on).
    :class:`deblur.device_corruption.CorruptionTrainer` corrupts the batch
    with the key inside the training step.

    Parameters
    ----------
    clean : ndarray, shape (N, H, W, C), uint8 or float in [0, 1]
        Kept by reference.
    **kwargs
        ``batch_size``, ``seed``, ``epochs``, ``start_epoch``, ``shuffle``,
        ``workers`` (see :class:`EpochBatches`).
    """

    def __init__(self, clean, **kwargs):
        clean = check_images(clean, name="clean")
        super().__init__(len(clean), **kwargs)
        self.clean = clean

    def batch(self, epoch, step):
        """``{"images": (B, H, W, C) as stored, "key": int32 (B, 2)}`` of batch ``step`` of ``epoch``."""
        idx = self.indices(epoch, step)
        key = np.broadcast_to(batch_key(self.seed, epoch, step), (len(idx), 2)).copy()
        return {"images": self.clean[idx], "key": key}
