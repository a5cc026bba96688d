"""Training input pipeline that corrupts every batch as it is drawn (``keras.utils.PyDataset`` subclasses).

:class:`FreshCorruption` keeps the clean images as they came (uint8: 150 MB for CIFAR-10) and corrupts each batch
when Keras asks. All draws are pure functions of ``(seed, epoch, batch)``: a resumed run sees the same batches."""

from __future__ import annotations

import math

import keras
import numpy as np

from .._validation import check_images, check_int, to_float32
from ..corruption import _corrupt_into, check_settings, draw_settings, draw_zoom, magnify
from .distributed import ProcessGroup

__all__ = ["EpochBatches", "ImagePairs", "FreshCorruption", "DeviceBatches", "epoch_order", "batches_per_epoch",
           "batch_key"]


def epoch_order(n, *, seed, epoch, shuffle=True):
    """Epoch ``epoch``'s order of ``n`` images (int64, (n,)): ``default_rng([seed, epoch]).permutation(n)``."""
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


def batches_per_epoch(n, batch_size, processes=1):
    """An epoch's batch count and the images it uses: all but up to ``processes - 1`` (the last batch splits evenly)."""
    used = n - (n % batch_size) % processes
    if used < 1:
        raise ValueError(f"{n} images are too few for {processes} processes.")
    return math.ceil(used / batch_size), used


def batch_key(seed, epoch, step):
    """Batch ``step`` of ``epoch``'s random key for :class:`~deblur.device_corruption.DeviceCorruption` (two int32)."""
    return np.random.default_rng([int(seed), int(epoch), int(step), 2]).integers(0, 2**31, size=2).astype(np.int32)


class EpochBatches(keras.utils.PyDataset):
    """Batches of an image set over epochs ``start_epoch .. epochs - 1``, back to back.

    Batch ``b`` of epoch ``e`` holds the images at ``epoch_order(n, seed=seed, epoch=e)[b * batch_size : (b + 1) *
    batch_size]``, sorted (in order if not ``shuffle``). Subclasses implement ``batch(epoch, step)``. Train with
    ``steps_per_epoch=batches_per_epoch`` and ``shuffle=False``. ``workers``: threads preparing batches ahead of the
    model (Keras's PyDataset option). With a ``group`` (:class:`~deblur.training.distributed.ProcessGroup`) only this
    process's shard of each batch is served; an epoch's last batch drops the images that do not split evenly."""

    def __init__(self, n, *, batch_size, seed, epochs, start_epoch=0, shuffle=True, workers=1, group=None):
        super().__init__(workers=workers, use_multiprocessing=False)
        self.batch_size = check_int(batch_size, "batch_size")
        self.epochs = check_int(epochs, "epochs")
        if not 0 <= start_epoch <= epochs:
            raise ValueError(f"start_epoch must be in [0, epochs]; got {start_epoch}.")
        self.n = int(n)
        self.seed = int(seed)
        self.start_epoch = int(start_epoch)
        self.shuffle = bool(shuffle)
        self.group = group or ProcessGroup()
        self.group.shard(self.batch_size)  # refuses a batch that does not split evenly
        self.batches_per_epoch, self.n_used = batches_per_epoch(self.n, self.batch_size, self.group.count)
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
        return np.sort(self._orders[epoch][step * self.batch_size : min((step + 1) * self.batch_size, self.n_used)])

    def local(self, values):
        """This process's part of a global batch's ``values`` (all of them for one process)."""
        start, stop = self.group.shard(len(values))
        return values[start:stop]

    def batch(self, epoch, step):
        raise NotImplementedError

    def __getitem__(self, index):
        epoch = self.start_epoch + index // self.batches_per_epoch
        return self.batch(epoch, index % self.batches_per_epoch)


class ImagePairs(EpochBatches):
    """Fixed, aligned float32 (corrupted, clean) pairs (N, H, W, C), reshuffled every epoch: the study's way."""

    def __init__(self, inputs, targets, **kwargs):
        if len(inputs) != len(targets):
            raise ValueError("inputs and targets must have the same length.")
        super().__init__(len(inputs), **kwargs)
        self.inputs, self.targets = inputs, targets

    def batch(self, epoch, step):
        idx = self.local(self.indices(epoch, step))
        return self.inputs[idx], self.targets[idx]


