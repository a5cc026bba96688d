"""Draw the architecture diagrams in this folder (SVG) from the Keras models.

Tooling for ``svg/make_svg.py``, not part of the ``deblur`` package: it draws
the three models of :mod:`deblur.models` (CAE, Win5-RB, DeblurNet) from the
model objects themselves, so a diagram cannot drift from its builder. It
handles what those models are made of: one image input, each layer called
once, Conv2D / Conv2DTranspose / MaxPooling2D / UpSampling2D layers, BatchNorm
and ReLU after them, and ``Add`` merges.

Layout, top to bottom: one box per block, where a block is a layer followed by
the BatchNorm and ReLU layers that only post-process it (Conv -> BatchNorm ->
ReLU is one box labelled ``"Conv 64 @5×5 · BN · ReLU"``). Each row shows the
block's output shape, batch dimension left out, and its parameter count.
Consecutive blocks are joined by straight arrows; an edge that jumps over
blocks (a skip connection into ``Add``) is a dashed arrow in a lane to the
left. Free input dimensions (``None``) read ``H`` and ``W`` and are followed
through the layers, so a halved one reads ``H/2``.

The output is deterministic: the same model gives a byte-identical document.
"""

from __future__ import annotations

import math
from fractions import Fraction
from types import SimpleNamespace
from xml.sax.saxutils import escape as _xml_escape

__all__ = ["model_svg"]

# --------------------------------------------------------------------------
# The graph: layers, edges, blocks
# --------------------------------------------------------------------------

_SHORT_NAMES = {
    "InputLayer": "Input",
    "Conv2D": "Conv",
    "Conv2DTranspose": "ConvT",
    "MaxPooling2D": "MaxPool",
    "UpSampling2D": "UpSample",
}
#: Layers folded into the box of the layer they post-process.
_POSTPROCESS = {"BatchNormalization": "BN", "ReLU": "ReLU"}
_KINDS = {
    "InputLayer": "input",
    "Conv2D": "conv",
    "Conv2DTranspose": "conv",
    "MaxPooling2D": "pool",
    "UpSampling2D": "upsample",
}


def _as_list(tensors):
    return list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]


def _graph(model):
    """The model's layers (Keras's topological order) and the edges between them.

    Returns
    -------
    layers : list of keras.layers.Layer
    edges : list of (int, int)
        ``(producer index, consumer index)``, in consumer order.
    outputs : set of int
        Indices of the layers whose output is a model output.
    """
    layers = list(model.layers)
    producer = {id(layer.output): k for k, layer in enumerate(layers)}
    edges = []
    for k, layer in enumerate(layers):
        if type(layer).__name__ == "InputLayer":
            continue
        for tensor in _as_list(layer.input):
            if (producer[id(tensor)], k) not in edges:
                edges.append((producer[id(tensor)], k))
    outputs = {producer[id(t)] for t in model.outputs}
    return layers, edges, outputs


def _blocks(layers, edges, outputs):
    """Group layer indices into blocks: a layer plus the BN/ReLU layers that only post-process it.

    A layer joins the current block when it is a BatchNorm or ReLU, reads
    only the block's last layer, and that last layer feeds nothing else and
    is not a model output.
    """
    consumers, parents = {}, {}
    for src, dst in edges:
        consumers.setdefault(src, []).append(dst)
        parents.setdefault(dst, []).append(src)
    blocks = []
    for k, layer in enumerate(layers):
        if blocks:
            last = blocks[-1][-1]
            if (
                type(layer).__name__ in _POSTPROCESS
                and type(layers[blocks[-1][0]]).__name__ != "InputLayer"
                and parents.get(k) == [last]
                and consumers.get(last) == [k]
                and last not in outputs
            ):
                blocks[-1].append(k)
                continue
        blocks.append([k])
    return blocks


