"""Degradations: the kernels (sum, sign, shape, seeds), the reference convolution, noise, JPEG, the study's degradation
bit-identical to its corruption, the realistic family's draws, the recipe field and the training batches."""

import hashlib
import io
import json

import keras
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from deblur import corruption, degradations as dg, study
from deblur.device_corruption import convolve_ops
from deblur.recipe import Recipe
from deblur.training import pipeline
from deblur.training.distributed import ProcessGroup

cv2 = pytest.importorskip("cv2", reason="OpenCV's filter2D is a second reference convolution")

RNG = np.random.default_rng(0)


def _kernels():
    """One kernel of every family and size, with what made it."""
    out = [("gaussian", dg.gaussian_kernel(s)) for s in (0.2, 1.0, 2.0, 3.5)]
    out += [("aniso", dg.gaussian_kernel(2.5, 0.7, a)) for a in (0.0, 30.0, -75.0)]
    out += [("defocus", dg.defocus_kernel(r)) for r in (0.0, 0.4, 1.5, 3.0, 5.0)]
    out += [("line", dg.line_kernel(n, a)) for n, a in ((0.0, 0.0), (5.0, 0.0), (9.0, 33.0), (15.0, 120.0))]
    out += [("shake", k) for k in dg.shake_kernels([0.0, 4.0, 12.0, 27.0], 31, seed=3)]
    return out


