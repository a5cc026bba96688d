"""Architecture diagrams (SVG) drawn from a Keras functional model.

The diagram is computed from the model object itself, never written by hand,
so it cannot drift from the builder that made the model. The layer graph is
walked generically (inbound nodes of every operation, as ``keras.utils.
plot_model`` does), so any functional model works, not only the ones in
:mod:`deblur.models`; no Graphviz or other external program is needed.

Layout, top to bottom: one box per block, where a block is a layer followed by
the normalisation and activation layers that only post-process it (Conv ->
BatchNorm -> ReLU is one box labelled ``"Conv 64 @5×5 · BN · ReLU"``). Each row
shows the block's output shape, batch dimension left out, and its parameter
count. Consecutive blocks are joined by straight arrows; an edge that jumps
over blocks (a skip connection into a merge layer such as ``Add``) is drawn as
a dashed arrow in a lane to the left. Dimensions left free in the model's
input (``None``) are named ``H``, ``W`` (``D``, ``T``, ...) and followed
through the layers, so a pooled free dimension reads ``H/2``.

The output is deterministic: the same model gives a byte-identical document.
"""

from __future__ import annotations

import math
import os
import tempfile
from fractions import Fraction
from xml.sax.saxutils import escape as _xml_escape

__all__ = ["model_svg", "write_model_svg"]

# --------------------------------------------------------------------------
# Graph extraction
# --------------------------------------------------------------------------

#: Layers folded into the box of the layer they post-process (same shape).
_POSTPROCESS = {
    "BatchNormalization": "BN",
    "LayerNormalization": "LN",
    "GroupNormalization": "GN",
    "UnitNormalization": "UnitNorm",
    "ReLU": "ReLU",
    "LeakyReLU": "LeakyReLU",
    "PReLU": "PReLU",
    "ELU": "ELU",
    "Softmax": "Softmax",
    "Activation": None,  # labelled by its activation function
}

_SHORT_NAMES = {
    "InputLayer": "Input",
    "Conv1D": "Conv1D",
    "Conv2D": "Conv",
    "Conv3D": "Conv3D",
    "Conv1DTranspose": "ConvT1D",
    "Conv2DTranspose": "ConvT",
    "Conv3DTranspose": "ConvT3D",
    "SeparableConv1D": "SepConv1D",
    "SeparableConv2D": "SepConv",
    "DepthwiseConv1D": "DWConv1D",
    "DepthwiseConv2D": "DWConv",
    "MaxPooling1D": "MaxPool",
    "MaxPooling2D": "MaxPool",
    "MaxPooling3D": "MaxPool",
    "AveragePooling1D": "AvgPool",
    "AveragePooling2D": "AvgPool",
    "AveragePooling3D": "AvgPool",
    "GlobalMaxPooling1D": "GlobalMaxPool",
    "GlobalMaxPooling2D": "GlobalMaxPool",
    "GlobalMaxPooling3D": "GlobalMaxPool",
    "GlobalAveragePooling1D": "GlobalAvgPool",
    "GlobalAveragePooling2D": "GlobalAvgPool",
    "GlobalAveragePooling3D": "GlobalAvgPool",
    "UpSampling1D": "UpSample",
    "UpSampling2D": "UpSample",
    "UpSampling3D": "UpSample",
    "Concatenate": "Concat",
}

_DIM_LETTERS = {1: ("N",), 2: ("T", "C"), 3: ("H", "W", "C"), 4: ("D", "H", "W", "C")}

# Probe sizes for free dimensions: highly composite, so that integer
# divisions by pooling factors are exact.
_PROBE = 720720


class _Op:
    """One operation of the model with the nodes (calls) that belong to it."""

    def __init__(self, op):
        self.op = op
        self.nodes = []

    @property
    def name(self):
        return self.op.name

    @property
    def cls(self):
        return type(self.op).__name__


