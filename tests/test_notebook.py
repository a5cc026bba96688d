"""Executes the whole notebook, headless, with a tiny parameter set on the offline stand-in data."""

import json
import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "CIFAR_10_Image_Deblurring.ipynb"
# The offline CIFAR-10 stand-in lives beside the project root (see its README).
ARCHIVE = ROOT.parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


def code_cells():
    return [c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]


def test_notebook_has_parameters_cell_and_holds_no_library_logic():
    cells = code_cells()
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and 'PROFILE = "quick"' in tagged[0].source
    for cell in cells:
        for line in cell.source.splitlines():
            assert not line.lstrip().startswith(("def ", "class ")), "logic belongs in deblur/"


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_on_tiny_profile(tmp_path):
    if not ARCHIVE.exists():
        message = f"offline CIFAR-10 stand-in not found at {ARCHIVE}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (under CI the archive is required)")
        pytest.skip(message)
    papermill = pytest.importorskip("papermill")
    results_dir = tmp_path / "results"
    out = tmp_path / "executed.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={
            "PROFILE": "tiny",
            "DATA": str(ARCHIVE),
            "RESULTS_DIR": str(results_dir),
            "OVERRIDES": {"n_train": 160, "n_test": 64},
        },
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    folder = results_dir / "tiny"
    summary = json.loads((folder / "results.json").read_text())
    assert set(summary["results"]) == {"identity", "cae", "win5rb"}
    for name in ("identity", "cae", "win5rb"):
        assert summary["results"][name]["n_images"] == 64
        assert summary["results"][name]["mse"] > 0
    assert summary["profile"]["reduced"] is True
    assert summary["parameters"] == {"cae": 779_395, "win5rb": 1_276_879}
    assert summary["epochs"] == {"cae": 1, "win5rb": 1}
    for fig in ("samples.png", "loss_curves.png", "comparison.png",
                "regenerated/loss_curves.png", "regenerated/comparison.png"):
        assert (folder / fig).stat().st_size > 1000, fig
    for name in ("cae", "win5rb"):
        assert (folder / "runs" / name / "model.keras").exists()
    executed = nbformat.read(out, as_version=4)
    text = "\n".join(
        o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "REDUCED RUN" in text
    assert "identity" in text
