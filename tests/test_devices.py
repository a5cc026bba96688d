"""Data parallelism on two virtual CPU devices equals single-device training.

Each backend must be told about the virtual devices before it starts, so
every check runs in a fresh subprocess.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import keras
    from deblur import models, training
    from deblur.recipe import Epochs, Recipe
    from deblur.training import devices

    if keras.backend.backend() == "tensorflow":
        devices.split_cpu(2)
    rng = np.random.default_rng(0)
    x = (np.kron(rng.random((64, 4, 4, 3)), np.ones((1, 4, 4, 1))) * 255).astype(np.uint8)

    def run(run_dir):
        model = models.deblurnet(seed=0, width=16, blocks=1, head=8)
        recipe = Recipe("deblurnet", length=Epochs(2), batch_size=16, corruption="fresh", validation_split=0.0,
                        precision="float32")  # one device and two agree to 1e-4 in float32, not in bfloat16
        out = training.train(model, x, recipe, run_dir=run_dir, verbose=0)
        return out.history["loss"], [w.tolist() for w in out.model.get_weights()]

    single_loss, single_w = run(os.path.join(sys.argv[1], "single"))
    with devices.data_parallel() as replicas:
        dp_loss, dp_w = run(os.path.join(sys.argv[1], "parallel"))
    print(json.dumps({"replicas": replicas, "devices": devices.list_devices(),
                      "single": single_loss, "parallel": dp_loss,
                      "max_weight_diff": max(float(np.abs(np.array(a) - np.array(b)).max())
                                             for a, b in zip(single_w, dp_w))}))
    """
)

BACKENDS = ["tensorflow", "jax"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_virtual_devices_match_one(backend, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    script = tmp_path / "dp.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2, report["devices"]
    assert report["parallel"] == pytest.approx(report["single"], rel=1e-4)
    assert report["max_weight_diff"] < 1e-4
