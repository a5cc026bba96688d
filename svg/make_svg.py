"""Regenerate (or check) the architecture diagrams in this folder.

Usage::

    python svg/make_svg.py           # write svg/CAE.svg, svg/Win5RB.svg and svg/DeblurNet.svg
    python svg/make_svg.py --check   # write nothing; exit 1 if either is stale

The diagrams are drawn by ``model_svg`` of ``diagrams.py`` (next to this
script; tooling, not part of the package) from the models that the builders
in :mod:`deblur.models` return, so they show the code as it is. The models drawn:

- ``CAE.svg``: ``deblur.models.cae()``, its default 32x32x3 (CIFAR-10) input,
  so the pooling and upsampling show as 32 -> 16 -> 8 -> 16 -> 32.
- ``Win5RB.svg``: ``deblur.models.win5rb()``, its default ``(None, None, 3)``
  input. Win5-RB is fully convolutional, so every shape reads ``H×W×C``,
  which says more than ``32×32×C`` on every row; the parameter count does not
  depend on the input size.
- ``DeblurNet.svg``: ``deblur.models.deblurnet()``, also ``(None, None, 3)``;
  the body's rows read ``H/2×W/2×C``.

Run it after changing a builder; ``tests/test_diagrams.py`` and ``--check``
(for CI) fail while the committed files differ from what the builders give.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _load_diagrams():
    """``svg/diagrams.py``, imported by path (this folder is not a package)."""
    spec = importlib.util.spec_from_file_location("svg_diagrams", HERE / "diagrams.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


diagrams = _load_diagrams()


#: File name -> (builder name in deblur.models, builder kwargs, diagram title).
DIAGRAMS = {
    "CAE.svg": ("cae", {}, "CAE: convolutional autoencoder (input 32×32×3)"),
    "Win5RB.svg": ("win5rb", {}, "Win5-RB: wide residual denoiser (input H×W×3, any size)"),
    "DeblurNet.svg": ("deblurnet", {}, "DeblurNet: residual blocks at half resolution (input H×W×3, even sizes)"),
}


def _models():
    """Yield ``(file name, model, title)`` for every diagram."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        from deblur import models
    except ImportError:  # run from a checkout without `pip install -e .`
        sys.path.insert(0, str(HERE.parent))
        from deblur import models

    for name, (builder, kwargs, title) in DIAGRAMS.items():
        yield name, getattr(models, builder)(**kwargs), title


def expected_svgs():
    """The SVG documents the builders produce now.

    Returns
    -------
    svgs : dict of str to str
        File name (in this folder) -> SVG document.
    """
    return {name: diagrams.model_svg(model, title=title) for name, model, title in _models()}


def _differs(path, svg):
    path = Path(path)
    return not path.is_file() or path.read_bytes() != svg.encode("utf-8")


def stale_files(folder=HERE):
    """Names of the diagram files in ``folder`` that are missing or differ."""
    return [name for name, svg in expected_svgs().items() if _differs(Path(folder) / name, svg)]


def main(argv=None):
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 listing the files that differ from the builders",
    )
    args = parser.parse_args(argv)

    if args.check:
        stale = stale_files()
        for name in stale:
            print(f"out of date: {HERE / name}")
        if stale:
            print("Run `python svg/make_svg.py` to regenerate.", file=sys.stderr)
            return 1
        print("Architecture diagrams are up to date.")
        return 0

    svgs = expected_svgs()  # imports deblur, from this checkout if it is not installed
    from deblur.files import atomic_write_text

    for name, svg in svgs.items():
        path = HERE / name
        if _differs(path, svg):
            atomic_write_text(path, svg)
            print(f"wrote {path}")
        else:
            print(f"unchanged {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
