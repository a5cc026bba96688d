"""Every public function that takes images gets bad input: one clear error each.

One table, in the deepinv style: (function, which bad input) -> the error
type and a phrase the message must contain. A message from deep inside
Keras or numpy would not contain it.
"""

import re

import numpy as np
import pytest

from deblur import baselines, corruption, inference, metrics, models, plots, training
from deblur.recipe import Epochs, Recipe
from deblur.training import pipeline

GOOD = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)


def _bad(kind):
    x = GOOD.copy()
    if kind == "nan":
        x[0, 0, 0, 0] = np.nan
    elif kind == "inf":
        x[1, 2, 3, 1] = np.inf
    elif kind == "empty":
        x = x[:0]
    elif kind == "int32":
        x = (x * 255).astype(np.int32)
    elif kind == "two_channels":
        x = x[..., :2]
    elif kind == "no_batch_axis":
        x = x[0]
    elif kind == "0..255_float":
        x = x * 255
    return x


MESSAGES = {
    "nan": "NaN or infinite",
    "inf": "NaN or infinite",
    "empty": "empty",
    "int32": "uint8 in [0, 255] or float",
    "two_channels": "channels",
    "no_batch_axis": "shape (N, H, W, C)",
    "0..255_float": "[0, 1]",
}


@pytest.fixture(scope="module")
def model():
    return models.deblurnet(seed=0, width=8, blocks=1, head=8)


def _clean_like(x):
    return GOOD[: len(x)] if x.ndim == 4 and x.shape[-1] == 3 and len(x) else x


# name -> (call(x, model), bad inputs it must refuse)
IMAGES_IN = ["nan", "inf", "empty", "int32", "two_channels", "no_batch_axis"]
CALLS = {
    "corrupt": (lambda x, m: corruption.corrupt(x, seed=0), ["nan", "inf", "empty", "int32", "two_channels", "0..255_float"]),
    "gaussian_blur": (lambda x, m: corruption.gaussian_blur(x, np.ones(max(1, len(x)))), IMAGES_IN),
    "per_image_mse": (lambda x, m: metrics.per_image_mse(x, _clean_like(x)), IMAGES_IN),
    "per_image_psnr": (lambda x, m: metrics.per_image_psnr(x, _clean_like(x)), IMAGES_IN),
    "per_image_ssim": (lambda x, m: metrics.per_image_ssim(x, _clean_like(x)), IMAGES_IN),
    "evaluate(corrupted)": (lambda x, m: metrics.evaluate(m, x, _clean_like(x)), IMAGES_IN),
    "evaluate(clean)": (lambda x, m: metrics.evaluate(m, _clean_like(x), x), IMAGES_IN + ["0..255_float"]),
    "predict": (lambda x, m: metrics.predict(m, x), IMAGES_IN),
    "restore": (lambda x, m: inference.restore(m, x, progress=False), ["nan", "inf", "empty", "int32", "two_channels", "0..255_float"]),
    "wiener_oracle": (lambda x, m: baselines.wiener_oracle(x, np.full(max(1, len(x)), 2.0)), IMAGES_IN),
    "tv_denoise": (lambda x, m: baselines.tv_denoise(x), IMAGES_IN),
    "FreshCorruption": (lambda x, m: pipeline.FreshCorruption(x)[0], IMAGES_IN + ["0..255_float"]),
    "sample_grid": (lambda x, m: plots.sample_grid(x, x, n=2), IMAGES_IN + ["0..255_float"]),
}
CASES = [(name, kind) for name, (_, kinds) in CALLS.items() for kind in kinds]


@pytest.mark.parametrize("name,kind", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_bad_images_get_one_clear_error(name, kind, model):
    call, _ = CALLS[name]
    with pytest.raises(ValueError, match=re.escape(MESSAGES[kind])):
        call(_bad(kind), model)


@pytest.mark.parametrize("kind", ["nan", "empty", "int32", "two_channels", "0..255_float"])
def test_train_refuses_bad_images_before_writing_anything(kind, tmp_path, model):
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=re.escape(MESSAGES[kind])):
        training.train(model, _bad(kind), Recipe("deblurnet", length=Epochs(1), corruption="fresh"), run_dir=run_dir, verbose=0)
    assert not run_dir.exists()


def test_a_folder_where_a_file_is_expected(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "keep.txt").write_text("saved before")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        metrics.save_results({"mse": 0.1}, folder)
    fig = plots.sample_grid(GOOD, GOOD, n=2)
    with pytest.raises(IsADirectoryError, match="is a folder"):
        plots.save_figure(fig, folder)
    with pytest.raises(ValueError, match="suffix"):
        plots.save_figure(fig, folder / "figure.nope")
    with pytest.raises(FileNotFoundError, match="not a training run folder"):
        training.load_history(folder)
    with pytest.raises(FileNotFoundError, match="no trained model"):
        training.load_run(folder)
    # Nothing was written or removed.
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
    assert (folder / "keep.txt").read_text() == "saved before"


def test_run_dir_that_is_a_file(tmp_path, model):
    path = tmp_path / "run"
    path.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        training.train(model, GOOD, Recipe("deblurnet", length=Epochs(1), corruption="fresh"), run_dir=path, verbose=0)
    assert path.read_text() == "not a folder"
