import numpy as np
import pytest

from deblur.corruption import corrupt, gaussian_blur, gaussian_kernel_1d

cv2 = pytest.importorskip("cv2", reason="OpenCV is the reference for the blur (test-only dependency)")


@pytest.mark.parametrize("sigma", [1.0, 1.7, 2.5, 3.999])
@pytest.mark.parametrize("shape", [(32, 32, 3), (17, 23, 3), (9, 40, 1)])
def test_blur_matches_opencv_reflect101(rng, sigma, shape):
    x = rng.random((4, *shape), dtype=np.float32)
    got = gaussian_blur(x, [sigma] * 4)
    ref = np.stack([cv2.GaussianBlur(im, (5, 5), sigma).reshape(shape) for im in x])
    assert got.dtype == np.float32
    assert np.abs(got - ref).max() < 1e-5


def test_corrupt_without_noise_is_opencv_blur_with_returned_sigmas(images_uint8):
    out, sigmas = corrupt(images_uint8, seed=3, noise_std=0.0)
    x = images_uint8.astype(np.float32) / 255
    ref = np.stack([cv2.GaussianBlur(im, (5, 5), s) for im, s in zip(x, sigmas)])
    assert np.abs(out - ref).max() < 1e-5


def test_kernel_matches_opencv():
    for sigma in (1.0, 2.2, 3.9):
        ref = cv2.getGaussianKernel(5, sigma, cv2.CV_64F).ravel()
        np.testing.assert_allclose(gaussian_kernel_1d([sigma])[0], ref, rtol=1e-12)


def test_same_seed_is_bit_identical_and_generator_accepted(images_uint8):
    a, sa = corrupt(images_uint8, seed=7)
    b, sb = corrupt(images_uint8, seed=7)
    c, sc = corrupt(images_uint8, seed=np.random.default_rng(7))
    assert np.array_equal(a, b) and np.array_equal(a, c)
    assert np.array_equal(sa, sb) and np.array_equal(sa, sc)
    d, _ = corrupt(images_uint8, seed=8)
    assert not np.array_equal(a, d)


def test_output_types_shapes_and_sigma_range(images_uint8):
    out, sigmas = corrupt(images_uint8, seed=0)
    assert out.dtype == np.float32 and out.shape == images_uint8.shape
    assert sigmas.shape == (8,)
    assert np.all((sigmas >= 1.0) & (sigmas < 4.0))


def test_uint8_and_float_inputs_agree(images_uint8):
    a, _ = corrupt(images_uint8, seed=1)
    b, _ = corrupt(images_uint8.astype(np.float64) / 255, seed=1)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_noise_statistics(rng):
    # A constant image is unchanged by the blur, so what remains is the noise.
    x = np.full((64, 32, 32, 3), 0.5, dtype=np.float32)
    out, _ = corrupt(x, seed=0, noise_std=0.02)
    noise = (out - 0.5).ravel()
    assert abs(noise.mean()) < 3 * 0.02 / np.sqrt(noise.size)
    assert abs(noise.std() - 0.02) < 0.0005
    # Independent per pixel and channel: neighbours are uncorrelated.
    n = out - 0.5
    corr = np.corrcoef(n[..., :-1, 0].ravel(), n[..., 1:, 0].ravel())[0, 1]
    assert abs(corr) < 0.02


def test_no_clipping_by_default_and_clip_option():
    x = np.ones((4, 32, 32, 3), dtype=np.float32)
    out, _ = corrupt(x, seed=0)
    assert out.max() > 1.0
    clipped, _ = corrupt(x, seed=0, clip=True)
    assert clipped.max() <= 1.0 and clipped.min() >= 0.0


def test_single_image_and_input_not_modified(images_uint8):
    before = images_uint8.copy()
    out, sigmas = corrupt(images_uint8[0], seed=0)
    assert out.shape == (32, 32, 3) and sigmas.shape == (1,)
    assert np.array_equal(images_uint8, before)
    f = images_uint8.astype(np.float32) / 255
    f_before = f.copy()
    corrupt(f, seed=0)
    assert np.array_equal(f, f_before)


