"""Where code runs: the machine, who watches (every progress display follows :func:`frontend`), the precision.

Importing this module does not import Keras; :func:`machine_info` and :func:`resolve_precision` do, when called."""

from __future__ import annotations

import contextlib
import os
import platform
import sys

__all__ = ["machine_info", "frontend", "quiet_startup", "PRECISIONS", "bfloat16_native", "resolve_precision"]

#: What ``precision=`` accepts (training recipes, :func:`deblur.restore`, ``deblur restore --precision``).
PRECISIONS = ("auto", "float32", "bfloat16")


def machine_info():
    """Where a run happened (a dict): CPU and whether it has AVX-512, cores, Python, Keras, backend, accelerators."""
    import keras
    fields, backend = _cpu_fields(), keras.backend.backend()
    flags = fields.get("flags")  # None without /proc/cpuinfo: unknown
    return {"platform": platform.platform(), "processor": fields.get("model name") or platform.processor() or "unknown",
            "avx512": None if flags is None else "avx512f" in flags.split(),
            "bfloat16": None if flags is None else bfloat16_native(), "cpu_count": os.cpu_count(),
            "python": platform.python_version(), "keras": keras.__version__, "backend": backend,
            "devices": _accelerators(backend)}


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


def bfloat16_native():
    """Whether the CPU computes bfloat16 natively (AVX-512 BF16, AMX); elsewhere it is emulated, slower than float32."""
    return bool({"avx512_bf16", "amx_bf16"} & set(_cpu_fields().get("flags", "").split()))


def resolve_precision(precision="auto"):
    """``"float32"`` or ``"bfloat16"``: what ``precision`` means on this machine.

    ``"auto"`` is bfloat16 (Keras's ``mixed_bfloat16``: float32 weights, bfloat16 arithmetic) on a CPU that computes it
    natively (:func:`bfloat16_native`) when no accelerator is in use, float32 otherwise.

    >>> resolve_precision("float32")
    'float32'"""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}; got {precision!r}.")
    if precision != "auto":
        return precision
    if not bfloat16_native():
        return "float32"
    import keras  # only here: importing this module does not import Keras
    return "float32" if _accelerators(keras.backend.backend()) else "bfloat16"


def _cpu_fields():
    """/proc/cpuinfo's first processor as a dict (empty where there is no such file)."""
    try:  # Linux; elsewhere the CPU model comes from platform.processor()
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return {key.strip(): value.strip() for key, value in (line.split(":", 1) for line in f if ":" in line)}
    except OSError:
        return {}


def frontend():
    """Who watches this process's output: ``"jupyter"``, ``"terminal"`` or ``None`` (papermill, CI, a pipe or file).

    ``"jupyter"``: a kernel a person's frontend drives (headless executors send cells with ``allow_stdin`` false)."""
    if "papermill" in sys.modules or os.environ.get("PAPERMILL_EXECUTION") or os.environ.get("CI"):
        return None
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        return "jupyter" if getattr(kernel, "_allow_stdin", True) else None
    return "terminal" if getattr(sys.stdout, "isatty", lambda: False)() else None


@contextlib.contextmanager
def quiet_startup():
    """Import the Keras backend inside this block to keep TensorFlow's native start-up log out of the output.

    E.g. ``with machine.quiet_startup(): from deblur import models``. TensorFlow logs from C++ to fd 2 before any log
    level applies (tensorflow#100442), so fd 2 goes to the null device inside; ``TF_CPP_MIN_LOG_LEVEL`` defaults to 3.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        if sys.stderr is not None:
            sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 to redirect (an embedded interpreter)
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
