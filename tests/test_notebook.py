"""Executes the whole notebook, headless, with a tiny parameter set on the offline stand-in data."""

import base64
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "CIFAR_10_Image_Deblurring.ipynb"


def code_cells():
    return [c for c in nbformat.read(NOTEBOOK, as_version=4).cells if c.cell_type == "code"]


def test_notebook_has_parameters_cell_and_holds_no_library_logic():
    cells = code_cells()
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and 'PROFILE = "quick"' in tagged[0].source
    for cell in cells:
        for line in cell.source.splitlines():
            assert not line.lstrip().startswith(("def ", "class ")), "logic belongs in deblur/"


#: Per-step progress: Keras's bar (its glyph, the backspaces that redraw it, its ``12/34`` step counter, its
#: ``Epoch 3/20`` header) and tqdm's (its rate, its ``[00:08<01:10`` elapsed<remaining).
STEP_PROGRESS = re.compile(r"━|\x08|^\s*\d+/\d+\s|^Epoch \d+/\d+|it/s|s/it\b|\[\d\d:\d\d<", re.M)
#: What a headless run prints instead: one line per epoch (``epoch 3: 22 s, loss 0.0086, val_loss ...``).
EPOCH_LINE = re.compile(r"^epoch \d+: \d+ s, loss ", re.M)
#: Framework logs and warnings: TensorFlow's Python warnings (``WARNING:tensorflow:... retracing``), its native
#: log lines (``I0000 12:34:56.789 port.cc:153] ...``), any mention of tensorflow but the machine's
#: ``'backend': 'tensorflow'``, Python warnings.
LOG_NOISE = re.compile(r"retracing|WARNING|Warning:|^[IWEF]\d{4} |tensorflow(?!')", re.M)


def execute(tmp_path, archive, monkeypatch, **parameters):
    papermill = pytest.importorskip("papermill")
    out = tmp_path / "executed.ipynb"
    # ipykernel leaves native stderr (TensorFlow's C++ log) out of a kernel started under pytest; run the kernel
    # as the README's command does, so the outputs checked here are the ones a user gets.
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(out),
        parameters={"DATA": str(archive), "SCRATCH_DIR": str(tmp_path / "runs"), **parameters},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    executed = nbformat.read(out, as_version=4)
    text = "\n".join(
        o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    return text, out


def assert_headless_outputs(path, *, max_streams, epochs):
    """The executed notebook at ``path`` holds results, not progress or logs; returns its stream outputs."""
    assert path.stat().st_size < 1_000_000
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    outputs = [(i, o) for i, c in enumerate(cells) for o in c.get("outputs", [])]
    streams = [(i, o) for i, o in outputs if o["output_type"] == "stream"]
    assert not [i for i, o in streams if o["name"] == "stderr"], "stderr output in code cells"
    assert not [i for i, o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})], \
        "a widget (a tqdm bar) in a headless run"
    text = "".join(o["text"] for _, o in streams)
    assert not STEP_PROGRESS.search(text), STEP_PROGRESS.search(text)
    assert len(EPOCH_LINE.findall(text)) == epochs, EPOCH_LINE.findall(text)
    assert not LOG_NOISE.search(text), text[max(0, LOG_NOISE.search(text).start() - 200):][:600]
    assert len(streams) <= max_streams, f"{len(streams)} stream outputs"
    return len(streams)


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_on_tiny_profile(tmp_path, stand_in_archive, monkeypatch):
    # Small sets keep the run short: the evaluation, the self-ensemble and the degradation sweep all
    # work on the n_test images (x_test[:N_ENSEMBLE] and x_test[:N_SWEEP] hold at most n_test).
    text, executed = execute(tmp_path, stand_in_archive, monkeypatch, PROFILE="tiny",
                             OVERRIDES={"n_train": 40, "n_test": 8,
                                        "lengths": {m: {"batch_size": 8} for m in ("cae", "win5rb", "deblurnet")}})
    # Headless: one line per epoch (five runs of one epoch), no bars, no framework logs, no stderr, under 1 MB
    # (18 stream outputs at the time of writing).
    assert_headless_outputs(executed, max_streams=20, epochs=5)
    folder = tmp_path / "runs" / "tiny"
    summary = json.loads((folder / "results.json").read_text())
    assert set(summary["results"]) == {
        "identity", "cae", "win5rb", "deblurnet", "cae (shipped)", "win5rb (shipped)", "deblurnet (shipped)",
        "deblurnet_photo (shipped)"
    }
    for result in summary["results"].values():
        assert result["n_images"] == 8 and result["mse"] > 0
    assert summary["profile"] == "tiny" and summary["seeds"]["test_corruption"] == 20
    assert summary["parameters"] == {"cae": 779_395, "win5rb": 1_276_879, "deblurnet": 313_667}
    # 40 images, 4 held out: 36 in 5 batches of 8 (the last partial), one epoch each.
    assert summary["images_seen"] == {"cae": 40, "win5rb": 40, "deblurnet": 40}
    assert summary["recipes"]["deblurnet"]["length"] == {"epochs": 1} and summary["machine"]["cpu_count"] >= 1
    # Real blur: each model as shipped for the study's Gaussian and trained on the realistic family, per family.
    assert list(summary["real_blur"]) == ["identity", "cae", "cae_realistic", "win5rb", "win5rb_realistic",
                                          "deblurnet", "deblurnet_realistic"]
    assert all(scores["all"]["n"] == 8 and scores["all"]["psnr"] > 10 for scores in summary["real_blur"].values())
    assert (folder / "real_blur.png").stat().st_size > 1000
    for name in ("identity", "cae", "win5rb", "deblurnet"):  # per-sigma and per-class splits add up
        assert sum(b["n_images"] for b in summary["by_sigma"][name].values()) == 8
        assert sum(b["n_images"] for b in summary["by_class"][name].values()) == 8
    assert set(summary["natural_images"]) == {"chelsea"}
    assert {"identity", "wiener (oracle PSF)", "cae", "win5rb", "deblurnet", "deblurnet (shipped)"} <= set(
        summary["natural_images"]["chelsea"])
    assert any(k.startswith("wiener") for k in summary["baselines"])
    for fig in ("samples.png", "loss_curves.png", "comparison.png", "mse_by_sigma.png", "natural_images.png",
                "regenerated/loss_curves.png", "regenerated/comparison.png"):
        assert (folder / fig).stat().st_size > 1000, fig
    for name in ("cae", "win5rb", "deblurnet"):  # config.json is the recipe, as the notebook shows it
        assert (folder / "runs" / name / "model.keras").exists()
        config = json.loads((folder / "runs" / name / "config.json").read_text())
        assert config == summary["recipes"][name] and config["model"] == name and config["corruption"] == "fresh"
        history = json.loads((folder / "runs" / name / "history.json").read_text())
        assert history["model"] == name and history["data"]["n_train"] == 36 and history["data"]["n_val"] == 4
    assert "REDUCED RUN" in text and "identity" in text
    # What knowing the blur buys: a non-blind DeblurNet trained on the blind one's batches, scored with the sigmas.
    # config.json names the recipe's model (the builder, "deblurnet"); history.json the trained model's name.
    told = folder / "runs" / "deblurnet_nonblind"
    config = json.loads((told / "config.json").read_text())
    assert config["sigma_input"] and config["model"] == "deblurnet" and (told / "model.keras").exists()
    told_history = json.loads((told / "history.json").read_text())
    blind_steps = json.loads((folder / "runs" / "deblurnet" / "history.json").read_text())["epochs"][-1]["step"]
    assert told_history["model"] == "deblurnet_nonblind" and told_history["epochs"][-1]["step"] == blind_steps == 5
    # A wider training range: DeblurNet on the wide corruption, the blind one's step count, swept beside it.
    wide = json.loads((folder / "runs" / "deblurnet_wide" / "config.json").read_text())
    assert wide["model"] == "deblurnet" and wide["degradation"]["sigma_range"] == [0.5, 6.0]
    assert wide["degradation"]["noise_std"] == [0.0, 0.05]
    wide_history = json.loads((folder / "runs" / "deblurnet_wide" / "history.json").read_text())
    assert wide_history["model"] == "deblurnet_wide" and wide_history["epochs"][-1]["step"] == 5
    assert (folder / "wide_range_sweep.png").stat().st_size > 1000