def test_parameters_are_used(images_uint8):
    _, sigmas = corrupt(images_uint8, seed=0, sigma_range=(2.0, 2.0))
    assert np.all(sigmas == 2.0)
    a, _ = corrupt(images_uint8, seed=0, kernel_size=3, noise_std=0)
    b, _ = corrupt(images_uint8, seed=0, kernel_size=5, noise_std=0)
    assert not np.allclose(a, b)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((2, 32, 32), np.uint8), "shape"),
        (np.zeros((0, 32, 32, 3), np.uint8), "empty"),
        (np.full((1, 32, 32, 3), 2.0), r"\[0, 1\]"),
        (np.full((1, 32, 32, 3), np.nan), "NaN"),
        (np.zeros((1, 32, 32, 3), np.int32), "dtype"),
        (np.zeros((1, 32, 32, 4), np.uint8), "channels"),
        (np.zeros((1, 2, 2, 3), np.uint8), "too small"),
    ],
)
def test_bad_images_raise_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        corrupt(bad, seed=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kernel_size": 4}, "odd"),
        ({"sigma_range": (-1.0, 1.0)}, "sigma_range"),
        ({"sharp_fraction": 1.5}, "sharp_fraction"),
        ({"sigma_range": (3.0, 1.0)}, "sigma_range"),
        ({"noise_std": -1.0}, "noise_std"),
    ],
)
def test_bad_parameters_raise(images_uint8, kwargs, match):
    with pytest.raises(ValueError, match=match):
        corrupt(images_uint8, seed=0, **kwargs)


def test_sigma_zero_is_no_blur_and_a_sharp_share_leaves_those_images_alone(images_uint8):
    x = images_uint8.astype(np.float32) / 255
    np.testing.assert_allclose(gaussian_blur(x, np.zeros(len(x))), x, atol=1e-7)
    np.testing.assert_allclose(gaussian_kernel_1d([0.0]), [[0, 0, 1, 0, 0]])
    corrupted, sigmas = corrupt(np.repeat(images_uint8, 8, axis=0), seed=4, sigma_range=(0.3, 6.0), noise_std=0.0,
                                sharp_fraction=0.25)
    sharp = sigmas == 0
    assert 0.1 < sharp.mean() < 0.4 and np.all(sigmas[~sharp] >= 0.3)
    np.testing.assert_allclose(corrupted[sharp], np.repeat(x, 8, axis=0)[sharp], atol=1e-7)
    # Without a sharp share the draws are the study's: the same as before the option existed.
    a, sa = corrupt(images_uint8, seed=9)
    b, sb = corrupt(images_uint8, seed=9, sharp_fraction=0.0)
    assert np.array_equal(a, b) and np.array_equal(sa, sb)


@pytest.mark.parametrize("factor, corner", [(2.0, 0.0), (2.0, 1.0), (3.0, 0.0)])
def test_magnify_matches_opencv_bicubic_resize(rng, factor, corner):
    cv2 = pytest.importorskip("cv2")
    from deblur.corruption import magnify

    x = rng.random((3, 20, 24, 3), dtype=np.float32)
    big = [cv2.resize(im, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC) for im in x]
    top, left = int(corner * (big[0].shape[0] - 20)), int(corner * (big[0].shape[1] - 24))
    ref = np.stack([b[top:top + 20, left:left + 24] for b in big])
    got = magnify(x, [factor] * 3, [[corner, corner]] * 3)
    assert got.shape == x.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_magnify_by_one_is_the_identity_and_bad_factors_are_refused(rng):
    from deblur.corruption import magnify

    x = rng.random((2, 8, 8, 3), dtype=np.float32)
    np.testing.assert_array_equal(magnify(x, [1.0, 1.0], [[0.3, 0.9], [1.0, 0.0]]), x)
    with pytest.raises(ValueError, match="one factor >= 1"):
        magnify(x, [0.5, 1.0], [[0, 0], [0, 0]])
    with pytest.raises(ValueError, match="one factor >= 1"):
        magnify(x, [1.0], [[0, 0]])
