"""Where a run happened: :func:`machine_info` (CPU and AVX-512, cores, Python, Keras, backend, accelerators).

The notebook, the training code and the repository's records all note the
machine a result came from. Importing this module does not import Keras;
:func:`machine_info` does, when called.
"""

from __future__ import annotations

import os
import platform

__all__ = ["machine_info"]


def machine_info():
    """Where a run happened: CPU (and whether it has AVX-512), cores, Python, Keras, backend, accelerators.

    Returns
    -------
    dict
    """
    info = {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "avx512": _has_avx512(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    try:
        import keras
    except ImportError:  # pragma: no cover - keras is a dependency
        return info
    info["keras"] = keras.__version__
    info["backend"] = keras.backend.backend()
    info["devices"] = _accelerators(info["backend"])
    return info


def _accelerators(backend):
    """Names of the backend's accelerators (GPUs/TPUs); empty on a CPU-only run."""
    try:
        if backend == "jax":
            import jax

            return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
        if backend == "tensorflow":
            import tensorflow as tf

            return [d.name for d in tf.config.list_physical_devices("GPU")]
        if backend == "torch":
            import torch

            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # noqa: BLE001 - informational only; never fail a run over it
        pass
    return []


def _cpuinfo():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def _cpu_model():
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _has_avx512():
    """True/False from /proc/cpuinfo's flags (``None`` where there is no such file)."""
    text = _cpuinfo()
    for line in text.splitlines():
        if line.startswith("flags"):
            return "avx512f" in line.split()
    return None
