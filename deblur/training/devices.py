"""Data-parallel training over every device of one machine: build *and* train the model inside :func:`data_parallel`.

Each batch is split evenly across the devices and the gradients averaged: single-device training with the same
global batch (on TensorFlow BatchNorm uses each device's own statistics). JAX and TensorFlow only. On a CPU, split
it into virtual devices first: on JAX ``XLA_FLAGS=--xla_force_host_platform_device_count=2``, else :func:`split_cpu`."""

from __future__ import annotations

import contextlib

import keras

from .._validation import check_int

__all__ = ["data_parallel", "list_devices", "split_cpu"]


def list_devices():
    """Names (str) of the devices :func:`data_parallel` uses: accelerators (e.g. ``"cuda:0"``) if any, else CPUs."""
    backend = keras.backend.backend()
    if backend == "jax":
        return list(keras.distribution.list_devices())
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        return [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    raise NotImplementedError(f"deblur.devices supports the jax and tensorflow backends, not {backend!r}; "
                              "on PyTorch use torchrun with DistributedDataParallel.")


@contextlib.contextmanager
def data_parallel(devices=None):
    """Build and train models inside this block to use every device (``devices``: names, default all of them).

    Yields the number of replicas: choose a batch size (and a training-set size) whose batches are all multiples of it.
    Raises ``NotImplementedError`` on the PyTorch backend, ``ValueError`` for an empty device list. An example:
    docs/research.md, "Training on several devices"."""
    devices = list(devices) if devices is not None else list_devices()
    if not devices:
        raise ValueError("data_parallel needs at least one device; got an empty list.")
    backend = keras.backend.backend()
    if backend == "jax":
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        try:
            yield len(devices)
        finally:
            keras.distribution.set_distribution(previous)
    elif backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(devices=devices)
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    else:
        list_devices()  # raises the explanatory NotImplementedError


def split_cpu(n):
    """TensorFlow only: split the CPU into ``n`` (>= 1) virtual devices (for testing), before any model is built."""
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("split_cpu is for the TensorFlow backend; on JAX set "
                           "XLA_FLAGS=--xla_force_host_platform_device_count=N before importing Keras.")
    check_int(n, "n")
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError as err:
        raise RuntimeError("split_cpu must be called before TensorFlow starts (before building any model): "
                           f"{err}") from None
