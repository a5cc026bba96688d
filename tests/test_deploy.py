"""deblur export: ONNX, LiteRT and SavedModel files that compute what the Keras model computes."""

import keras
import numpy as np
import pytest

from deblur import cli, corruption, deploy, inference


def load_exported(path, *, format):
    """The parity harness: a function running an exported model: ``run(batch)`` with float32 ``(N, H, W, 3)`` -> ``(N, H, W, 3)``.

    ONNX runs with onnxruntime, LiteRT with the ``ai_edge_litert`` interpreter (else TensorFlow's
    ``tf.lite.Interpreter``), a SavedModel with TensorFlow (its ``serve`` endpoint).

    Parameters
    ----------
    path : str or os.PathLike
    format : {"onnx", "litert", "tf_saved_model"}
    """
    path = str(path)
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda batch: session.run(None, {name: np.asarray(batch, np.float32)})[0]
    if format == "litert":
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:  # the standalone runtime is not installable everywhere; TensorFlow has one too
            from tensorflow.lite import Interpreter
        interpreter = Interpreter(model_path=path)

        def run(batch):
            batch = np.asarray(batch, np.float32)
            index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(index, batch.shape)  # the free sizes are set per call
            interpreter.allocate_tensors()
            interpreter.set_tensor(index, batch)
            interpreter.invoke()
            return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

        return run
    if format == "tf_saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        return lambda batch: loaded.serve(np.asarray(batch, np.float32)).numpy()
    raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(deploy.FORMATS)}.")


@pytest.fixture(scope="module")
def model():
    return inference.as_any_size_model("deblurnet")  # the smallest shipped model (313,667 parameters)


@pytest.fixture(scope="module")
def batch():
    """Four corrupted 48x64 crops of scikit-image's photographs (not a size the model was trained on)."""
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    clean = np.stack([p[:48, :64] for p in photos]).astype(np.float32) / 255.0
    return np.clip(corruption.corrupt(clean, seed=0)[0], 0, 1).astype(np.float32)


@pytest.mark.parametrize("fmt", sorted(deploy.FORMATS))
def test_exported_model_matches_keras(tmp_path, model, batch, fmt):
    if fmt == "litert":
        pytest.importorskip("ai_edge_litert")
    path = tmp_path / f"m{deploy.FORMATS[fmt]}"
    deploy.export(model, path, format=fmt)
    expected = keras.ops.convert_to_numpy(model(batch))
    assert np.abs(expected - batch).max() > 0.05  # the model changes the images: the check means something
    run = load_exported(path, format=fmt)
    np.testing.assert_allclose(run(batch), expected, atol=1e-4)
    np.testing.assert_allclose(run(batch[:1, :20, :30]), keras.ops.convert_to_numpy(model(batch[:1, :20, :30])),
                               atol=1e-4)  # any size
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_export_command_refuses_existing_and_wrong_paths(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"an earlier export")
    for argv, message in (
        (["--format", "onnx", "--out", str(out)], "already exists"),
        (["--format", "onnx", "--out", str(tmp_path / "m.tflite")], "ending in .onnx"),
        (["--format", "tf_saved_model", "--out", str(tmp_path / "x.onnx")], "is a folder"),
        (["--model", "unet", "--format", "onnx", "--out", str(tmp_path / "n.onnx")], "unknown model"),
    ):
        assert cli.main(["export", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == b"an earlier export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_export_command_writes_a_file_that_matches_keras(tmp_path, model, batch, capsys):
    # The command loads a model that was never called (rebuilt for any size); the export must still work.
    path = tmp_path / "deblurnet.onnx"
    assert cli.main(["export", "--model", "deblurnet", "--format", "onnx", "--out", str(path)]) == 0
    assert "wrote" in capsys.readouterr().out
    run = load_exported(path, format="onnx")
    np.testing.assert_allclose(run(batch), keras.ops.convert_to_numpy(model(batch)), atol=1e-4)


@pytest.mark.parametrize("fmt", sorted(deploy.FORMATS))
def test_the_exported_default_carries_its_guard_and_equals_restore(tmp_path, fmt, capsys):
    # Issue 40, part 4: the default model exported without its guard harmed the sharp photos restore leaves alone.
    from skimage import data

    if fmt == "litert":
        pytest.importorskip("ai_edge_litert")
    name = "deblurnet_photo"
    path = tmp_path / f"photo{deploy.FORMATS[fmt]}"
    assert cli.main(["export", "--model", name, "--format", fmt, "--out", str(path)]) == 0
    assert "do-no-harm guard" in capsys.readouterr().out
    sharp = data.astronaut()[100:196, 150:278].astype(np.float32) / 255  # 96x128: one pass, no tiles
    blurred = np.clip(corruption.corrupt(sharp[None], seed=3, sigma_range=(3.0, 3.5))[0][0], 0, 1)
    restorer = inference.Restorer(name, precision="float32")
    assert restorer.guard is not None
    run = load_exported(path, format=fmt)
    for image in (sharp, blurred):
        expected = restorer(image)
        np.testing.assert_allclose(run(image[None])[0], expected, atol=1e-4)
    network = keras.ops.convert_to_numpy(restorer.model(sharp[None]))[0]
    assert np.abs(np.clip(network, 0, 1) - restorer(sharp)).max() > 1e-3  # the guard acted on the sharp photo
