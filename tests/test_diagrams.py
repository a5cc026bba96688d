"""Architecture diagrams: generated from the builders, committed, never stale."""

from __future__ import annotations

import importlib.util
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

keras = pytest.importorskip("keras")
from keras import layers  # noqa: E402

from deblur.diagrams import model_svg, write_model_svg  # noqa: E402
from deblur.models import cae, deblurnet, win5rb  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SVG_DIR = ROOT / "svg"
NS = "{http://www.w3.org/2000/svg}"


def _load_make_svg():
    spec = importlib.util.spec_from_file_location("make_svg", SVG_DIR / "make_svg.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_svg = _load_make_svg()


@pytest.fixture(scope="module")
def expected():
    return make_svg.expected_svgs()


@pytest.fixture(scope="module")
def models():
    return {"CAE.svg": cae(), "Win5RB.svg": win5rb(), "DeblurNet.svg": deblurnet()}


def _root(svg):
    return ET.fromstring(svg.encode("utf-8"))


def _texts(root):
    return [el.text or "" for el in root.iter(f"{NS}text")]


def _blocks(root):
    return [el for el in root.iter(f"{NS}g") if "block" in el.get("class", "").split()]


def _skips(root):
    return [el for el in root.iter(f"{NS}g") if el.get("class") == "skip"]


# ---------------------------------------------------------------------------
# The committed files
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["CAE.svg", "Win5RB.svg", "DeblurNet.svg"])
def test_committed_svg_matches_builders(expected, name):
    path = SVG_DIR / name
    message = (
        f"svg/{name} is out of date with deblur/models.py (or missing): "
        "run `python svg/make_svg.py` and commit the result."
    )
    assert path.is_file(), message
    assert path.read_bytes() == expected[name].encode("utf-8"), message


def test_check_mode_flags_stale_files(tmp_path, expected, capsys):
    assert make_svg.stale_files(SVG_DIR) == []
    assert make_svg.main(["--check"]) == 0
    # A missing file and an edited file are both reported; nothing is written.
    (tmp_path / "CAE.svg").write_text(expected["CAE.svg"].replace("parameters", "params"), "utf-8")
    assert make_svg.stale_files(tmp_path) == ["CAE.svg", "Win5RB.svg", "DeblurNet.svg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CAE.svg"]


# ---------------------------------------------------------------------------
# Content of the diagrams
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["CAE.svg", "Win5RB.svg", "DeblurNet.svg"])
def test_svg_is_wellformed_xml(expected, name):
    svg = expected[name]
    assert svg.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = _root(svg)
    assert root.tag == f"{NS}svg"
    assert int(root.get("width")) > 0 and int(root.get("height")) > 0
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"


@pytest.mark.parametrize("name", ["CAE.svg", "Win5RB.svg", "DeblurNet.svg"])
def test_every_layer_is_drawn_once_in_order(expected, models, name):
    model = models[name]
    root = _root(expected[name])
    drawn = [n for block in _blocks(root) for n in block.get("data-layers").split()]
    assert drawn == [layer.name for layer in model.layers]
    texts = _texts(root)
    for layer in model.layers:
        assert any(layer.name in t for t in texts), layer.name


def test_cae_blocks_shapes_and_total(expected):
    root = _root(expected["CAE.svg"])
    texts = _texts(root)
    labels = [
        "Input",
        "Conv 32 @3×3 · BN · ReLU",
        "Conv 64 @3×3 · BN · ReLU",
        "Conv 128 @3×3 · BN · ReLU",
        "MaxPool 2×2",
        "Conv 256 @3×3 · BN · ReLU",
        "MaxPool 2×2",
        "Conv 128 @3×3 · BN · ReLU",
        "UpSample 2×2 · nearest",
        "Conv 64 @3×3 · BN · ReLU",
        "UpSample 2×2 · nearest",
        "Conv 32 @3×3 · BN · ReLU",
        "Conv 3 @3×3 · sigmoid",
    ]
    assert [b.find(f"{NS}text").text for b in _blocks(root)] == labels
    shapes = ("32×32×3", "32×32×128", "16×16×256", "8×8×256", "8×8×128", "16×16×64")
    for shape in shapes:
        assert shape in texts
    for params in ("1,024", "296,192", "867"):
        assert params in texts
    assert "cae · 779,395 parameters" in texts
    assert _skips(root) == []  # a plain chain: no skip connection


