"""The default model of `deblur restore` does no harm: a sharp photo comes back as it was, a blurred one better."""

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from deblur import cli, corruption, inference, metrics, pretrained


@pytest.fixture(scope="module")
def sharp_crop():
    photo = skdata.astronaut()
    return photo[128:384, 128:384]  # 256x256 of a sharp photograph, uint8


def test_a_sharp_noise_free_crop_comes_back_at_39_7_db_or_more(sharp_crop):
    restored = inference.restore(pretrained.DEFAULT_MODEL, sharp_crop, progress=False, precision="float32")
    assert restored.shape == sharp_crop.shape and restored.dtype == np.uint8
    assert metrics.per_image_psnr(restored[None], sharp_crop[None])[0] >= 39.7
    # Without the card's guard the network alone sharpens it: the guard is what keeps it.
    card_guard = pretrained.model_card(pretrained.DEFAULT_MODEL)["restore_guard"]
    assert len(card_guard) == 2 and 0 < card_guard[0] < card_guard[1]
    unguarded = inference.restore(pretrained.DEFAULT_MODEL, sharp_crop, progress=False, precision="float32",
                                  guard=None)
    assert metrics.per_image_psnr(unguarded[None], sharp_crop[None])[0] < 39.7


def test_a_blurred_crop_gains_more_than_2_db(sharp_crop):
    blurred, _ = corruption.corrupt(sharp_crop[None], seed=0, sigma_range=(2.0, 2.0), noise_std=0.01, clip=True)
    blurred = np.rint(blurred[0] * 255).astype(np.uint8)
    restored = inference.restore(pretrained.DEFAULT_MODEL, blurred, progress=False, precision="float32")
    before, after = (metrics.per_image_psnr(x[None], sharp_crop[None])[0] for x in (blurred, restored))
    assert after - before >= 2.0


def test_guard_changes_keeps_large_changes_and_drops_small_ones():
    x = np.full((3, 4, 4, 3), 100, np.uint8)
    y = x.copy()
    y[0] += 1    # RMS 1/255 = 0.004: below low, dropped
    y[1] += 5    # 0.0196: halfway between 0.01 and 0.03
    y[2] += 20   # 0.078: above high, kept
    out = inference.guard_changes(x, y, 0.01, 0.03, rows=3)
    assert out[0].max() == 100 and out[2].min() == 120 and np.all(np.abs(out[1].astype(int) - 102) <= 1)
    kept = y[2:]
    assert inference.guard_changes(x[2:], kept, 0.01, 0.03) is kept  # nothing to scale: the output itself
    with pytest.raises(ValueError, match="low < high"):
        inference.guard_changes(x, y, 0.03, 0.01)


def test_the_guard_comes_from_the_card_of_a_shipped_name_only():
    card = pretrained.model_card(pretrained.DEFAULT_MODEL)
    assert inference.shipped_guard(pretrained.DEFAULT_MODEL) == tuple(card["restore_guard"])
    assert "restore_guard" not in pretrained.model_card("deblurnet") and inference.shipped_guard("deblurnet") is None
    assert inference.shipped_guard(object()) is None  # a model object: no card, no guard


def test_deblur_restore_uses_the_default_and_says_it_left_a_sharp_photo_alone(sharp_crop, tmp_path, capsys):
    Image.fromarray(sharp_crop).save(tmp_path / "sharp.png")
    code = cli.main(["restore", str(tmp_path / "sharp.png"), "--out", str(tmp_path / "out"), "--quiet",
                     "--precision", "float32"])
    out = capsys.readouterr().out
    assert code == 0 and ("left almost as it was" in out or "identical to the input" in out)
    restored = np.asarray(Image.open(tmp_path / "out" / "sharp_restored.png"))
    assert metrics.per_image_psnr(restored[None], sharp_crop[None])[0] >= 39.7