def _model_ops(model):
    """The model's operations in Keras's topological order, with their nodes.

    Only the nodes (calls) that belong to ``model`` are kept: a layer shared
    with another model has nodes that are not part of this graph. The model's
    nodes are found by walking back from ``model.outputs`` through each
    tensor's ``_keras_history`` (the operation and call that produced it), as
    ``keras.Function`` does, stopping at ``model.inputs``.
    """
    if not hasattr(model, "outputs") or not hasattr(model, "inputs"):
        raise TypeError(
            f"model_svg needs a functional keras.Model (with inputs and outputs); "
            f"got {type(model).__name__}."
        )
    try:
        outputs = list(model.outputs)
        inputs = list(model.inputs)
    except (AttributeError, ValueError) as exc:  # unbuilt subclassed model
        raise TypeError(
            "model_svg needs a functional keras.Model; this one has no symbolic "
            f"inputs/outputs ({exc})."
        ) from exc
    input_ids = {id(t) for t in inputs}

    def producer(tensor):
        history = getattr(tensor, "_keras_history", None)
        if history is None or history.operation is None:
            return None
        return history.operation._inbound_nodes[history.node_index]

    node_ids = set()
    nodes = []
    stack = [n for n in map(producer, outputs) if n is not None]
    stack += [n for n in map(producer, inputs) if n is not None and n.is_input]
    while stack:
        node = stack.pop()
        if id(node) in node_ids:
            continue
        node_ids.add(id(node))
        nodes.append(node)
        for tensor in node.input_tensors:
            if id(tensor) in input_ids:
                parent = producer(tensor)
                if parent is not None and parent.is_input:
                    stack.append(parent)
                continue
            parent = producer(tensor)
            if parent is not None:
                stack.append(parent)

    # Keras orders operations by depth, inputs first. A Sequential model keeps
    # its graph (input layer included) in a private Functional.
    graph = getattr(model, "_functional", None) or model
    ordered = list(getattr(graph, "operations", None) or model.layers)
    by_id = {}
    for op in ordered:
        entry = _Op(op)
        for node in op._inbound_nodes:
            if id(node) in node_ids:
                entry.nodes.append(node)
        if entry.nodes:
            by_id[id(op)] = entry
    return [by_id[id(op)] for op in ordered if id(op) in by_id]


def _edges(ops):
    """Directed edges ``(src_index, dst_index)`` between ops, in order."""
    index = {id(e.op): i for i, e in enumerate(ops)}
    edges = []
    for i, entry in enumerate(ops):
        for node in entry.nodes:
            for tensor in node.input_tensors:
                history = getattr(tensor, "_keras_history", None)
                if history is None or id(history.operation) not in index:
                    continue
                edge = (index[id(history.operation)], i)
                if edge not in edges:
                    edges.append(edge)
    return edges


def _n_inputs(entry):
    return max((len(node.input_tensors) for node in entry.nodes), default=0)


def _group(ops, edges, output_ops):
    """Fold post-processing layers into the layer before them.

    A layer joins the current block when it is a normalisation or activation
    layer, is called once, reads only the block's last layer, and that last
    layer feeds nothing else and is not a model output.
    """
    consumers = {}
    parents = {}
    for src, dst in edges:
        consumers.setdefault(src, []).append(dst)
        parents.setdefault(dst, []).append(src)
    groups = []
    for i, entry in enumerate(ops):
        if groups:
            last = groups[-1][-1]
            head = ops[groups[-1][0]]
            if (
                entry.cls in _POSTPROCESS
                and head.cls != "InputLayer"
                and len(entry.nodes) == 1
                and _n_inputs(entry) == 1
                and parents.get(i) == [last]
                and consumers.get(last) == [i]
                and last not in output_ops
            ):
                groups[-1].append(i)
                continue
        groups.append([i])
    return groups


# --------------------------------------------------------------------------
# Labels, shapes and parameter counts
# --------------------------------------------------------------------------


def _config(op):
    try:
        return op.get_config()
    except Exception:  # noqa: BLE001 - custom layers may not implement it
        return {}


def _size(value):
    if isinstance(value, (list, tuple)):
        return "×".join(str(v) for v in value)
    return str(value)


def _act(cfg):
    act = cfg.get("activation")
    if isinstance(act, dict):  # serialized activation object
        act = act.get("config", {}).get("name") or act.get("class_name")
    if act in (None, "linear"):
        return None
    return str(act)