@pytest.mark.slow
def test_notebook_pretrained_profile_shows_the_full_comparison_without_training(tmp_path, stand_in_archive,
                                                                                 monkeypatch):
    text, executed = execute(tmp_path, stand_in_archive, monkeypatch, PROFILE="pretrained",
                             OVERRIDES={"n_test": 8, "natural_images": ["chelsea"], "natural_crop": 96})
    assert_headless_outputs(executed, max_streams=20, epochs=0)
    folder = tmp_path / "runs" / "pretrained"
    summary = json.loads((folder / "results.json").read_text())
    assert set(summary["results"]) == {"identity", "cae", "win5rb", "deblurnet"}
    from deblur import models

    cards = {n: models.model_card(n).get("images_seen") for n in ("cae", "win5rb", "deblurnet")}
    assert summary["images_seen"] == cards  # from the model cards
    assert not (folder / "runs").exists()  # nothing was trained
    for name in ("cae", "win5rb", "deblurnet"):
        assert summary["results"][name]["mse"] < summary["results"]["identity"]["mse"]
    for fig in ("samples.png", "loss_curves.png", "comparison.png", "explorer.png", "degradation_sweep.png"):
        assert (folder / fig).stat().st_size > 1000, fig
    assert "REDUCED RUN" not in text and "better than doing nothing" in text
    assert "Pretrained profile: no non-blind model ships" in text
    assert "Pretrained profile: the wide-range DeblurNet does not ship" in text
    # Headless, the sliders section draws its static frame instead of a widget nobody can move.
    assert "widget-view" not in text


# ------------------------------------------------------- the committed notebook


def committed_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    return [(i, o) for i, c in enumerate(notebook.cells) if c.cell_type == "code" for o in c.get("outputs", [])]


def test_committed_notebook_is_small_and_keeps_its_figures():
    assert NOTEBOOK.stat().st_size < 1_000_000, "clean it: python tools/clean_notebook.py (see its docstring)"
    figures = [(i, len(base64.b64decode(data))) for i, o in committed_outputs()
               for mime, data in o.get("data", {}).items() if mime.startswith("image/") and "svg" not in mime]
    assert len(figures) >= 5, "the committed notebook should show its figures"
    assert all(size <= 150_000 for _, size in figures), f"figures over 150 KB: {figures}"


def test_committed_notebook_has_no_progress_bars_or_framework_logs():
    noise = re.compile(r"━|\x08|^\s*\d+/\d+\s|^Epoch \d+/\d+|cuda|absl|oneDNN|tensorflow/core", re.M)
    for index, output in committed_outputs():
        assert not (output.get("output_type") == "stream" and output.get("name") == "stderr"), index
        text = output.get("text", "") if output.get("output_type") == "stream" else ""
        assert not noise.search(text), f"cell {index}: {noise.search(text).group()!r}"
