"""Beyond CIFAR: natural images through restore, beside identity and the Wiener oracle."""

import numpy as np
import pytest

from deblur import natural


def test_load_natural_images_and_errors():
    images = natural.load_natural_images(("chelsea",))
    assert images["chelsea"].dtype == np.uint8 and images["chelsea"].shape == (300, 451, 3)
    with pytest.raises(ValueError, match="no image"):
        natural.load_natural_images(("nosuchimage",))
    with pytest.raises(ValueError, match="not an RGB"):
        natural.load_natural_images(("camera",))  # grayscale


def test_benchmark_scores_every_method_and_shipped_model_beats_identity():
    image = natural.load_natural_images(("chelsea",))["chelsea"][:97, :130]  # odd size
    scores, rows = natural.benchmark({"crop": image}, {"win5rb": "win5rb"}, seed=3)
    s = scores["crop"]
    assert set(s) == {"identity", "wiener (oracle PSF)", "win5rb", "sigma"}
    assert 1.0 <= s["sigma"] < 4.0
    assert s["win5rb"]["mse"] < s["identity"]["mse"]
    assert s["wiener (oracle PSF)"]["mse"] < s["identity"]["mse"]
    assert set(rows["crop"]) == {"corrupted", "original", "wiener (oracle PSF)", "win5rb"}
    assert rows["crop"]["win5rb"].shape == (97, 130, 3)
    table = natural.format_scores(scores)
    assert table.startswith("| image (mse) | images | identity | wiener (oracle PSF) | win5rb |")
