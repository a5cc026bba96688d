"""Deprecated: the run sizes moved to :mod:`deblur.study` (removed in the next release).

The names stay importable from here for one release, with a
``DeprecationWarning``: ``Profile``, ``PROFILES``, ``get_profile``,
``RECIPES``, ``STUDY_REPORTED`` (now :mod:`deblur.study`'s) and
``machine_info`` (now :func:`deblur.records.machine_info`). What changed with
the move: a profile's per-model ``lengths`` (epochs, steps or a time budget)
replace ``epochs``, the batch size and validation split are part of each
:class:`deblur.study.Recipe`, and ``recipe_for(name)`` returns that recipe
(its ``build`` and ``train_kwargs()`` are the old pair).
"""

import warnings

from .records import machine_info
from .study import PROFILES, RECIPES, STUDY_REPORTED, Profile, get_profile

warnings.warn(
    "deblur.profiles moved: use deblur.study (get_profile, PROFILES, RECIPES, STUDY_REPORTED) and "
    "deblur.records.machine_info; deblur.profiles goes in the next release.",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["Profile", "PROFILES", "get_profile", "RECIPES", "STUDY_REPORTED", "machine_info"]
