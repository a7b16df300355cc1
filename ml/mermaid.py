"""Mermaid export: the diagram as `flowchart` text, to paste into Markdown (GitHub, GitLab, Notion, ...).

Mermaid lays the graph out itself, so only the structure travels: shapes, labels, edges and their
line styles, and node colours as `style` lines. The direction is LR, or TB when connected nodes
are spread more in y than in x. A dense network (layers of unlabelled circles, wired layer to
layer) becomes one node per layer, "Input · 784", chained by one edge per pair of layers:
hundreds of neuron-to-neuron edges would be unreadable as text. A node without a label shows its
node No. How labels are escaped: `escape_label`; the format in full: docs/export.md.
"""

from __future__ import annotations

import re
import unicodedata

from ml.dense import ellipsis_size, layer_sizes
from ml.diagram import Colour, Diagram, Node
from ml.geometry import layers_by
from ml.labels import text_colour

# How each shape opens and closes around its quoted label.
_SHAPES = {"rectangle": ("[", "]"), "round rectangle": ("(", ")"), "circle": ("((", "))")}
_ARROWS = {"solid arrow": "-->", "solid line": "---", "dashed line": "-.-"}
# Kept as typed inside a quoted label; every other ASCII character is written as an entity code.
_SAFE_ASCII = " .,-_+*/=()[]!?'"
# Pairs Mermaid reads as markup even when entity-coded (it decodes labels twice while rendering):
# "$$" opens KaTeX maths, "ﬂ°" and "¶ß" are its own placeholders for "&" and ";". An invisible
# word joiner (U+2060) goes between the two characters.
WORD_JOINER = "\u2060"
_MARKUP_PAIRS = re.compile("(?<=\\$)(?=\\$)|(?<=\ufb02)(?=\u00b0)|(?<=\u00b6)(?=\u00df)")


def _hex(colour: Colour) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(min(max(int(c), 0), 255) for c in colour))


def _escape_char(ch: str) -> str:
    if ch == "\n":
        return "<br>"
    if ch == '"':
        return "#quot;"
    if ch.isalnum() or ch in _SAFE_ASCII or (ord(ch) > 127 and unicodedata.category(ch) not in ("Zl", "Zp")):
        return ch  # Hangul, emoji, "…", "·": Mermaid reads UTF-8 text as it is
    return f"#{ord(ch)};"  # and U+2028/2029, which would end the line for some readers


def escape_label(text: str) -> str:
    """The label as the inside of a Mermaid quoted string, on one line.

    Mermaid reads more than quotes in a label: `#...;` entity codes, `<b>` HTML, `$$...$$` maths,
    `fa:fa-car` icons, `%%{...}%%` directives and a `style ...:#...;` rewrite. So every ASCII
    character but letters, digits, spaces and `.,-_+*/=()[]!?'` becomes an entity code (`#quot;`,
    `#60;`), a line break becomes `<br>`, a word joiner splits "$$" (see _MARKUP_PAIRS), and control
    characters are dropped.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cs"))
    return "".join(_escape_char(ch) for ch in _MARKUP_PAIRS.sub(WORD_JOINER, text))


def _node_line(name: str, shape: str, label: str, fallback: str) -> str:
    """`name["label"]` in the shape's brackets; Mermaid refuses an empty string, so a blank label shows `fallback`."""
    opening, closing = _SHAPES.get(shape, _SHAPES["rectangle"])
    text = escape_label(label)
    return f'    {name}{opening}"{text if text.strip() else fallback}"{closing}'


def _style_line(name: str, fill: Colour, line: Colour) -> str:
    # No ";" at the end: Mermaid would cut the line short (its `style.*:#.*;` rewrite).
    return f"    style {name} fill:{_hex(fill)},stroke:{_hex(line)},color:{_hex(text_colour(fill))}"


def _direction(pairs: list[tuple[Node, Node]], nodes: tuple[Node, ...]) -> str:
    """TB when connected nodes (or, without edges, all nodes) spread more in y than in x."""
    if pairs:
        dx = sum(abs(b.x - a.x) for a, b in pairs)
        dy = sum(abs(b.y - a.y) for a, b in pairs)
    else:
        dx = max((n.x for n in nodes), default=0) - min((n.x for n in nodes), default=0)
        dy = max((n.y for n in nodes), default=0) - min((n.y for n in nodes), default=0)
    return "TB" if dy > dx else "LR"


def dense_layers(diagram: Diagram) -> tuple[str, list[list[int]]] | None:
    """(axis, node ids per layer) when the diagram is a dense network, else None.

    Dense: every node an unlabelled circle or a layer's ellipsis box (ml/dense.py), at least one
    layer of several nodes, every edge from one layer to the next and every layer wired to the next.
    """
    if not all((n.shape == "circle" and not n.label) or ellipsis_size(n.label) is not None for n in diagram.nodes):
        return None
    for axis in ("x", "y"):
        layers = layers_by(diagram, axis)
        if len(layers) < 2 or max(len(layer) for layer in layers) < 2:
            continue
        position = {nid: i for i, layer in enumerate(layers) for nid in layer}
        steps = {position[e.source.id] for e in diagram.edges() if position[e.target.id] == position[e.source.id] + 1}
        forward = all(position[e.target.id] == position[e.source.id] + 1 for e in diagram.edges())
        if forward and steps == set(range(len(layers) - 1)):
            return axis, layers
    return None


def _dense_text(diagram: Diagram, axis: str, layers: list[list[int]]) -> str:
    index = diagram.by_id()
    sizes = layer_sizes(diagram, axis)
    lines = [f"flowchart {'LR' if axis == 'x' else 'TB'}"]
    styles = []
    for i, (layer, size) in enumerate(zip(layers, sizes), start=1):
        role = "Input" if i == 1 else "Output" if i == len(layers) else "Hidden"
        lines.append(_node_line(f"layer{i}", "round rectangle", f"{role} · {size}", str(size)))
        neuron = next((index[nid] for nid in layer if ellipsis_size(index[nid].label) is None), index[layer[0]])
        styles.append(_style_line(f"layer{i}", neuron.fill, neuron.line_colour))
    for i in range(1, len(layers)):
        source = next(index[nid] for nid in layers[i - 1] if index[nid].targets)
        lines.append(f"    layer{i} {_ARROWS.get(source.line_style, '-->')} layer{i + 1}")
    return "\n".join(lines + styles) + "\n"


def mermaid_text(diagram: Diagram) -> str:
    """The diagram as a Mermaid flowchart (module doc): one node per diagram node, or per layer of a dense network."""
    dense = dense_layers(diagram)
    if dense is not None:
        return _dense_text(diagram, *dense)
    edges = list(diagram.edges())
    lines = [f"flowchart {_direction([(e.source, e.target) for e in edges], diagram.nodes)}"]
    lines += [_node_line(f"n{n.id}", n.shape, n.label or "", str(n.id)) for n in diagram.nodes]
    lines += [f"    n{e.source.id} {_ARROWS.get(e.style, '-->')} n{e.target.id}" for e in edges]
    lines += [_style_line(f"n{n.id}", n.fill, n.line_colour) for n in diagram.nodes]
    return "\n".join(lines) + "\n"