def _block_edges(edges, blocks):
    """Edges between blocks: ``(straight, long)``, long ones jumping over blocks."""
    block_of = {k: b for b, members in enumerate(blocks) for k in members}
    joined = []
    for src, dst in edges:
        edge = (block_of[src], block_of[dst])
        if edge[0] != edge[1] and edge not in joined:
            joined.append(edge)
    return [e for e in joined if e[1] == e[0] + 1], [e for e in joined if e[1] != e[0] + 1]


# --------------------------------------------------------------------------
# Labels and shapes
# --------------------------------------------------------------------------


def _size(value):
    return "×".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def _label(layer):
    """Short label of one layer, e.g. ``"Conv 64 @5×5"`` or ``"ConvT 32 @2×2 /2×2 · relu"``."""
    cls = type(layer).__name__
    if cls in _POSTPROCESS:
        return _POSTPROCESS[cls]
    cfg = layer.get_config()
    text = _SHORT_NAMES.get(cls, cls)
    if "kernel_size" in cfg:
        text += f" {cfg['filters']} @{_size(cfg['kernel_size'])}"
        if any(s != 1 for s in cfg["strides"]):
            text += f" /{_size(cfg['strides'])}"
    elif "pool_size" in cfg:
        text += f" {_size(cfg['pool_size'])}"
    elif cls == "UpSampling2D":
        text += f" {_size(cfg['size'])} · {cfg['interpolation']}"
    activation = cfg.get("activation")
    if activation not in (None, "linear"):
        text += f" · {activation}"
    return text


def _kind(layer, n_inputs):
    return "merge" if n_inputs > 1 else _KINDS.get(type(layer).__name__, "other")


#: Probe size for the free dimensions: highly composite, so halvings are exact.
_PROBE = 720720


def _shapes(model, layers):
    """Output shape of every layer without the batch dimension, e.g. ``"H/2×W/2×64"``.

    The free (``None``) height and width of the model's input are followed
    symbolically: the shapes are computed (no data) with both free dimensions
    at a probe size, then with each doubled in turn; a dimension that changes
    with exactly one of them is written as a fraction of it.
    """
    import keras

    (image,) = model.inputs
    free = [axis for axis in (1, 2) if image.shape[axis] is None]
    outputs = [layer.output for layer in layers]
    symbolic = [tuple(t.shape)[1:] for t in outputs]

    def probe(doubled=None):
        shape = list(image.shape)
        for axis in free:
            shape[axis] = _PROBE * (2 if axis == doubled else 1)
        specs = keras.Function([image], outputs).compute_output_spec([keras.KerasTensor(shape, dtype=image.dtype)])
        return [tuple(spec.shape)[1:] for spec in specs]

    base = probe() if free else symbolic
    doubled = {axis: probe(axis) for axis in free}

    def dim(t, axis, d):
        if d is not None:
            return str(d)
        deps = [a for a in free if doubled[a][t][axis] != base[t][axis]]
        if len(deps) != 1:
            return "?"
        coef = Fraction(doubled[deps[0]][t][axis] - base[t][axis], _PROBE)
        name = "HW"[deps[0] - 1]
        if coef * _PROBE != base[t][axis]:
            return "?"
        if coef == 1:
            return name
        return f"{name}/{coef.denominator}" if coef.numerator == 1 else f"{coef.numerator}{name}/{coef.denominator}"

    return ["×".join(dim(t, axis, d) for axis, d in enumerate(shape)) for t, shape in enumerate(symbolic)]


def _rows(layers, blocks, edges, shapes):
    """One row per block: label, layer names, output shape, parameters, kind."""
    n_inputs = {}
    for _, dst in edges:
        n_inputs[dst] = n_inputs.get(dst, 0) + 1
    rows = []
    for members in blocks:
        first = layers[members[0]]
        rows.append(
            {
                "label": " · ".join(_label(layers[k]) for k in members),
                "names": " · ".join(layers[k].name for k in members),
                "shape": shapes[members[-1]],
                "params": sum(int(layers[k].count_params()) for k in members),
                "kind": _kind(first, n_inputs.get(members[0], 0)),
                "layers": [layers[k].name for k in members],
            }
        )
    return rows


