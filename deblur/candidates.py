"""Deprecated: the ablation architectures moved out of the package.

``nafunet``, ``plain_resnet`` and ``CANDIDATES`` are research, not library:
they live in ``experiments/candidates.py`` now. ``win5rb_fixed`` is
``deblur.models.win5rb(identity_init=True)``. The FLOP counter is public as
:func:`deblur.models.conv_flops_per_pixel`, re-exported here for one release.
"""

from __future__ import annotations

import warnings

from .models import conv_flops_per_pixel

__all__ = ["conv_flops_per_pixel"]

_MESSAGE = (
    "deblur.candidates moved to experiments/candidates.py; "
    "conv_flops_per_pixel is deblur.models.conv_flops_per_pixel"
)
_MOVED = {"win5rb_fixed", "nafunet", "plain_resnet", "CANDIDATES"}

warnings.warn(_MESSAGE, DeprecationWarning, stacklevel=2)


def __getattr__(name):
    if name in _MOVED:
        hint = " (win5rb_fixed is deblur.models.win5rb(identity_init=True))" if name == "win5rb_fixed" else ""
        raise AttributeError(f"deblur.candidates.{name} is gone: {_MESSAGE}{hint}.")
    raise AttributeError(f"module 'deblur.candidates' has no attribute {name!r}")
