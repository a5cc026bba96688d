"""Classical baselines: agreement with scikit-image, padding, tuning, beating identity where they should."""

import numpy as np
import pytest
from skimage.restoration import wiener

from deblur import baselines
from deblur.corruption import corrupt, gaussian_kernel_1d
from deblur.metrics import per_image_mse


@pytest.fixture(scope="module")
def smooth_set():
    rng = np.random.default_rng(7)
    coarse = rng.random((12, 6, 6, 3))
    clean = np.kron(coarse, np.ones((1, 6, 6, 1)))[:, :32, :32].astype(np.float32)
    corrupted, sigmas = corrupt(clean, seed=1)
    return clean, corrupted, sigmas


def test_psf_is_the_separable_opencv_kernel():
    psf = baselines.gaussian_psf(2.0)
    k = gaussian_kernel_1d([2.0])[0]
    assert psf.shape == (5, 5) and psf.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(psf, np.outer(k, k))


def test_wiener_without_padding_is_plain_skimage(smooth_set):
    _, corrupted, sigmas = smooth_set
    out = baselines.wiener_oracle(corrupted[:1], sigmas[:1], balance=0.05, pad=0)
    ref = wiener(corrupted[0, ..., 1].astype(np.float64), baselines.gaussian_psf(sigmas[0]), 0.05, clip=False)
    np.testing.assert_allclose(out[0, ..., 1], ref, atol=1e-6)


@pytest.mark.parametrize("name", ["wiener", "richardson_lucy"])
def test_oracle_deconvolution_beats_identity_and_padding_helps(smooth_set, name):
    clean, corrupted, sigmas = smooth_set
    fn = baselines.BASELINES[name][0]
    identity = per_image_mse(corrupted, clean).mean()
    padded = per_image_mse(fn(corrupted, sigmas), clean).mean()
    assert padded < 0.8 * identity
    if name == "wiener":
        assert padded < per_image_mse(fn(corrupted, sigmas, pad=0), clean).mean()


def test_tv_denoise_beats_identity_on_noise():
    rng = np.random.default_rng(3)
    clean = np.kron(rng.random((6, 4, 4, 3)), np.ones((1, 8, 8, 1))).astype(np.float32)
    noisy, _ = corrupt(clean, seed=0, sigma_range=(0.3, 0.3), noise_std=0.08)
    assert per_image_mse(baselines.tv_denoise(noisy, weight=0.05), clean).mean() < 0.6 * per_image_mse(noisy, clean).mean()


def test_unsupervised_wiener_is_seeded(smooth_set):
    _, corrupted, sigmas = smooth_set
    a = baselines.unsupervised_wiener_oracle(corrupted[:2], sigmas[:2], seed=4)
    b = baselines.unsupervised_wiener_oracle(corrupted[:2], sigmas[:2], seed=4)
    assert a.shape == corrupted[:2].shape and a.dtype == np.float32 and np.array_equal(a, b)


def test_tune_picks_the_grid_minimum(smooth_set):
    clean, corrupted, sigmas = smooth_set
    best, scores = baselines.tune("wiener", corrupted, clean, sigmas)
    assert set(scores) == set(baselines.BASELINES["wiener"][3])
    assert scores[best["balance"]] == min(scores.values())
    assert baselines.tune("unsupervised_wiener", corrupted, clean, sigmas) == ({}, {})
    with pytest.raises(ValueError, match="Unknown baseline"):
        baselines.tune("bm3d", corrupted, clean, sigmas)


def test_bad_inputs(smooth_set):
    _, corrupted, sigmas = smooth_set
    with pytest.raises(ValueError, match="one sigma per image"):
        baselines.wiener_oracle(corrupted, sigmas[:3])
    with pytest.raises(ValueError, match="pad"):
        baselines.wiener_oracle(corrupted, sigmas, pad=40)
    with pytest.raises(ValueError, match="NaN"):
        baselines.tv_denoise(np.full((1, 8, 8, 3), np.nan, np.float32))
