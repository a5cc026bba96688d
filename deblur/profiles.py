"""Deprecated: the run sizes moved to :mod:`deblur.study` (removed in the next release).

``deblur.profiles.get_profile`` and friends keep working for one release, with
a ``DeprecationWarning``; use ``deblur.study.get_profile`` (and
``deblur.records.machine_info``) instead.
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
