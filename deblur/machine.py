"""Where code runs: :func:`machine_info` (the machine), :func:`frontend` (who watches), :func:`quiet_startup`.

Every progress display (Keras's bar in training, tqdm bars, the notebook's sliders) follows :func:`frontend`.
Importing this module does not import Keras; :func:`machine_info` does, when called.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys

__all__ = ["machine_info", "frontend", "quiet_startup"]


def machine_info():
    """Where a run happened (a dict): CPU and whether it has AVX-512, cores, Python, Keras, backend, accelerators."""
    info = {"platform": platform.platform(), **_cpu(), "cpu_count": os.cpu_count(),
            "python": platform.python_version()}
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


def _cpu():
    """``processor`` (the CPU model) and ``avx512`` (from /proc/cpuinfo's flags; None where there is no such file)."""
    try:  # Linux; elsewhere the CPU model comes from platform.processor()
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            fields = {key.strip(): value.strip() for key, value in (line.split(":", 1) for line in f if ":" in line)}
    except OSError:
        fields = {}
    flags = fields.get("flags")
    return {"processor": fields.get("model name") or platform.processor() or "unknown",
            "avx512": None if flags is None else "avx512f" in flags.split()}


def frontend():
    """Who watches this process's output: ``"jupyter"``, ``"terminal"`` or ``None`` (papermill, CI, a pipe or file).

    ``"jupyter"``: a kernel a person's frontend drives (headless executors send cells with ``allow_stdin`` false).
    """
    if "papermill" in sys.modules or os.environ.get("PAPERMILL_EXECUTION") or os.environ.get("CI"):
        return None
    shell = sys.modules["IPython"].get_ipython() if "IPython" in sys.modules else None
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        return "jupyter" if getattr(kernel, "_allow_stdin", True) else None
    stream = sys.stdout
    return "terminal" if stream is not None and hasattr(stream, "isatty") and stream.isatty() else None


@contextlib.contextmanager
def quiet_startup():
    """Import the Keras backend inside this block to keep TensorFlow's native start-up log out of the output.

    ::

        with machine.quiet_startup():
            from deblur import models, study

    TensorFlow writes that log from C++ to file descriptor 2 before any log level applies (tensorflow#100442):
    inside the block fd 2 goes to the null device; ``TF_CPP_MIN_LOG_LEVEL`` defaults to 3 for the rest of the process.
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