# --------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------

_SANS = "DejaVu Sans, Helvetica, Arial, sans-serif"
_MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"

# fill, stroke per block kind
_COLOURS = {
    "input": ("#eeeeee", "#7a7a7a"),
    "conv": ("#dce8f7", "#4a78b0"),
    "pool": ("#fbe3c9", "#c9761f"),
    "upsample": ("#dcefd8", "#4c9445"),
    "merge": ("#ece0f6", "#8455ad"),
    "other": ("#f3f3f3", "#8a8a8a"),
}
_EDGE = "#444444"
_SKIP = "#c0392b"
_LEGEND = "skip connection (an edge that jumps over blocks)"

_BOX_H = 48
_GAP = 28
_MARGIN = 24
_LANE = 26
_PAD = 16
_LABEL_SIZE, _NAME_SIZE, _CELL_SIZE, _HEAD_SIZE = 14, 11, 13, 11


def _w(text, size, *, mono=False, bold=False):
    """Estimated rendered width of ``text`` in px (generous, never measured)."""
    per_char = 0.61 if mono else (0.68 if bold else 0.6)
    return len(text) * size * per_char


def _assign_lanes(spans):
    """Lane per long edge: shortest edges nearest the boxes, no overlaps."""
    lanes = [None] * len(spans)
    occupied = []  # per lane: list of (lo, hi)
    for k in sorted(range(len(spans)), key=lambda k: (spans[k][1] - spans[k][0], spans[k])):
        lo, hi = spans[k]
        for lane, used in enumerate(occupied):
            if all(hi < a or lo > b for a, b in used):
                used.append((lo, hi))
                lanes[k] = lane
                break
        else:
            occupied.append([(lo, hi)])
            lanes[k] = len(occupied) - 1
    return lanes, len(occupied)


def _layout(model, rows, *, title, n_lanes, has_skips):
    """Positions and sizes of everything: the box column, the table columns, the rows, the page."""
    g = SimpleNamespace(title=title)
    total = int(model.count_params())
    trainable = sum(math.prod(int(d) for d in w.shape) for w in model.trainable_weights)
    g.footer = f"{model.name} · {total:,} parameters"
    g.footer_detail = f"{trainable:,} trainable · {total - trainable:,} non-trainable"
    g.params_texts = [f"{r['params']:,}" for r in rows]

    box_w = max(
        [220.0]
        + [_w(r["label"], _LABEL_SIZE, bold=True) + 2 * _PAD for r in rows]
        + [_w(r["names"], _NAME_SIZE, mono=True) + 2 * _PAD for r in rows]
    )
    g.box_w = math.ceil(box_w / 2) * 2
    g.box_x = _MARGIN + (n_lanes * _LANE + 18 if n_lanes else 0)
    g.cx = g.box_x + g.box_w / 2
    g.shape_x = g.box_x + g.box_w + 28
    shape_w = max([_w("output shape", _HEAD_SIZE)] + [_w(r["shape"], _CELL_SIZE, mono=True) for r in rows])
    params_w = max([_w("params", _HEAD_SIZE)] + [_w(t, _CELL_SIZE, mono=True) for t in g.params_texts])
    g.params_right = g.shape_x + shape_w + 28 + params_w

    g.title_y = _MARGIN + 16
    g.head_y = g.title_y + 30
    top = g.head_y + 12
    g.row_y = [top + k * (_BOX_H + _GAP) for k in range(len(rows))]
    g.footer_y = g.row_y[-1] + _BOX_H + 34
    g.legend_y = g.footer_y + 22
    g.height = math.ceil((g.legend_y if has_skips else g.footer_y + 4) + _MARGIN - 4)
    g.width = math.ceil(
        max(
            g.params_right + _MARGIN,
            _MARGIN + _w(title, 18, bold=True) + _MARGIN,
            _MARGIN + _w(g.footer, 13, bold=True) + 16 + _w(g.footer_detail, 12) + _MARGIN,
            _MARGIN + 44 + _w(_LEGEND, 12) + _MARGIN,
        )
    )
    g.slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in model.name)
    return g


