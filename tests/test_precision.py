"""bfloat16 where the CPU computes it: what ``precision`` resolves to, what it changes, what it leaves alone."""

import json
import zipfile

import numpy as np
import pytest

from deblur import machine, models, training
from deblur.recipe import Epochs, Recipe

from conftest import smooth_images

NATIVE = machine.bfloat16_native()
needs_native = pytest.mark.skipif(not NATIVE, reason="this CPU has no native bfloat16 (avx512_bf16 or amx_bf16)")


def _cpu_with(monkeypatch, flags):
    monkeypatch.setattr(machine, "_cpu_fields", lambda: {"model name": "test CPU", "flags": flags})


def test_auto_is_bfloat16_exactly_where_the_cpu_has_it(monkeypatch):
    _cpu_with(monkeypatch, "fpu sse2 avx2 avx512f avx512_bf16")
    assert machine.bfloat16_native() and machine.resolve_precision("auto") == "bfloat16"
    _cpu_with(monkeypatch, "fpu sse2 avx2 amx_bf16 amx_tile")
    assert machine.resolve_precision("auto") == "bfloat16"
    _cpu_with(monkeypatch, "fpu sse2 avx2 avx512f avx512bw")  # AVX-512 without BF16: emulated, slower
    assert not machine.bfloat16_native() and machine.resolve_precision("auto") == "float32"
    assert machine.resolve_precision("bfloat16") == "bfloat16"  # forced either way
    assert machine.machine_info()["bfloat16"] is False


def test_auto_stays_float32_on_an_accelerator(monkeypatch):
    _cpu_with(monkeypatch, "avx512f avx512_bf16")
    monkeypatch.setattr(machine, "_accelerators", lambda backend: ["NVIDIA H200"])
    assert machine.resolve_precision("auto") == "float32"


def test_an_unknown_precision_is_one_clear_error():
    with pytest.raises(ValueError, match=r"precision must be one of \['auto', 'float32', 'bfloat16'\]; got 'fp16'"):
        machine.resolve_precision("fp16")
    with pytest.raises(ValueError, match="precision must be one of"):
        Recipe("deblurnet", precision="half")


@pytest.mark.parametrize("build", [models.cae, models.win5rb, models.deblurnet])
def test_set_precision_keeps_the_output_layer_and_the_weights_in_float32(build):
    model = build(seed=0)
    weights = [w.copy() for w in model.get_weights()]
    assert models.set_precision(model, "bfloat16") == "float32"
    computing = {layer.name: layer.compute_dtype for layer in model.layers if layer.weights}
    assert computing.pop("restored", "float32") == "float32"
    assert set(computing.values()) == {"bfloat16"}
    assert model.layers[-1].name == "restored" and model.layers[-1].compute_dtype == "float32"
    assert {w.dtype for w in model.weights} == {"float32"}
    with models.computing_in(model, "float32"):
        assert {layer.compute_dtype for layer in model.layers} == {"float32"}
    assert models.set_precision(model, "float32") == "bfloat16"  # the block gave bfloat16 back
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))


@needs_native
def test_shipped_models_agree_in_bfloat16_to_40_db():
    """The stated tolerance: a shipped model's bfloat16 output within 40 dB PSNR of its float32 output (measured:
    about 50 dB; ``reports/bench_bfloat16.json``), on blurred, noisy images."""
    from deblur import corruption, inference

    clean = smooth_images(8, seed=3, size=32)
    noisy = corruption.corrupt(clean, seed=0)[0]
    for name in ("deblurnet", "win5rb", "cae"):
        model = models.load_pretrained(name)
        y32 = inference.restore(model, noisy, precision="float32")
        y16 = inference.restore(model, noisy, precision="bfloat16")
        assert y16.dtype == np.float32 and y16.shape == noisy.shape
        psnr = 10 * np.log10(1 / np.mean((y16 - y32) ** 2))
        assert 40 < psnr < 80, (name, psnr)  # close, and not secretly float32 (which would give inf)
        assert {layer.compute_dtype for layer in model.layers} == {"float32"}  # left as it was


@needs_native
def test_a_bfloat16_run_records_its_precision_and_saves_a_float32_model(tmp_path):
    recipe = Recipe("deblurnet", build={"width": 8, "blocks": 1, "head": 8}, length=Epochs(2), batch_size=16,
                    validation_split=0.25, precision="auto")
    run = training.train(models.deblurnet(width=8, blocks=1, head=8, seed=0), smooth_images(64), recipe,
                         run_dir=tmp_path, verbose=0)
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["precision"] == "bfloat16"
    assert [e["precision"] for e in history["epochs"]] == ["bfloat16", "bfloat16"]
    assert json.loads((tmp_path / "config.json").read_text())["precision"] == "auto"  # the recipe as written
    assert history["epochs"][-1]["loss"] < history["epochs"][0]["loss"] * 1.5
    assert {layer.compute_dtype for layer in run.model.layers} == {"float32"}  # what leaves training
    with zipfile.ZipFile(tmp_path / "model.keras") as archive:
        assert "bfloat16" not in archive.read("config.json").decode()


def test_a_float32_run_records_float32(tmp_path):
    recipe = Recipe("deblurnet", build={"width": 8, "blocks": 1, "head": 8}, length=Epochs(1), batch_size=16,
                    validation_split=0.25, precision="float32")
    training.train(models.deblurnet(width=8, blocks=1, head=8, seed=0), smooth_images(32), recipe, run_dir=tmp_path,
                   verbose=0)
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["precision"] == "float32" and history["epochs"][0]["precision"] == "float32"


# ----------------------------------------------------------- the optimizer's fields (issue 25's ablation factors)


def test_adamw_and_weight_ema_are_recipe_fields_that_reach_the_optimizer(tmp_path):
    recipe = Recipe("deblurnet", build={"width": 8, "blocks": 1, "head": 8}, length=Epochs(2), batch_size=16,
                    validation_split=0.25, beta_2=0.9, weight_decay=1e-3, ema_momentum=0.5, precision="float32")
    run = training.train(models.deblurnet(width=8, blocks=1, head=8, seed=0), smooth_images(64), recipe,
                         run_dir=tmp_path, verbose=0)
    config = models.load_model_file(next(tmp_path.glob("checkpoint-*.keras"))).optimizer.get_config()
    assert (config["beta_2"], config["weight_decay"], config["use_ema"], config["ema_momentum"]) == (0.9, 1e-3, True,
                                                                                                      0.5)
    # The run ends with the moving average: the final model is not the last checkpoint's raw weights.
    raw = models.load_model_file(next(tmp_path.glob("checkpoint-*.keras"))).get_weights()
    final = models.load_model_file(tmp_path / "model.keras").get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(final, run.model.get_weights()))
    assert not all(np.allclose(a, b) for a, b in zip(final, raw))
    assert Recipe.from_dict(json.loads((tmp_path / "config.json").read_text())) == recipe


@pytest.mark.parametrize("field, value, message", [
    ("beta_2", 1.0, r"beta_2 must be in \(0, 1\); got 1.0"),
    ("ema_momentum", 0.0, r"ema_momentum must be in \(0, 1\); got 0.0"),
    ("weight_decay", -1e-4, r"weight_decay must be >= 0; got -0.0001"),
])
def test_bad_optimizer_fields_are_one_clear_error(field, value, message):
    with pytest.raises(ValueError, match=message):
        Recipe("deblurnet", **{field: value})
