"""experiments/quick_seeds.py: the replayed step counts come from the quick record; the spread is the sample sd."""

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from tools import records

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_seeds():
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        yield importlib.import_module("quick_seeds")
    finally:
        sys.path.remove(str(ROOT / "experiments"))


def test_recorded_steps_replay_the_quick_records(quick_seeds, tmp_path):
    path = tmp_path / "results.json"
    recs = {"quick/cae": {"method": "cae", "trained": "140 s budget: ..., replay with --steps 122 --hold-steps 8"},
            "quick/identity": {"method": "identity (corrupted input)", "trained": "–"},
            "full/cae": {"method": "cae", "trained": "replay with --steps 9 --hold-steps 1"}}
    records.write_report(path, about="a", records=recs, command="c")
    assert quick_seeds.recorded_steps(path, "quick") == {"cae": {"steps": 122, "hold_steps": 8}}
    with pytest.raises(ValueError, match="--budget"):
        quick_seeds.recorded_steps(path, "tiny")


def test_summary_is_mean_and_sample_sd(quick_seeds):
    runs = [{"seed": s, "mse": m, "psnr": 20.0, "ssim": 0.5} for s, m in enumerate((0.004, 0.005, 0.009))]
    out = quick_seeds.summarise(runs)
    assert out["seeds"] == [0, 1, 2] and out["mse"]["mean"] == pytest.approx(0.006)
    assert out["mse"]["std"] == pytest.approx(np.std([0.004, 0.005, 0.009], ddof=1))
    assert (out["mse"]["min"], out["mse"]["max"], out["psnr"]["std"]) == (0.004, 0.009, 0.0)