# --------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------


def _num(x):
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _esc(text):
    return _xml_escape(str(text), {'"': "&quot;"})


def _text(x, y, text, *, size, anchor="start", mono=False, bold=False, fill="#222222", extra=""):
    family = _MONO if mono else _SANS
    weight = ' font-weight="bold"' if bold else ""
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" font-family="{family}" font-size="{size}"'
        f'{weight} text-anchor="{anchor}" fill="{fill}"{extra}>{_esc(text)}</text>'
    )


def _marker(marker_id, size, fill):
    return (
        f'<marker id="{marker_id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="{size}" '
        f'markerHeight="{size}" markerUnits="userSpaceOnUse" orient="auto">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{fill}"/></marker>'
    )


def _draw_header(model, g):
    """XML declaration, ``<svg>``, title, arrow markers, background and column heads."""
    return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<!-- Generated by svg/make_svg.py (svg/diagrams.py) from the Keras model "
        f"{_esc(model.name).replace('--', '- -')}; do not edit by hand. -->",
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{g.width}" '
        f'height="{g.height}" viewBox="0 0 {g.width} {g.height}">',
        f"<title>{_esc(g.title)}</title>",
        f"<desc>{_esc(f'Layer graph of the Keras model {model.name}: {g.footer}.')}</desc>",
        "<defs>",
        _marker(f"{g.slug}-arrow", 9, _EDGE),
        _marker(f"{g.slug}-skip-arrow", 10, _SKIP),
        "</defs>",
        f'<rect x="0" y="0" width="{g.width}" height="{g.height}" fill="#ffffff"/>',
        _text(_MARGIN, g.title_y, g.title, size=18, bold=True),
        _text(g.shape_x, g.head_y, "output shape", size=_HEAD_SIZE, fill="#777777"),
        _text(g.params_right, g.head_y, "params", size=_HEAD_SIZE, anchor="end", fill="#777777"),
    ]


def _draw_blocks(rows, g):
    """One ``<g class="block">`` per row: the box, its label and layer names, shape and parameters."""
    out = []
    for k, row in enumerate(rows):
        y = g.row_y[k]
        fill, stroke = _COLOURS[row["kind"]]
        mid = y + _BOX_H / 2 + 4.5
        out += [
            f'<g class="block {row["kind"]}" id="{g.slug}-block-{k}" '
            f'data-layers="{_esc(" ".join(row["layers"]))}">',
            f'<rect x="{_num(g.box_x)}" y="{_num(y)}" width="{_num(g.box_w)}" height="{_BOX_H}" '
            f'rx="6" ry="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>',
            _text(g.cx, y + 20, row["label"], size=_LABEL_SIZE, anchor="middle", bold=True),
            _text(g.cx, y + 37, row["names"], size=_NAME_SIZE, anchor="middle", mono=True, fill="#555555"),
            _text(g.shape_x, mid, row["shape"], size=_CELL_SIZE, mono=True),
            _text(g.params_right, mid, g.params_texts[k], size=_CELL_SIZE, anchor="end", mono=True),
            "</g>",
        ]
    return out


def _draw_arrows(straight, g):
    """Straight arrows between consecutive blocks."""
    return [
        f'<path class="edge" d="M{_num(g.cx)},{_num(g.row_y[src] + _BOX_H)} V{_num(g.row_y[dst])}" '
        f'fill="none" stroke="{_EDGE}" stroke-width="1.5" marker-end="url(#{g.slug}-arrow)"/>'
        for src, dst in straight
    ]


