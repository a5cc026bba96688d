"""experiments/frontier.py: the compute budget, and a tiny run end to end (device corruption, record)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from deblur import files
from tools import records

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("frontier", ROOT / "experiments" / "frontier.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


frontier = _load()


def test_the_budget_is_the_shipped_win5rb_training_compute():
    ref = frontier.reference_compute_gflop()
    assert ref["images_seen"] == 20 * 45_000
    assert ref["compute_gflop"] / 1e3 == pytest.approx(2350, abs=1)  # TFLOP
    steps = frontier.steps_within(ref["compute_gflop"], gflops_per_image=1.228275712, batch_size=64)
    assert steps * 64 * 1.228275712 <= ref["compute_gflop"] < (steps + 1) * 64 * 1.228275712


def test_tiny_run_trains_on_the_device_path_and_writes_its_record(tmp_path, monkeypatch):
    from deblur import data

    rng = np.random.default_rng(0)
    coarse = rng.random((400, 4, 4, 3))
    x = (np.kron(coarse, np.ones((1, 8, 8, 1))) * 255).astype(np.uint8)
    y = np.zeros(len(x), np.int64)
    monkeypatch.setattr(data, "load_cifar10", lambda source=None: ((x[:300], y[:300]), (x[300:], y[300:])))
    out = tmp_path / "frontier.json"
    argv = ["--tiny", "--run-dir", str(tmp_path / "run"), "--out", str(out), "--verbose", "0"]
    record = frontier.main(argv)
    doc = records.read_report(out)
    saved = doc["records"]["frontier-tiny"]
    assert saved["steps"] == frontier.TINY["steps"] and saved["finished"] and saved["tiny"]
    assert saved["n_train"] == 300 and saved["test_metrics"]["n_images"] == 100
    assert saved["training_compute_tflop"] <= saved["budget_tflop"]
    assert saved["recipe"]["corruption"] == "device" and saved["recipe"]["global_clipnorm"] == 1.0
    assert doc["command"] == "python experiments/frontier.py " + " ".join(argv)
    assert saved["machine"]["backend"] and saved["date"]
    config = files.read_json(tmp_path / "run" / "config.json")
    assert config["corruption"] == "device" and config["global_clipnorm"] == 1.0 and config["batch_size"] == 16
    assert record["test_metrics"]["mse"] == saved["test_metrics"]["mse"] > 0
    # DeblurNet starts as the identity: six small steps must not make it worse than doing nothing.
    assert saved["test_metrics"]["mse"] < 1.05 * saved["identity_metrics"]["mse"]


def test_tiny_needs_its_own_report():
    with pytest.raises(SystemExit):
        frontier.parse_args(["--tiny"])
