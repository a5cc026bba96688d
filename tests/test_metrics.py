import json

import keras
import numpy as np
import pytest
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from deblur import metrics
from deblur.corruption import corrupt


@pytest.fixture
def pair(images_uint8):
    corrupted, _ = corrupt(images_uint8, seed=0)
    return corrupted, images_uint8.astype(np.float32) / 255


def test_per_image_values_agree_with_scikit_image(pair):
    restored, clean = pair
    mse = metrics.per_image_mse(restored, clean)
    psnr = metrics.per_image_psnr(restored, clean)
    ssim = metrics.per_image_ssim(restored, clean)
    assert mse.shape == psnr.shape == ssim.shape == (len(clean),)
    for i in range(len(clean)):
        c, r = clean[i].astype(np.float64), restored[i].astype(np.float64)
        assert mse[i] == pytest.approx(mean_squared_error(c, r), rel=1e-6)
        assert psnr[i] == pytest.approx(peak_signal_noise_ratio(c, r, data_range=1.0), rel=1e-5)
        assert ssim[i] == pytest.approx(
            structural_similarity(clean[i], restored[i], data_range=1.0, channel_axis=-1), rel=1e-6
        )


def test_mean_mse_is_the_study_metric_and_mean_psnr_is_not_batch_psnr(pair):
    restored, clean = pair
    result = metrics.evaluate(None, restored, clean)
    keras_mse = float(np.mean(keras.ops.convert_to_numpy(keras.losses.mean_squared_error(clean, restored))))
    assert result["mse"] == pytest.approx(keras_mse, rel=1e-5)
    batch_psnr = peak_signal_noise_ratio(clean.astype(np.float64), restored.astype(np.float64), data_range=1.0)
    assert result["psnr"] == pytest.approx(np.mean(metrics.per_image_psnr(restored, clean)))
    assert result["psnr"] != pytest.approx(batch_psnr, abs=1e-3)


def test_evaluate_identity_model_and_none_agree(pair):
    restored, clean = pair
    inputs = keras.Input((32, 32, 3))
    identity = keras.Model(inputs, keras.layers.Identity()(inputs))
    a = metrics.evaluate(None, restored, clean, per_image=True)
    b = metrics.evaluate(identity, restored, clean, per_image=True)
    for key in metrics.METRICS:
        assert a[key] == pytest.approx(b[key], rel=1e-6)
        assert len(a["per_image"][key]) == len(clean)
    assert a["n_images"] == len(clean)
    perfect = metrics.evaluate(None, clean, clean)
    assert perfect["mse"] == 0 and perfect["ssim"] == pytest.approx(1.0)


def test_save_results_is_plain_json(tmp_path, pair):
    restored, clean = pair
    results = {"identity": metrics.evaluate(None, restored, clean), "arr": np.arange(3), "x": np.float32(1.5)}
    path = metrics.save_results(results, tmp_path / "sub" / "results.json")
    loaded = json.loads(path.read_text())
    assert loaded["identity"]["n_images"] == 8 and loaded["arr"] == [0, 1, 2] and loaded["x"] == 1.5
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_format_table_has_identity_ratio():
    table = metrics.format_table(
        {"identity": {"mse": 0.006, "psnr": 23.0, "ssim": 0.7, "n_images": 10}, "cae": {"mse": 0.003}}
    )
    lines = table.splitlines()
    assert lines[0].startswith("| method | test MSE | MSE / identity")
    assert "| cae | 0.00300 | 0.50 | – | – | – |" in lines


@pytest.mark.parametrize(
    "restored, clean, match",
    [
        (np.zeros((2, 32, 32, 3), np.float32), np.zeros((3, 32, 32, 3), np.float32), "same shape"),
        (np.full((1, 32, 32, 3), np.nan, np.float32), np.zeros((1, 32, 32, 3), np.float32), "NaN"),
        (np.zeros((0, 32, 32, 3), np.float32), np.zeros((0, 32, 32, 3), np.float32), "empty"),
        (np.zeros((1, 32, 32, 3), np.float32), np.full((1, 32, 32, 3), 255.0), r"\[0, 1\]"),
        (np.zeros((32, 32, 3), np.float32), np.zeros((32, 32, 3), np.float32), "images\\[None\\]"),
    ],
)
def test_bad_inputs_raise_clear_errors(restored, clean, match):
    with pytest.raises(ValueError, match=match):
        metrics.evaluate(None, restored, clean)


def test_ssim_needs_7x7():
    x = np.zeros((1, 5, 5, 3), np.float32)
    with pytest.raises(ValueError, match="7x7"):
        metrics.per_image_ssim(x, x)