def _draw_skips(rows, long_edges, lanes, g):
    """Dashed arrows in side lanes for the edges that jump over blocks.

    They leave a box's left side a little above its middle and enter a
    little below, spread apart when several share a box.
    """
    exits, entries = {}, {}
    for edge in long_edges:
        exits.setdefault(edge[0], []).append(edge)
        entries.setdefault(edge[1], []).append(edge)

    def port(block, siblings, edge, sign):
        return g.row_y[block] + _BOX_H / 2 + sign * (7 + 6 * siblings.index(edge))

    out = []
    for (src, dst), lane in zip(long_edges, lanes):
        lane_x = g.box_x - 18 - lane * _LANE
        y0 = port(src, exits[src], (src, dst), -1)
        y1 = port(dst, entries[dst], (src, dst), +1)
        what = "skip connection" if rows[dst]["kind"] == "merge" else "long edge"
        start, end = rows[src]["layers"][-1], rows[dst]["layers"][0]
        out += [
            f'<g class="skip" data-from="{_esc(start)}" data-to="{_esc(end)}">',
            f"<title>{_esc(f'{what}: {start} → {end}')}</title>",
            f'<path d="M{_num(g.box_x)},{_num(y0)} H{_num(lane_x)} V{_num(y1)} H{_num(g.box_x)}" '
            f'fill="none" stroke="{_SKIP}" stroke-width="2" stroke-dasharray="7 4" '
            f'marker-end="url(#{g.slug}-skip-arrow)"/>',
        ]
        if y1 - y0 > _w(what, 11) + 20:
            ly, lx = (y0 + y1) / 2, lane_x - 5
            rotate = f' transform="rotate(-90 {_num(lx)} {_num(ly)})"'
            out.append(_text(lx, ly, what, size=11, anchor="middle", fill=_SKIP, extra=rotate))
        out.append("</g>")
    return out


def _draw_footer(g, has_skips):
    """Model name and parameter counts; the skip-connection legend when there are skips."""
    out = [
        _text(_MARGIN, g.footer_y, g.footer, size=13, bold=True),
        _text(_MARGIN + _w(g.footer, 13, bold=True) + 16, g.footer_y, g.footer_detail, size=12, fill="#555555"),
    ]
    if has_skips:
        out += [
            f'<path d="M{_MARGIN},{_num(g.legend_y - 4)} h34" fill="none" stroke="{_SKIP}" '
            f'stroke-width="2" stroke-dasharray="7 4" marker-end="url(#{g.slug}-skip-arrow)"/>',
            _text(_MARGIN + 44, g.legend_y, _LEGEND, size=12, fill="#555555"),
        ]
    return out


def model_svg(model, *, title=None):
    """Draw a model's layer graph as a standalone SVG document.

    Parameters
    ----------
    model : keras.Model
        A functional model with one image input, built by :mod:`deblur.models`
        (or made of the same kinds of layers). Its graph is read, never
        modified, and no data is run through it.
    title : str, optional
        Heading of the diagram; defaults to the model's name.

    Returns
    -------
    svg : str
        A complete SVG 1.1 document (XML declaration included), drawn top to
        bottom: one box per block with its output shape and parameter count,
        straight arrows between consecutive blocks, dashed arrows in side
        lanes for skip connections, and a footer with the model's total,
        trainable and non-trainable parameter counts. The same model always
        gives the same string.
    """
    layers, edges, outputs = _graph(model)
    blocks = _blocks(layers, edges, outputs)
    rows = _rows(layers, blocks, edges, _shapes(model, layers))
    straight, long_edges = _block_edges(edges, blocks)
    lanes, n_lanes = _assign_lanes(long_edges)
    g = _layout(model, rows, title=model.name if title is None else title, n_lanes=n_lanes,
                has_skips=bool(long_edges))
    out = [
        *_draw_header(model, g),
        *_draw_blocks(rows, g),
        *_draw_arrows(straight, g),
        *_draw_skips(rows, long_edges, lanes, g),
        *_draw_footer(g, bool(long_edges)),
        "</svg>",
    ]
    return "\n".join(out) + "\n"
