"""Architecture diagrams: generated from the builders, committed, never stale."""

from __future__ import annotations

import importlib.util
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

keras = pytest.importorskip("keras")

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
model_svg = make_svg.diagrams.model_svg  # svg/diagrams.py: tooling, not part of the package


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


def test_deblurnet_half_resolution_and_skips(expected):
    root = _root(expected["DeblurNet.svg"])
    texts = _texts(root)
    labels = [b.find(f"{NS}text").text for b in _blocks(root)]
    assert labels[:4] == ["Input", "Conv 32 @3×3 · relu", "Conv 64 @2×2 /2×2", "Conv 64 @3×3 · relu"]
    assert labels[-4:] == ["ConvT 32 @2×2 /2×2", "Add · ReLU", "Conv 3 @3×3", "Add"]
    assert texts.count("H/2×W/2×64") == 13 and "H×W×32" in texts  # free dims followed through stride 2
    assert [(s.get("data-from"), s.get("data-to")) for s in _skips(root)] == [
        ("down", "block1_add"), ("block1_add", "block2_add"), ("block2_add", "block3_add"),
        ("block3_add", "block4_add"), ("head", "skip"), ("corrupted", "restored"),
    ]
    assert "deblurnet · 313,667 parameters" in texts


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


def test_make_svg_writes_atomically_and_only_when_stale(tmp_path, monkeypatch, expected, capsys):
    monkeypatch.setattr(make_svg, "HERE", tmp_path)
    (tmp_path / "Win5RB.svg").write_text(expected["Win5RB.svg"], "utf-8")
    monkeypatch.setattr(make_svg, "expected_svgs", lambda: expected)  # no rebuilding
    assert make_svg.main([]) == 0
    out = capsys.readouterr().out
    assert f"unchanged {tmp_path / 'Win5RB.svg'}" in out and f"wrote {tmp_path / 'CAE.svg'}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CAE.svg", "DeblurNet.svg", "Win5RB.svg"]  # no temp file
    for name, svg in expected.items():
        assert (tmp_path / name).read_bytes() == svg.encode("utf-8")
    assert stat.S_IMODE((tmp_path / "CAE.svg").stat().st_mode) == 0o644
