"""Deprecated: ``python -m deblur.reproduce`` is now ``python -m deblur reproduce``.

This module keeps the old entry points working for one release, each with a
``DeprecationWarning``: :func:`main` runs the ``reproduce`` subcommand,
:func:`load_profile_data` is :func:`deblur.study.load_profile_data`, and
:func:`train_model` calls :func:`deblur.study.train_model` with the
profile's recipe. The rest moved without an alias: ``export_pretrained`` is
:func:`deblur.study.export_pretrained` (it takes the run's recipe), and the
report and table functions are :mod:`deblur.reports`.
"""

import sys
import warnings
from pathlib import Path

from . import study

__all__ = ["main", "load_profile_data", "train_model"]


def _warn(old, new):
    warnings.warn(f"deblur.reproduce.{old} is deprecated; use {new}. It goes in the next release.",
                  DeprecationWarning, stacklevel=3)


def load_profile_data(profile, source=None):
    """Deprecated alias of :func:`deblur.study.load_profile_data`."""
    _warn("load_profile_data", "deblur.study.load_profile_data")
    return study.load_profile_data(profile, source)


def train_model(name, profile, arrays, *, out_dir, time_limit=None, verbose="auto"):
    """Deprecated: ``study.train_model(profile.recipe_for(name), ...)`` in ``out_dir/runs/<name>``."""
    _warn("train_model", "deblur.study.train_model(profile.recipe_for(name), x_train, ...)")
    from .cli import _stop_after

    return study.train_model(profile.recipe_for(name), arrays["x_train"], arrays.get("x_train_corrupted"),
                             run_dir=Path(out_dir) / "runs" / name, seed=profile.seed, verbose=verbose,
                             callbacks=[_stop_after(time_limit)] if time_limit else ())


def main(argv=None):
    """Deprecated: runs ``python -m deblur reproduce`` with the same arguments."""
    _warn("main", "python -m deblur reproduce")
    from .cli import main as cli_main

    return cli_main(["reproduce", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
