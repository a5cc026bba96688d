"""A training run killed with SIGKILL mid-epoch resumes and loses nothing saved."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np

from deblur import training

# Trains DeblurNet on 640 smooth 16x16 images, batch 8 (80 steps an epoch),
# with fresh corruption; the same script resumes the run when run again.
SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    from deblur import models, training
    from deblur.recipe import Epochs, Recipe

    rng = np.random.default_rng(0)
    coarse = rng.random((640, 4, 4, 3))
    x = (np.kron(coarse, np.ones((1, 4, 4, 1))) * 255).astype(np.uint8)
    recipe = Recipe("deblurnet", length=Epochs(int(sys.argv[2])), batch_size=8, corruption="fresh", flips=True)
    run = training.train(models.deblurnet(seed=0, width=16, blocks=1, head=8), x, recipe, run_dir=sys.argv[1],
                         verbose=0)
    print("EPOCHS", len(run.history["loss"]))
    """
)


def _history(run_dir):
    path = run_dir / "history.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:  # pragma: no cover - atomic writes make this impossible
        raise AssertionError("history.json was found half-written") from None


def test_sigkill_mid_epoch_then_resume(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    run_dir = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    epochs = 4
    child = subprocess.Popen([sys.executable, str(script), str(run_dir), str(epochs)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            doc = _history(run_dir)
            if doc and len(doc["epochs"]) >= 1:
                break
            assert child.poll() is None, child.stderr.read().decode()[-2000:]
            time.sleep(0.05)
        else:
            raise AssertionError("the first epoch did not finish in time")
        # Kill half-way through the next epoch.
        time.sleep(doc["epochs"][0]["seconds"] / 2)
        assert child.poll() is None, "training ended before it could be killed"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    # The killed run's lock file stays behind, but the kernel released its lock: it blocks nobody.
    assert (run_dir / training.LOCK_FILE).exists()

    # Everything saved before the kill is intact and loadable.
    doc = _history(run_dir)
    done = len(doc["epochs"])
    assert 1 <= done < epochs
    assert [e["epoch"] for e in doc["epochs"]] == list(range(1, done + 1))
    config = json.loads((run_dir / "config.json").read_text())
    assert config["corruption"] == "fresh"
    checkpoint = keras.models.load_model(run_dir / doc["checkpoint"])
    assert checkpoint.name == "deblurnet"

    # Resuming finishes the run, losing at most the epoch that was in flight.
    result = subprocess.run([sys.executable, str(script), str(run_dir), str(epochs)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"EPOCHS {epochs}" in result.stdout
    doc = _history(run_dir)
    assert [e["epoch"] for e in doc["epochs"]] == list(range(1, epochs + 1))
    final = training.load_run(run_dir)
    assert len(final.history["loss"]) == epochs
    x = np.random.default_rng(1).random((2, 16, 16, 3), dtype=np.float32)
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(final.model(x))))
    leftovers = [p.name for p in run_dir.iterdir() if ".tmp" in p.name]
    assert leftovers == [] and not (run_dir / ".lock.holder").exists()  # the lock is released