def test_win5rb_blocks_skip_connection_and_total(expected):
    root = _root(expected["Win5RB.svg"])
    texts = _texts(root)
    labels = [
        "Input",
        "Conv 32 @3×3 · BN · ReLU",
        "Conv 64 @5×5 · BN · ReLU",
        "Conv 128 @7×7 · BN · ReLU",
        "Conv 128 @7×7 · BN · ReLU",
        "Conv 3 @7×7 · BN",
        "Add",
    ]
    assert [b.find(f"{NS}text").text for b in _blocks(root)] == labels
    assert "H×W×128" in texts and "H×W×3" in texts
    assert "win5rb · 1,276,879 parameters" in texts
    (skip,) = _skips(root)
    assert (skip.get("data-from"), skip.get("data-to")) == ("corrupted", "restored")
    assert skip.find(f"{NS}title").text == "skip connection: corrupted → restored"
    assert any(t.text == "skip connection" for t in skip.iter(f"{NS}text"))
    path = skip.find(f"{NS}path")
    assert path.get("stroke-dasharray")  # drawn dashed, unlike the chain arrows
    # Six straight arrows join the seven blocks.
    assert len([p for p in root.iter(f"{NS}path") if p.get("class") == "edge"]) == 6


def test_totals_match_keras(expected, models):
    for name, model in models.items():
        assert f"{model.count_params():,} parameters" in expected[name]


# ---------------------------------------------------------------------------
# Determinism and writing
# ---------------------------------------------------------------------------


def test_output_is_deterministic(models):
    model = models["Win5RB.svg"]
    first = model_svg(model, title="t")
    assert model_svg(model, title="t") == first
    assert model_svg(win5rb(seed=3), title="t") == first  # a fresh build, other weights
    assert model_svg(cae(), title="t") == model_svg(models["CAE.svg"], title="t")


def test_title_and_text_are_escaped(models):
    svg = model_svg(models["Win5RB.svg"], title='a <b> & "c"')
    root = _root(svg)
    assert root.find(f"{NS}title").text == 'a <b> & "c"'


def test_write_model_svg_is_atomic_and_readable(tmp_path, models):
    model = models["CAE.svg"]
    path = tmp_path / "m.svg"
    assert write_model_svg(model, path, title="x") == os.fspath(path)
    assert path.read_text("utf-8") == model_svg(model, title="x")
    assert [p.name for p in tmp_path.iterdir()] == ["m.svg"]  # no temp file left
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o600)
    write_model_svg(model, path)  # overwrites, keeping the file's mode
    assert path.read_text("utf-8") == model_svg(model)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# ---------------------------------------------------------------------------
# Any functional model, not only the study's two
# ---------------------------------------------------------------------------


def test_generic_branching_model_with_free_dims():
    inputs = keras.Input((None, None, 3), name="img")
    a = layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    a = layers.ReLU(name="r1")(a)
    b = layers.MaxPooling2D(2, name="pool")(a)
    b = layers.Conv2D(8, 3, padding="valid", name="c2")(b)
    b = layers.ZeroPadding2D(1, name="pad")(b)
    b = layers.UpSampling2D(2, name="up")(b)
    out = layers.Concatenate(name="cat")([a, b])
    model = keras.Model(inputs, out, name="unet-ish")
    root = _root(model_svg(model))
    texts = _texts(root)
    assert [b.get("data-layers") for b in _blocks(root)] == [
        "img", "c1 r1", "pool", "c2", "pad", "up", "cat",
    ]
    # Free dimensions are followed through pooling and valid convolution.
    assert "H/2×W/2×8" in texts and "H/2-2×W/2-2×8" in texts and "H×W×16" in texts
    (skip,) = _skips(root)
    assert (skip.get("data-from"), skip.get("data-to")) == ("r1", "cat")
    assert f"unet-ish · {model.count_params():,} parameters" in texts


def test_sequential_model():
    model = keras.Sequential(
        [keras.Input((8,)), layers.Dense(4, name="d"), layers.Activation("tanh", name="t")],
        name="seq",
    )
    root = _root(model_svg(model))
    assert [b.find(f"{NS}text").text for b in _blocks(root)][-1] == "Dense 4 · tanh"
    assert "seq · 36 parameters" in _texts(root)


def test_subclassed_model_is_rejected():
    class Net(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(TypeError, match="functional"):
        model_svg(Net())