def test_sigma_bins_and_grouped_means_add_up(images_uint8):
    rng = np.random.default_rng(3)
    clean = np.concatenate([images_uint8] * 4)
    corrupted, sigmas = corrupt(clean, seed=5)
    result = metrics.evaluate(None, corrupted, clean, per_image=True)
    index, labels = metrics.sigma_bins(sigmas, bins=6)
    assert len(labels) == 6 and labels[0] == "[1.00, 1.50)"
    assert np.all((1.0 + 0.5 * index <= sigmas) & (sigmas < 1.5 + 0.5 * index))
    table = metrics.grouped_metrics(result["per_image"], index, labels=labels)
    assert sum(t["n_images"] for t in table.values()) == len(clean)
    for key in metrics.METRICS:
        weighted = sum(t[key] * t["n_images"] for t in table.values()) / len(clean)
        assert weighted == pytest.approx(result[key], rel=1e-9)
    # Stronger blur, larger error: the first bin beats the last.
    assert table[labels[0]]["mse"] < table[labels[-1]]["mse"]
    by_class = metrics.grouped_metrics(result["per_image"], rng.integers(0, 2, len(clean)), labels=["a", "b"])
    assert set(by_class) == {"a", "b"}
    with pytest.raises(ValueError, match="groups has"):
        metrics.grouped_metrics(result["per_image"], index[:3])
    with pytest.raises(ValueError, match="sigmas must lie"):
        metrics.sigma_bins([0.5])


def test_format_table_speed_column_only_when_given():
    table = metrics.format_table({"identity": {"mse": 0.006}, "wiener": {"mse": 0.004, "images_per_s": 512.3}})
    assert table.splitlines()[0].endswith("| images/s |")
    assert table.splitlines()[-1].endswith("| 512 |") and table.splitlines()[-2].endswith("| – |")
    assert "images/s" not in metrics.format_table({"identity": {"mse": 0.006}})


# ------------------------------------------------------------ confidence intervals


def test_bootstrap_ci_has_the_normal_width_and_is_seeded():
    values = np.random.default_rng(0).normal(5.0, 2.0, 2000)
    low, high = metrics.bootstrap_ci(values, seed=30)
    assert low < values.mean() < high
    assert (high - low) == pytest.approx(2 * 1.96 * 2.0 / np.sqrt(2000), rel=0.15)  # the textbook interval
    assert metrics.bootstrap_ci(values, seed=30) == (low, high)
    assert metrics.bootstrap_ci(values, seed=31) != (low, high)
    narrow = metrics.bootstrap_ci(values, seed=30, confidence=0.5)
    assert low < narrow[0] < narrow[1] < high
    assert metrics.bootstrap_ci(np.full(10, 3.0), seed=0) == pytest.approx((3.0, 3.0))


@pytest.mark.parametrize("values, options, match", [
    (np.ones(1), {}, "at least 2"),
    (np.ones((3, 2)), {}, "1-D"),
    (np.array([1.0, np.inf]), {}, "inf"),
    (np.ones(5), {"confidence": 95}, "confidence"),
    (np.ones(5), {"n_resamples": 0}, "n_resamples"),
])
def test_bootstrap_ci_rejects_bad_input(values, options, match):
    with pytest.raises(ValueError, match=match):
        metrics.bootstrap_ci(values, seed=0, **options)
    with pytest.raises(TypeError):
        metrics.bootstrap_ci(np.ones(5))  # the seed is required


def test_summary_names_both_psnrs_and_maps_the_mse_interval(pair):
    restored, clean = pair
    mse, psnr = metrics.per_image_mse(restored, clean), metrics.per_image_psnr(restored, clean)
    s = metrics.summary_with_ci(mse, psnr, seed=30)
    assert s["mse"] == pytest.approx(mse.mean()) and s["mean_psnr"] == pytest.approx(psnr.mean())
    assert s["psnr_of_mean_mse"] == pytest.approx(10 * np.log10(1 / mse.mean()))
    assert s["psnr_of_mean_mse"] < s["mean_psnr"]  # Jensen: -log is convex
    assert s["psnr_of_mean_mse_ci"] == pytest.approx([metrics.psnr_from_mse(s["mse_ci"][1]),
                                                      metrics.psnr_from_mse(s["mse_ci"][0])])
    for name in ("mse", "mean_psnr", "psnr_of_mean_mse"):
        assert s[f"{name}_ci"][0] <= s[name] <= s[f"{name}_ci"][1]
    result = metrics.evaluate(None, restored, clean, ci_seed=30)
    assert result["ci"] == s and "ci" not in metrics.evaluate(None, restored, clean)
    table = metrics.format_ci_table({"identity": s})
    assert "PSNR of the mean MSE (dB) [95% CI]" in table and f"| identity | {s['mse']:.5f} [" in table
