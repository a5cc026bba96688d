"""deblur.interactive.compare: one image, one setting, every method; the explorer never waits headless."""

import matplotlib
import numpy as np
import pytest

from deblur import corruption, interactive, models


@pytest.fixture(scope="module")
def image():
    from skimage import data

    return data.astronaut()[100:148, 200:260]  # 48x60, not square, not CIFAR's size


@pytest.mark.parametrize("sigma", [0.5, 2.0, 6.0])  # below, inside and above the training range [1, 4)
def test_compare_shapes_scores_and_the_studys_corruption(image, sigma):
    result = interactive.compare(image, sigma=sigma, noise_std=0.03, seed=7)
    assert list(result) == ["clean", "corrupted", "wiener (true PSF)", *models.pretrained_names()]
    for r in result.values():
        assert r["image"].shape == (48, 60, 3) and r["image"].dtype == np.float32
        assert 0.0 <= r["image"].min() and r["image"].max() <= 1.0
    expected, _ = corruption.corrupt(image, seed=7, sigma_range=(sigma, sigma), noise_std=0.03)
    np.testing.assert_allclose(result["corrupted"]["image"], np.clip(expected, 0, 1), atol=1e-6)
    corrupted_mse = np.mean((np.clip(expected, 0, 1) - image / 255.0) ** 2)
    assert result["corrupted"]["mse"] == pytest.approx(corrupted_mse, rel=1e-5)
    assert result["clean"]["mse"] == 0.0
    if sigma == 2.0:  # in the training range the networks help
        assert result["deblurnet"]["mse"] < result["corrupted"]["mse"]


def test_compare_rejects_bad_settings(image):
    with pytest.raises(ValueError, match="sigma must be positive"):
        interactive.compare(image, sigma=0.0)
    with pytest.raises(ValueError, match="one RGB image"):
        interactive.compare(image[..., 0])


def test_explorer_draws_one_static_figure_when_headless(image):
    fig = interactive.explorer({"astronaut": image}, models={"deblurnet": "deblurnet"})
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 4
    matplotlib.pyplot.close(fig)
    widget = interactive.explorer({"astronaut": image}, models={"deblurnet": "deblurnet"}, interactive=True)
    assert type(widget).__name__ == "VBox"
