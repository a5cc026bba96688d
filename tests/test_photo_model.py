"""experiments/photo_model.py (issue 40): the bar's photo cases and the script's refusal to write onto its data."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture(scope="module")
def photo_model():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        return importlib.import_module("photo_model")
    finally:
        sys.path.remove(str(EXPERIMENTS))


def test_the_photo_cases_cover_the_bars_families_and_stay_in_range(photo_model):
    photos = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)
    cases = photo_model.photo_cases(photos, np.random.default_rng(1))
    assert sorted({family for family, _ in cases}) == ["defocus", "gaussian", "jpeg", "shake"]
    assert len(cases) == sum(len(s) for s in photo_model.PHOTO_GRID.values())
    clean, degraded = cases["shake", 21.0]
    assert clean.shape == degraded.shape == (2 * photo_model.SHAKES_PER_EXTENT, 64, 64, 3)
    assert 0.0 <= degraded.min() and degraded.max() <= 1.0  # as a camera stores them
    assert not np.allclose(degraded, clean, atol=0.02)


def test_the_record_is_never_written_onto_the_data(photo_model, tmp_path):
    archive = tmp_path / "bsds.tar.gz"
    archive.write_bytes(b"not really an archive")
    with pytest.raises(SystemExit) as exit_:
        photo_model.main(["ablate", "--data", str(archive), "--out", str(archive), "--run-root", str(tmp_path / "r")])
    assert exit_.value.code == 2 and archive.read_bytes() == b"not really an archive"
    assert not (tmp_path / "r").exists()