@pytest.mark.parametrize("name,kernel", _kernels(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_kernel_is_odd_square_non_negative_and_sums_to_one(name, kernel):
    assert kernel.dtype == np.float64 and kernel.ndim == 2 and kernel.shape[0] == kernel.shape[1]
    assert kernel.shape[0] % 2 == 1
    assert kernel.min() >= 0 and abs(kernel.sum() - 1) < 1e-12


@pytest.mark.parametrize("name,kernel", _kernels(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_kernel_is_centred_on_its_centre_of_mass(name, kernel):
    rows, cols = np.mgrid[: kernel.shape[0], : kernel.shape[1]] - kernel.shape[0] // 2
    assert abs((rows * kernel).sum()) < 0.05 and abs((cols * kernel).sum()) < 0.05


def test_gaussian_kernel_is_untruncated_separable_and_rotates():
    k = dg.gaussian_kernel(2.0)
    assert k.shape == (13, 13)  # 3 sigma each side (the study's 5x5 holds 1 sigma at sigma 2)
    g = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
    np.testing.assert_allclose(k, np.outer(g, g) / np.outer(g, g).sum(), atol=1e-15)
    np.testing.assert_allclose(dg.gaussian_kernel(3.0, 1.0, 90.0), dg.gaussian_kernel(1.0, 3.0, 0.0, size=19),
                               atol=1e-12)
    # Variance along each axis is sigma^2 (minus the 3-sigma tails).
    rows = np.arange(19)[:, None] - 9
    wide = dg.gaussian_kernel(3.0, 1.0)
    assert (rows ** 2 * wide).sum() == pytest.approx(1.0, rel=0.02)
    assert (rows.T ** 2 * wide).sum() == pytest.approx(9.0, rel=0.05)


def test_defocus_kernel_is_a_disk_of_its_area():
    np.testing.assert_array_equal(dg.defocus_kernel(0.3), [[1.0]])
    k = dg.defocus_kernel(4.0)
    assert k.shape == (11, 11)
    weights = k / k.max()
    assert weights.sum() == pytest.approx(np.pi * 16, rel=0.01)  # anti-aliased: its area is the disk's
    assert weights[5, 5] == 1 and weights[5, 0] == 0 and 0 < weights[5, 1] < 1


def test_line_kernel_lies_along_its_angle():
    k = dg.line_kernel(5.0)
    assert k.shape == (9, 9) and np.flatnonzero(k.sum(axis=1) > 1e-12).tolist() == [4]  # one row: horizontal
    np.testing.assert_allclose(dg.line_kernel(5.0, 90.0), k.T, atol=1e-12)
    cols = np.arange(9) - 4
    assert (np.abs(cols) * k.sum(axis=0)).sum() == pytest.approx(5.0 / 4, rel=0.05)  # mean |x| of U[-2.5, 2.5]


def test_shake_kernels_are_seeded_and_fill_their_extent():
    a, b = dg.shake_kernels([9.0, 21.0], 25, seed=5), dg.shake_kernels([9.0, 21.0], 25, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, dg.shake_kernels([9.0, 21.0], 25, seed=6))
    for kernel, extent in zip(a, (9.0, 21.0)):
        rows, cols = np.nonzero(kernel > 0)
        assert extent - 1 <= max(np.ptp(rows), np.ptp(cols)) <= extent + 2
    with pytest.raises(ValueError, match="extents"):
        dg.shake_kernels([-1.0], 9)


def test_bad_kernel_parameters_are_refused_with_their_name():
    for call, match in ((lambda: dg.gaussian_kernel(0.0), "sigma"), (lambda: dg.gaussian_kernel(1.0, -1.0), "sigma_y"),
                        (lambda: dg.defocus_kernel(float("nan")), "radius"), (lambda: dg.line_kernel(3, size=4), "size"),
                        (lambda: dg.gaussian_kernel(1.0, angle=float("inf")), "angle")):
        with pytest.raises(ValueError, match=match):
            call()


def test_convolve_matches_scipy_and_opencv_per_image_and_channel():
    x = RNG.random((6, 32, 29, 3), dtype=np.float32)
    kernels = dg.REALISTIC_PHOTO.draw(np.random.default_rng(1), 6).kernels[:, 8:-8, 8:-8]  # 17x17 on 29 px
    kernels /= kernels.sum(axis=(1, 2), keepdims=True)
    y = dg.convolve(x, kernels)
    assert y.shape == x.shape and y.dtype == np.float32
    for i in range(6):
        for c in range(3):
            ref = ndimage.convolve(x[i, ..., c].astype(np.float64), kernels[i], mode="mirror")
            assert np.abs(y[i, ..., c] - ref).max() < 1e-5
            flipped = kernels[i][::-1, ::-1]
            ref_cv = cv2.filter2D(x[i, ..., c].astype(np.float64), -1, flipped, borderType=cv2.BORDER_REFLECT_101)
            assert np.abs(y[i, ..., c] - ref_cv).max() < 1e-5
    q = np.rint(x * 255).astype(np.uint8)
    np.testing.assert_allclose(dg.convolve(q, kernels[0]), dg.convolve(q / 255.0, kernels[0]), atol=1e-5)


def test_convolve_refuses_kernels_too_large_for_the_image():
    with pytest.raises(ValueError, match="too small"):
        dg.convolve(np.zeros((1, 8, 8, 1), np.float32), np.ones((17, 17)) / 289)
    with pytest.raises(ValueError, match="kernels must be"):
        dg.convolve(np.zeros((2, 8, 8, 1), np.float32), np.ones((3, 3, 3)))


def test_convolve_ops_is_the_same_convolution_as_one_depthwise_pass():
    x = RNG.random((5, 32, 24, 3), dtype=np.float32)
    _, draws = dg.REALISTIC_CIFAR(x, seed=2)
    got = keras.ops.convert_to_numpy(convolve_ops(x, draws.kernels))
    np.testing.assert_allclose(got, dg.convolve(x, draws.kernels), atol=1e-5)


def test_jpeg_is_pillows_and_quality_zero_leaves_the_image():
    x = RNG.random((3, 32, 32, 3), dtype=np.float32)
    y = dg.jpeg(x, [0, 30, 90])
    np.testing.assert_array_equal(y[0], x[0])
    buffer = io.BytesIO()
    Image.fromarray(np.rint(x[1] * 255).astype(np.uint8)).save(buffer, "JPEG", quality=30)
    np.testing.assert_array_equal(y[1], np.asarray(Image.open(buffer), np.float32) / 255)
    assert np.abs(y[2] - x[2]).mean() < np.abs(y[1] - x[1]).mean()
    grey = dg.jpeg(x[:1, ..., :1], [50])
    assert grey.shape == (1, 32, 32, 1)
    with pytest.raises(ValueError, match="JPEG quality"):
        dg.jpeg(x, [10, 20])


def test_poisson_gaussian_noise_has_the_expected_mean_and_variance():
    x = np.full((2, 200, 200, 1), 0.4, np.float32)
    y = dg.add_noise(x, noise_std=[0.0, 0.02], photons=[500.0, 0.0], seeds=[1, 2])
    assert y[0].mean() == pytest.approx(0.4, abs=0.002) and y[0].var() == pytest.approx(0.4 / 500, rel=0.05)
    assert y[1].std() == pytest.approx(0.02, rel=0.03)
    np.testing.assert_array_equal(y, dg.add_noise(x, [0.0, 0.02], [500.0, 0.0], [1, 2]))


def test_study_degradation_is_the_study_corruption_bit_for_bit():
    x = (RNG.random((40, 32, 32, 3)) * 255).astype(np.uint8)
    got, sigmas = dg.Study()(x, seed=20)
    ref, ref_sigmas = corruption.corrupt(x, seed=20)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(sigmas, ref_sigmas)
    assert dg.degradation_from_dict(dg.Study().as_dict()) == dg.Study()


def test_realistic_draws_are_reproducible_and_follow_their_probabilities():
    x = (RNG.random((2000, 32, 32, 3)) * 255).astype(np.uint8)
    y1, d1 = dg.REALISTIC_CIFAR(x, seed=7)
    y2, d2 = dg.REALISTIC_CIFAR(x, seed=7)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(d1.kernels, d2.kernels)
    assert not np.array_equal(y1, dg.REALISTIC_CIFAR(x, seed=8)[0])
    shares = np.bincount(d1.family, minlength=len(dg.FAMILIES)) / len(x)
    np.testing.assert_allclose(shares, list(dg.REALISTIC_CIFAR.families.values()), atol=0.03)
    assert (d1.jpeg_quality > 0).mean() == pytest.approx(0.3, abs=0.03)
    q = d1.jpeg_quality[d1.jpeg_quality > 0]
    assert q.min() >= 30 and q.max() <= 95
    assert ((d1.photons > 0).mean() == pytest.approx(0.5, abs=0.04)) and d1.noise_std.max() <= 0.03
    none = d1.names == "none"
    assert np.all(d1.kernels[none][:, 6, 6] == 1)
    np.testing.assert_array_equal(d1[5:9].kernels, d1.kernels[5:9])
    assert y1.dtype == np.float32 and y1.shape == x.shape and np.isfinite(y1).all()


def test_the_realistic_test_set_is_fixed_by_its_seed():
    x = (np.random.default_rng(3).random((64, 32, 32, 3)) * 255).astype(np.uint8)
    a, da = study.realistic_test(x)
    b, db = study.realistic_test(x)
    np.testing.assert_array_equal(a, b)
    assert study.Seeds(0).realistic_test == 60
    digest = hashlib.sha256(da.kernels.astype(np.float32).tobytes() + da.noise_std.tobytes()).hexdigest()
    assert digest == hashlib.sha256(db.kernels.astype(np.float32).tobytes() + db.noise_std.tobytes()).hexdigest()
    np.testing.assert_array_equal(a, dg.REALISTIC_CIFAR(x, seed=60)[0])


def test_realistic_settings_are_checked_against_the_canvas():
    with pytest.raises(ValueError, match="shake_extent"):
        dg.Realistic(kernel_size=9, shake_extent=(2.0, 10.0))
    with pytest.raises(ValueError, match="gaussian_sigma"):
        dg.Realistic(kernel_size=13, gaussian_sigma=(1.0, 2.5))
    with pytest.raises(ValueError, match="families"):
        dg.Realistic(families={"shake": 0.5, "blur": 0.5})
    with pytest.raises(ValueError, match="jpeg_quality"):
        dg.Realistic(jpeg_quality=(10, 100))
    with pytest.raises(ValueError, match="Unknown degradation kind"):
        dg.degradation_from_dict({"kind": "motion"})
    assert dg.Realistic(families={"shake": 1.0}).families == {"shake": 1.0, "motion": 0.0, "defocus": 0.0,
                                                              "gaussian": 0.0, "none": 0.0}
    for preset in (dg.REALISTIC_CIFAR, dg.REALISTIC_PHOTO):
        assert dg.degradation_from_dict(preset.as_dict()) == preset


def test_recipe_holds_the_degradation_and_round_trips():
    r = Recipe("deblurnet", corruption="fresh", degradation=dg.REALISTIC_CIFAR)
    d = r.as_dict()
    assert d["degradation"]["kind"] == "realistic"
    assert Recipe.from_dict(d) == r
    assert Recipe("cae").degradation == dg.Study() and Recipe("cae").as_dict()["degradation"]["kind"] == "study"
    for bad in (dict(corruption="device"), dict(corruption="fresh", sigma_input=True)):
        with pytest.raises(ValueError, match="drawn on the CPU"):
            Recipe("deblurnet", degradation=dg.REALISTIC_CIFAR, **bad)
    with pytest.raises(ValueError, match="Study or Realistic"):
        Recipe("deblurnet", corruption="fresh", degradation="shake")
    with pytest.raises(TypeError):
        Recipe("deblurnet", sigma_range=(0.5, 6.0))  # the flat fields are gone: one degradation holds them


def test_records_of_the_flat_fields_read_as_the_study_they_describe():
    old = {**Recipe("deblurnet", corruption="fresh").as_dict(), "sigma_range": [0.3, 6.0], "noise_std": [0.0, 0.05],
           "sharp_fraction": 0.25, "zoom_fraction": 0.25, "zoom_range": [1.0, 2.0]}
    del old["degradation"]
    r = Recipe.from_dict(old)
    assert r.degradation == dg.Study(sigma_range=(0.3, 6.0), noise_std=(0.0, 0.05), sharp_fraction=0.25,
                                     zoom_fraction=0.25)
    transition = {**Recipe("deblurnet", corruption="fresh", degradation=dg.REALISTIC_CIFAR).as_dict(),
                  "sigma_range": [1.0, 4.0], "noise_std": 0.02}  # this session's first realistic run folders
    assert Recipe.from_dict(transition).degradation == dg.REALISTIC_CIFAR
    with pytest.raises(ValueError, match="cannot also set"):
        Recipe.from_dict({**transition, "sigma_range": [0.5, 6.0]})


def test_every_shipped_card_round_trips_its_recipe_block():
    from deblur import models
    for name in models.pretrained_names():
        card = models.model_card(name)
        assert Recipe.from_dict(card["recipe"]).as_dict() == card["recipe"], name
        assert card["recipe"]["degradation"]["kind"] == ("realistic" if name.endswith("_realistic") else "study")


def test_fresh_batches_with_a_degradation_are_repeatable_and_shard_exactly():
    clean = (np.random.default_rng(4).random((64, 32, 32, 3)) * 255).astype(np.uint8)
    common = dict(batch_size=16, seed=3, epochs=2, flips=True, degradation=dg.REALISTIC_CIFAR)
    whole = pipeline.FreshCorruption(clean, **common)
    x, y = whole.batch(1, 2)
    np.testing.assert_array_equal(x, pipeline.FreshCorruption(clean, **common).batch(1, 2)[0])
    halves = [pipeline.FreshCorruption(clean, group=ProcessGroup(2, i), **common).batch(1, 2) for i in range(2)]
    np.testing.assert_array_equal(np.concatenate([h[0] for h in halves]), x)
    np.testing.assert_array_equal(np.concatenate([h[1] for h in halves]), y)
    assert not np.array_equal(x, whole.batch(1, 3)[0][: len(x)])
    assert np.abs(x - y).mean() > 0.01  # degraded, not the clean images


def test_training_on_the_realistic_family_lowers_the_loss(tmp_path):
    clean = (np.random.default_rng(5).random((128, 32, 32, 3)) * 255).astype(np.uint8)
    clean = np.repeat(np.repeat(clean[:, ::4, ::4], 4, axis=1), 4, axis=2)  # smooth enough to be learnt
    r = study.recipe("ours", "deblurnet", epochs=3, batch_size=16, degradation=dg.REALISTIC_CIFAR,
                     precision="float32")
    run = study.train_model(r, clean, run_dir=tmp_path / "run", verbose=0)
    assert run.history["loss"][-1] < run.history["loss"][0]
    assert Recipe.from_dict(json.loads((tmp_path / "run" / "config.json").read_text())) == r