class FreshCorruption(EpochBatches):
    """Batches of (corrupted, clean) pairs, corrupted anew every epoch; ``clean`` kept by reference (uint8 stays uint8).

    A batch's images (indexed as by :class:`EpochBatches`, whose arguments these extend) are optionally flipped
    (horizontally and/or vertically, each with probability 1/2), then corrupted the study's way (``kernel_size``,
    ``sigma_range``, ``noise_std``, ``sharp_fraction`` as in :func:`deblur.corruption.corrupt`), with draws from
    ``default_rng([seed, e, b, 1])``. With a ``group``, every process draws the whole batch's random numbers and
    corrupts its shard only, so the shards of all processes are exactly the batch one process would serve.
    ``zoom_fraction`` of the clean images are magnified (:func:`deblur.corruption.magnify`) by a factor in
    ``zoom_range`` before they are corrupted (drawn last, only if > 0), the pair's target too. A ``degradation``
    (:class:`~deblur.degradations.Realistic`) replaces the study's Gaussian, its draws for the whole batch taken after
    the flips. ``sigma_input`` serves ``{"corrupted": corrupted, "sigma": sigmas (B, 1)}`` as input (same draws)."""

    def __init__(self, clean, *, batch_size=32, seed=0, epochs=1, start_epoch=0, flips=False, shuffle=True,
                 kernel_size=5, sigma_range=(1.0, 4.0), noise_std=0.02, sharp_fraction=0.0, zoom_fraction=0.0,
                 zoom_range=(1.0, 2.0), workers=1, sigma_input=False, group=None, degradation=None):
        clean = check_images(clean, name="clean")
        super().__init__(len(clean), batch_size=batch_size, seed=seed, epochs=epochs,
                         start_epoch=start_epoch, shuffle=shuffle, workers=workers, group=group)
        vars(self).update(check_settings(kernel_size=kernel_size, sigma_range=sigma_range, noise_std=noise_std,
                                         sharp_fraction=sharp_fraction, zoom_fraction=zoom_fraction,
                                         zoom_range=zoom_range))
        self.clean = clean
        self.flips = bool(flips)
        self.sigma_input = bool(sigma_input)
        self.degradation = degradation

    def batch(self, epoch, step):
        """Batch ``step`` of ``epoch``: a float32 (corrupted, clean) pair; the input a dict with ``sigma_input``."""
        idx = self.indices(epoch, step)
        rng = np.random.default_rng([self.seed, int(epoch), int(step), 1])
        start, stop = self.group.shard(len(idx))  # draws for the whole batch, pixels for this shard
        clean = to_float32(self.clean[idx[start:stop]])
        if self.flips:
            horizontal, vertical = (rng.random((2, len(idx))) < 0.5)[:, start:stop]
            clean[horizontal] = clean[horizontal, :, ::-1]
            clean[vertical] = clean[vertical, ::-1]
        if self.degradation is not None:
            return self.degradation.apply(clean, self.degradation.draw(rng, len(idx))[start:stop]), clean
        sigmas, levels = draw_settings(rng, len(idx), sigma_range=self.sigma_range, noise_std=self.noise_std,
                                       sharp_fraction=self.sharp_fraction)
        sigmas, levels = sigmas[start:stop], levels if np.ndim(levels) == 0 else levels[start:stop]
        zoom = draw_zoom(rng, len(idx), zoom_fraction=self.zoom_fraction, zoom_range=self.zoom_range)
        if zoom is not None:
            clean = magnify(clean, zoom[0][start:stop], zoom[1][start:stop])
        corrupted = _corrupt_into(clean, sigmas, rng, kernel_size=self.kernel_size, noise_std=levels, workers=1,
                                  skip=start)
        if self.sigma_input:
            return {"corrupted": corrupted, "sigma": sigmas.astype(np.float32)[:, None]}, clean
        return corrupted, clean


class DeviceBatches(EpochBatches):
    """Clean batches and their random keys, for corruption on the training device.

    Batch ``b`` of epoch ``e`` is ``{"images": clean[idx], "key": k}``: the clean images as stored, by reference (uint8
    sends a quarter of float32's bytes), and ``k = batch_key(seed, e, b)`` once per image (int32, (B, 2): Keras splits
    on the batch axis), which :class:`deblur.device_corruption.CorruptionTrainer` corrupts inside the training step."""

    def __init__(self, clean, **kwargs):
        clean = check_images(clean, name="clean")
        super().__init__(len(clean), **kwargs)
        self.clean = clean

    def batch(self, epoch, step):
        """``{"images": (B, H, W, C) as stored, "key": int32 (B, 2)}`` of batch ``step`` of ``epoch``."""
        idx = self.local(self.indices(epoch, step))
        key = np.broadcast_to(batch_key(self.seed, epoch, step), (len(idx), 2)).copy()
        return {"images": self.clean[idx], "key": key}
