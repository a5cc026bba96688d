"""Shared fixtures. Keras logs are quietened; every random input is seeded."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def images_uint8(rng):
    """Eight smooth-ish 32x32 RGB uint8 images (random noise blurred a little)."""
    x = rng.integers(0, 256, size=(8, 32, 32, 3), dtype=np.uint8)
    return x


# The offline CIFAR-10 stand-in lives beside the project root (see its README).
STAND_IN_ARCHIVE = __import__("pathlib").Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.fixture
def stand_in_archive():
    """Path of the offline stand-in; a missing archive skips, or fails under CI (CI=true)."""
    if not STAND_IN_ARCHIVE.exists():
        message = f"offline CIFAR-10 stand-in not found at {STAND_IN_ARCHIVE}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (under CI the archive is required)")
        pytest.skip(message)
    return STAND_IN_ARCHIVE