def _label(entry):
    """Short human label of one operation, e.g. ``"Conv 64 @5×5"``."""
    cls = entry.cls
    op = entry.op
    if cls in _POSTPROCESS:
        if cls == "Activation":
            return _act(_config(op)) or "linear"
        return _POSTPROCESS[cls]
    if cls == "InputLayer":
        return "Input"
    if getattr(op, "layers", None) is not None and hasattr(op, "outputs"):
        return f"Model “{op.name}”"  # a nested model, drawn as one box
    cfg = _config(op)
    short = _SHORT_NAMES.get(cls, cls)
    parts = [short]
    if "kernel_size" in cfg:
        if "filters" in cfg:
            parts[0] += f" {cfg['filters']}"
        parts[0] += f" @{_size(cfg['kernel_size'])}"
        strides = cfg.get("strides")
        if strides and any(s != 1 for s in _as_tuple(strides)):
            parts[0] += f" /{_size(strides)}"
        dilation = cfg.get("dilation_rate")
        if dilation and any(d != 1 for d in _as_tuple(dilation)):
            parts[0] += f" dil {_size(dilation)}"
    elif "pool_size" in cfg:
        parts[0] += f" {_size(cfg['pool_size'])}"
        strides = cfg.get("strides")
        if strides is not None and tuple(_as_tuple(strides)) != tuple(_as_tuple(cfg["pool_size"])):
            parts[0] += f" /{_size(strides)}"
    elif cls.startswith("UpSampling") and "size" in cfg:
        parts[0] += f" {_size(cfg['size'])}"
        if cfg.get("interpolation"):
            parts.append(str(cfg["interpolation"]))
    elif "units" in cfg:
        parts[0] += f" {cfg['units']}"
    elif "rate" in cfg and cls.endswith("Dropout"):
        parts[0] += f" {cfg['rate']:g}"
    act = _act(cfg)
    if act:
        parts.append(act)
    return " · ".join(parts)


def _as_tuple(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _params(op):
    try:
        return int(op.count_params())
    except Exception:  # noqa: BLE001 - an op without weights, or unbuilt
        weights = getattr(op, "weights", None) or []
        return sum(math.prod(int(d) for d in w.shape) for w in weights)


def _weights_count(weights):
    return sum(math.prod(int(d) for d in w.shape) for w in weights)


def _dim_names(model):
    """Names for the free (``None``) non-batch dims of the model's inputs.

    Returns ``[(input_index, axis, name), ...]``.
    """
    free = []
    inputs = list(model.inputs)
    with_free = [i for i, t in enumerate(inputs) if any(d is None for d in t.shape[1:])]
    for i in with_free:
        shape = tuple(inputs[i].shape)[1:]
        letters = _DIM_LETTERS.get(len(shape), tuple(f"d{k + 1}" for k in range(len(shape))))
        for axis, dim in enumerate(shape):
            if dim is None:
                name = letters[axis]
                if len(with_free) > 1:
                    name += str(i + 1)
                free.append((i, axis + 1, name))
    return free


def _format_dim(coef, offset, name):
    if coef == 1:
        text = name
    elif coef.denominator == 1:
        text = f"{coef.numerator}{name}"
    elif coef.numerator == 1:
        text = f"{name}/{coef.denominator}"
    else:
        text = f"{coef.numerator}{name}/{coef.denominator}"
    if offset > 0:
        text += f"+{offset}"
    elif offset < 0:
        text += f"-{-offset}"
    return text


def _shapes(model, ops):
    """Output shape strings (batch dim left out) of every op, model order.

    Free input dimensions are followed through the graph symbolically: the
    graph's shapes are computed (``keras.Function.compute_output_spec``, no
    data) with each free dimension set to a probe size and then to two other
    sizes, and each free output dimension that depends linearly on exactly one
    input dimension is written as such, e.g. ``H/2`` after a 2x2 pooling.
    """
    tensors = []
    owners = []
    for k, entry in enumerate(ops):
        for node in entry.nodes:
            for tensor in node.output_tensors:
                tensors.append(tensor)
                owners.append(k)
    symbolic = [tuple(t.shape)[1:] for t in tensors]
    free = _dim_names(model)
    resolved = [list(s) for s in symbolic]
    if free and any(d is None for s in symbolic for d in s):
        try:
            resolved = _probe(model, tensors, symbolic, free)
        except Exception:  # noqa: BLE001 - fall back to "?" for free dims
            resolved = [[d if d is not None else "?" for d in s] for s in symbolic]
    per_op = [[] for _ in ops]
    for owner, dims in zip(owners, resolved):
        per_op[owner].append("×".join("?" if d is None else str(d) for d in dims) or "scalar")
    return [", ".join(s) for s in per_op]


def _probe(model, tensors, symbolic, free):
    import keras

    fn = keras.Function(list(model.inputs), list(tensors), name="deblur_diagram_probe")

    def run(sizes):
        specs = []
        for i, tensor in enumerate(model.inputs):
            shape = list(tensor.shape)
            for j, (inp, axis, _) in enumerate(free):
                if inp == i:
                    shape[axis] = sizes[j]
            specs.append(keras.KerasTensor(tuple(shape), dtype=tensor.dtype))
        out = fn.compute_output_spec(specs)
        return [tuple(o.shape)[1:] for o in out]

    base = run([_PROBE] * len(free))
    def scaled(factor):
        # One run per free dim: that dim scaled by ``factor``, the others at base.
        return [
            run([_PROBE * (factor if k == j else 1) for k in range(len(free))])
            for j in range(len(free))
        ]

    doubled = scaled(2)
    tripled = scaled(3)
    resolved = []
    for t, shape in enumerate(symbolic):
        dims = []
        for axis, dim in enumerate(shape):
            if dim is not None:
                dims.append(dim)
                continue
            b0 = base[t][axis]
            deps = [j for j in range(len(free)) if doubled[j][t][axis] != b0]
            if b0 is None or any(doubled[j][t][axis] is None for j in range(len(free))):
                dims.append("?")
            elif not deps:
                dims.append(b0)
            elif len(deps) == 1:
                j = deps[0]
                coef = Fraction(doubled[j][t][axis] - b0, _PROBE)
                offset = b0 - coef * _PROBE
                if offset.denominator == 1 and tripled[j][t][axis] == coef * 3 * _PROBE + offset:
                    dims.append(_format_dim(coef, int(offset), free[j][2]))
                else:
                    dims.append("?")
            else:
                dims.append("?")
        resolved.append(dims)
    return resolved


# --------------------------------------------------------------------------
# SVG drawing
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
    "dense": ("#fbf1bf", "#a88d12"),
    "other": ("#f3f3f3", "#8a8a8a"),
}
_EDGE = "#444444"
_SKIP = "#c0392b"

