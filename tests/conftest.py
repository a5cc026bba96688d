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
