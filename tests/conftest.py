"""Shared fixtures. Keras logs are quietened; every random input is seeded."""

import os
import sys
from pathlib import Path

# The repository root, so that tests import ``tools`` (the repository's tooling, not installed).
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

# jsonschema (under nbformat and papermill) imports rfc3987_syntax when it is installed (jupyter pulls it in), which
# builds a Lark grammar at import: 8 s of every test process's start on a CPU without AVX-512, for a format checker
# ("iri") that notebooks never use. Marked absent, jsonschema skips that checker.
sys.modules.setdefault("rfc3987_syntax", None)

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


def trained_once(tmp_path_factory, name, train):
    """A run folder that ``train(run_dir)`` fills once per test session, shared by the xdist workers.

    For tests that only read a finished run: the first to ask trains it (under a file lock), the others wait and
    reuse it. (``xdist_group`` cannot keep such tests on one worker: pytest 9 ignores the group suffix xdist adds.)
    """
    import filelock

    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root  # the session's folder, all workers'
    run_dir = root / "trained-once" / name
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(run_dir) + ".lock"):
        if not (run_dir / "model.keras").exists():
            train(run_dir)
    return run_dir


def smooth_images(n, seed=0, size=16):
    """Low-frequency random images (4x4 noise upsampled), uint8.

    16x16 by default: tests of run folders, resume and step counting do not depend on the image size, and 16x16 costs
    a quarter of CIFAR's 32x32 (the CAE is built for 16x16 with :func:`cae16`).
    """
    rng = np.random.default_rng(seed)
    coarse = rng.random((n, 4, 4, 3))
    return (np.kron(coarse, np.ones((1, size // 4, size // 4, 1))) * 255).astype(np.uint8)


def cae16(seed=0):
    """The study's CAE (all of its layers, BatchNorm state included) on 16x16 inputs."""
    from deblur import models

    return models.cae(input_shape=(16, 16, 3), seed=seed)


def _cae_recipe():
    from deblur.recipe import Epochs, Recipe

    return Recipe("cae", length=Epochs(6), batch_size=16, validation_split=0.25, seed=0)


#: The study's CAE on 64 smooth images (48 trained in 3 batches of 16, 16 validated), 6 epochs: :func:`cae_run_dir`.
CAE_RECIPE = _cae_recipe()


@pytest.fixture(scope="session")
def cae_run_dir(tmp_path_factory):
    """A finished run folder of :data:`CAE_RECIPE` on ``smooth_images(64)``, trained once per session."""
    from deblur import training

    return trained_once(tmp_path_factory, "cae", lambda run_dir: training.train(
        cae16(0), smooth_images(64), CAE_RECIPE, run_dir=run_dir, verbose=0))


# ----------------------------------------------------------- order for two workers
# The longest tests first, in this order (measured on the 2-core CPU): with `--dist loadgroup` (pyproject addopts)
# every test is its own unit and units go to the workers in collection order, each worker holding two at most:
# the first and third start on one worker, the second and fourth on the other, and the short tests fill in at the
# end. A name missing here only loses its place; nothing fails.
LONGEST_FIRST = (
    "test_notebook.py::test_notebook_runs_top_to_bottom_on_tiny_profile",
    "test_distributed.py::test_two_processes_train_what_one_does_survive_a_killed_worker_and_resume_only_as_two",
    "test_notebook.py::test_notebook_pretrained_profile_shows_the_full_comparison_without_training",
    "test_faults.py::test_sigkill_mid_epoch_then_resume",
    "test_devices.py::test_two_virtual_devices_match_one[jax]",
    "test_cli.py::test_train_evaluate_plot_on_the_stand_in",
    "test_models.py::test_deblurnet_short_training_beats_identity",
    "test_bench.py::test_throughput_benchmark_measures_every_input_path_and_renders",
    "test_training.py::test_interrupted_run_resumes_and_keeps_what_was_saved",
    "test_devices.py::test_two_virtual_devices_match_one[tensorflow]",
    "test_device_corruption.py::test_blur_noise_and_draws_on_jax",
    "test_training.py::test_a_time_budget_records_its_steps_and_replays_exactly_on_any_machine",
    "test_plots.py::test_figures_from_runs_redraws_without_training",
    "test_blur_estimator.py::test_network_estimator_learns_sigma_better_than_the_mean",
    "test_nonblind.py::test_nonblind_training_learns_and_resumes_with_its_custom_layer",
    "test_pretrained.py::test_shipped_models_clearly_beat_identity_on_100_test_images",
    "test_device_corruption.py::test_device_corruption_trains_saves_the_plain_model_and_resumes_exactly",
    "test_cli_fuzz.py::test_a_real_process_prints_one_line_even_after_loading_keras",
    "test_cli.py::test_a_real_restore_process_writes_nothing_on_stderr_but_its_own",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}

    def key(item):
        name = item.nodeid.split("tests/", 1)[-1]
        return rank.get(name, len(rank))

    items.sort(key=key)  # stable: every other test keeps pytest's order