_BOX_H = 48
_GAP = 28
_MARGIN = 24
_LANE = 26
_PAD = 16


def _kind(entry):
    cls = entry.cls
    if cls == "InputLayer":
        return "input"
    if _n_inputs(entry) > 1:
        return "merge"
    if "Conv" in cls:
        return "conv"
    if "Pooling" in cls:
        return "pool"
    if cls.startswith(("UpSampling", "Resizing")):
        return "upsample"
    if cls in ("Dense", "EinsumDense"):
        return "dense"
    return "other"


def _w(text, size, *, mono=False, bold=False):
    """Estimated rendered width of ``text`` in px (generous, never measured)."""
    per_char = 0.61 if mono else (0.68 if bold else 0.6)
    return len(text) * size * per_char


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


def _slug(name):
    out = "".join(c if c.isalnum() or c in "-_" else "-" for c in str(name))
    return out if out and out[0].isalpha() else f"m-{out}"


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


def model_svg(model, *, title=None):
    """Draw a Keras functional model's layer graph as a standalone SVG.

    Parameters
    ----------
    model : keras.Model
        A functional model (or ``keras.Sequential`` built with an input).
        Its graph is read, never modified, and no data is run through it.
    title : str, optional
        Heading of the diagram; defaults to the model's name.

    Returns
    -------
    svg : str
        A complete SVG 1.1 document (UTF-8 XML declaration included), drawn
        top to bottom: one box per block (a layer plus the normalisation and
        activation layers that directly follow it), its output shape without
        the batch dimension and its parameter count; straight arrows between
        consecutive blocks; dashed arrows in side lanes for skip connections
        (edges that jump over blocks, as into an ``Add``); a footer with the
        model name and its total, trainable and non-trainable parameter
        counts. The same model always gives the same string.

    Raises
    ------
    TypeError
        If ``model`` has no symbolic inputs and outputs (a subclassed model).

    Examples
    --------
    >>> from deblur.models import win5rb
    >>> svg = model_svg(win5rb(), title="Win5-RB")  # doctest: +SKIP
    """
    ops = _model_ops(model)
    edges = _edges(ops)
    output_ids = set()
    for tensor in model.outputs:
        output_ids.add(id(tensor._keras_history.operation))
    output_ops = {i for i, e in enumerate(ops) if id(e.op) in output_ids}
    groups = _group(ops, edges, output_ops)
    shapes = _shapes(model, ops)
    group_of = {i: g for g, members in enumerate(groups) for i in members}

    rows = []
    for members in groups:
        entries = [ops[i] for i in members]
        rows.append(
            {
                "label": " · ".join(_label(e) for e in entries),
                "names": " · ".join(e.name for e in entries),
                "shape": shapes[members[-1]],
                "params": sum(_params(e.op) for e in entries),
                "kind": _kind(entries[0]),
                "layers": [e.name for e in entries],
            }
        )

    group_edges = []
    for src, dst in edges:
        edge = (group_of[src], group_of[dst])
        if edge[0] != edge[1] and edge not in group_edges:
            group_edges.append(edge)
    straight = [e for e in group_edges if e[1] == e[0] + 1]
    long_edges = [e for e in group_edges if e[1] != e[0] + 1]
    lanes, n_lanes = _assign_lanes(long_edges)

    # ---- geometry ----------------------------------------------------------
    label_size, name_size, cell_size, head_size = 14, 11, 13, 11
    box_w = max(
        [220.0]
        + [_w(r["label"], label_size, bold=True) + 2 * _PAD for r in rows]
        + [_w(r["names"], name_size, mono=True) + 2 * _PAD for r in rows]
    )
    box_w = math.ceil(box_w / 2) * 2
    box_x = _MARGIN + (n_lanes * _LANE + 18 if n_lanes else 0)
    shape_x = box_x + box_w + 28
    shape_w = max(
        [_w("output shape", head_size)] + [_w(r["shape"], cell_size, mono=True) for r in rows]
    )
    params_texts = [f"{r['params']:,}" for r in rows]
    params_w = max([_w("params", head_size)] + [_w(t, cell_size, mono=True) for t in params_texts])
    params_right = shape_x + shape_w + 28 + params_w

    title = model.name if title is None else title
    total = int(model.count_params())
    trainable = _weights_count(model.trainable_weights)
    footer = f"{model.name} · {total:,} parameters"
    footer_detail = f"{trainable:,} trainable · {total - trainable:,} non-trainable"

    title_y = _MARGIN + 16
    head_y = title_y + 30
    top = head_y + 12
    row_y = [top + k * (_BOX_H + _GAP) for k in range(len(rows))]
    bottom = row_y[-1] + _BOX_H if rows else top
    footer_y = bottom + 34
    legend_y = footer_y + 22
    height = (legend_y if long_edges else footer_y + 4) + _MARGIN - 4
    width = max(
        params_right + _MARGIN,
        _MARGIN + _w(title, 18, bold=True) + _MARGIN,
        _MARGIN + _w(footer, 13, bold=True) + 16 + _w(footer_detail, 12) + _MARGIN,
        _MARGIN + 44 + _w("skip connection (an edge that jumps over blocks)", 12) + _MARGIN,
    )
    width = math.ceil(width)
    height = math.ceil(height)
    slug = _slug(model.name)
    cx = box_x + box_w / 2

    # ---- document -----------------------------------------------------------
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<!-- Generated by deblur.diagrams.model_svg from the Keras model "
        f"{_esc(model.name).replace('--', '- -')}; do not edit by hand. -->",
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">',
        f"<title>{_esc(title)}</title>",
        f"<desc>{_esc(f'Layer graph of the Keras model {model.name}: {footer}.')}</desc>",
        "<defs>",
        f'<marker id="{slug}-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" '
        f'markerHeight="9" markerUnits="userSpaceOnUse" orient="auto">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{_EDGE}"/></marker>',
        f'<marker id="{slug}-skip-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10" '
        f'markerHeight="10" markerUnits="userSpaceOnUse" orient="auto">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{_SKIP}"/></marker>',
        "</defs>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        _text(_MARGIN, title_y, title, size=18, bold=True),
        _text(shape_x, head_y, "output shape", size=head_size, fill="#777777"),
        _text(params_right, head_y, "params", size=head_size, anchor="end", fill="#777777"),
    ]

    for k, row in enumerate(rows):
        y = row_y[k]
        fill, stroke = _COLOURS[row["kind"]]
        out.append(
            f'<g class="block {row["kind"]}" id="{slug}-block-{k}" '
            f'data-layers="{_esc(" ".join(row["layers"]))}">'
        )
        out.append(
            f'<rect x="{_num(box_x)}" y="{_num(y)}" width="{_num(box_w)}" height="{_BOX_H}" '
            f'rx="6" ry="6" fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
        )
        out.append(_text(cx, y + 20, row["label"], size=label_size, anchor="middle", bold=True))
        out.append(
            _text(cx, y + 37, row["names"], size=name_size, anchor="middle", mono=True,
                  fill="#555555")
        )
        mid = y + _BOX_H / 2 + 4.5
        out.append(_text(shape_x, mid, row["shape"], size=cell_size, mono=True))
        out.append(
            _text(params_right, mid, params_texts[k], size=cell_size, anchor="end", mono=True)
        )
        out.append("</g>")

    for src, dst in straight:
        y0 = row_y[src] + _BOX_H
        y1 = row_y[dst]
        out.append(
            f'<path class="edge" d="M{_num(cx)},{_num(y0)} V{_num(y1)}" fill="none" '
            f'stroke="{_EDGE}" stroke-width="1.5" marker-end="url(#{slug}-arrow)"/>'
        )

    # Long edges leave a box's left side a little above its middle and enter
    # a little below, spread apart when several share a box.
    exits, entries = {}, {}
    for src, dst in long_edges:
        exits.setdefault(src, []).append((src, dst))
        entries.setdefault(dst, []).append((src, dst))

    def port(y, siblings, edge, sign):
        k = siblings.index(edge)
        return y + _BOX_H / 2 + sign * (7 + 6 * k)

    for (src, dst), lane in zip(long_edges, lanes):
        lane_x = box_x - 18 - lane * _LANE
        y0 = port(row_y[src], exits[src], (src, dst), -1)
        y1 = port(row_y[dst], entries[dst], (src, dst), +1)
        what = "skip connection" if rows[dst]["kind"] == "merge" else "long edge"
        names = f"{rows[src]['layers'][-1]} → {rows[dst]['layers'][0]}"
        out.append(f'<g class="skip" data-from="{_esc(rows[src]["layers"][-1])}" '
                   f'data-to="{_esc(rows[dst]["layers"][0])}">')
        out.append(f"<title>{_esc(f'{what}: {names}')}</title>")
        out.append(
            f'<path d="M{_num(box_x)},{_num(y0)} H{_num(lane_x)} V{_num(y1)} H{_num(box_x)}" '
            f'fill="none" stroke="{_SKIP}" stroke-width="2" stroke-dasharray="7 4" '
            f'marker-end="url(#{slug}-skip-arrow)"/>'
        )
        if y1 - y0 > _w(what, 11) + 20:
            ly = (y0 + y1) / 2
            lx = lane_x - 5
            out.append(
                _text(lx, ly, what, size=11, anchor="middle", fill=_SKIP,
                      extra=f' transform="rotate(-90 {_num(lx)} {_num(ly)})"')
            )
        out.append("</g>")

    out.append(_text(_MARGIN, footer_y, footer, size=13, bold=True))
    out.append(
        _text(_MARGIN + _w(footer, 13, bold=True) + 16, footer_y, footer_detail, size=12,
              fill="#555555")
    )
    if long_edges:
        out.append(
            f'<path d="M{_MARGIN},{_num(legend_y - 4)} h34" fill="none" stroke="{_SKIP}" '
            f'stroke-width="2" stroke-dasharray="7 4" marker-end="url(#{slug}-skip-arrow)"/>'
        )
        out.append(
            _text(_MARGIN + 44, legend_y, "skip connection (an edge that jumps over blocks)",
                  size=12, fill="#555555")
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_model_svg(model, path, **kwargs):
    """Write :func:`model_svg` of ``model`` to ``path`` atomically.

    The document goes to a temporary file in the same folder, which then
    replaces ``path`` (``os.replace``), so a reader never sees a half-written
    file. An existing file's permissions are kept; a new file gets 0644.

    Parameters
    ----------
    model : keras.Model
        The functional model to draw.
    path : str or os.PathLike
        Destination ``.svg`` file; its folder must exist.
    **kwargs
        Passed to :func:`model_svg` (``title``).

    Returns
    -------
    path : str
        The path written.
    """
    path = os.fspath(path)
    data = model_svg(model, **kwargs).encode("utf-8")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".", suffix=".svg.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
