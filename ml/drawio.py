"""draw.io (diagrams.net) export: an uncompressed mxGraph file that opens as an editable drawing.

Every node is a vertex cell `node-<id>` at the node's box (the diagram's x, y are centres,
mxGraph's geometry x, y the top-left corner), styled with its shape, fill, outline and a text
colour readable on the fill. Every edge is an edge cell whose `source` and `target` name the two
vertices, so edges stay attached when a node is moved in draw.io. Labels are plain text (html=0):
draw.io shows them as typed, and ElementTree does the XML escaping.
"""

from __future__ import annotations

import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import replace

from ml.diagram import BACKGROUND, CANVAS_HEIGHT, CANVAS_WIDTH, Colour, Diagram, Node
from ml.labels import MIN_FONT_PX, font, layout_label, text_colour
from ml.render import LINE_WIDTH, drawable

# A rounded corner's radius is arcSize % of the shorter side: 25, as ml.geometry.corner_radius.
_SHAPE_STYLE = {"rectangle": "rounded=0", "round rectangle": "rounded=1;arcSize=25", "circle": "ellipse"}
DEFAULT_FONT_PX = 12  # draw.io's own default, for a node without a label
_END_ARROW = {"solid arrow": "endArrow=classic;endFill=1"}


def _hex(colour: Colour) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(min(max(int(c), 0), 255) for c in colour))


def _style(**entries) -> str:
    return "".join(f"{key}={value};" for key, value in entries.items())


def _plain(text: str) -> str:
    """The label without the characters XML 1.0 cannot hold (control codes, lone surrogates); tabs and
    line breaks are kept, as "\n"."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        ch for ch in text if ch in "\t\n" or not (unicodedata.category(ch) in ("Cc", "Cs") or ch in "\ufffe\uffff")
    )


def _font_size(node: Node, text: str) -> int:
    """The PNG's label size (ml.labels), made smaller until each line of the label fits the box on
    its own: draw.io does not wrap a plain-text label where the PNG breaks it in two."""
    layout = layout_label(replace(node, label=" ".join(text.split())))
    if layout is None:
        return DEFAULT_FONT_PX
    usable = node.width * (0.7 if node.shape == "circle" else 0.9)  # the share ml.labels fills
    lines = [" ".join(line.split()) for line in text.split("\n")]
    size = layout.size
    while size > MIN_FONT_PX and max(font(size, line).getlength(line) for line in lines) > usable:
        size -= 1
    return size


def vertex_id(node: Node) -> str:
    """Cell ids "0" and "1" are mxGraph's root and layer, so node cells carry a prefix."""
    return f"node-{node.id}"


def _vertex(root: ET.Element, node: Node) -> None:
    label = _plain(node.label or "")
    style = (
        _SHAPE_STYLE.get(node.shape, "rounded=0")
        + ";"
        + _style(
            whiteSpace="wrap",
            html=0,
            fillColor=_hex(node.fill),
            strokeColor=_hex(node.line_colour),
            strokeWidth=f"{LINE_WIDTH:g}",
            fontColor=_hex(text_colour(node.fill)),
            fontSize=_font_size(node, label),
        )
    )
    # mxGraph's "parent" attribute is also SubElement's first parameter's name: pass it in `attrib`.
    cell = ET.SubElement(
        root, "mxCell", attrib={"id": vertex_id(node), "value": label, "style": style, "vertex": "1", "parent": "1"}
    )
    left, top, _, _ = node.bbox
    ET.SubElement(
        cell,
        "mxGeometry",
        x=f"{left:g}",
        y=f"{top:g}",
        width=str(node.width),
        height=str(node.height),
        attrib={"as": "geometry"},
    )


def _edge(root: ET.Element, number: int, source: Node, target: Node) -> None:
    style = (
        _style(
            edgeStyle="none",
            rounded=0,
            html=0,
            strokeColor=_hex(source.line_colour),
            strokeWidth=f"{LINE_WIDTH:g}",
            dashed=int(source.line_style == "dashed line"),
            startArrow="none",
        )
        + _END_ARROW.get(source.line_style, "endArrow=none")
        + ";"
    )
    cell = ET.SubElement(
        root,
        "mxCell",
        attrib={
            "id": f"edge-{number}",
            "value": "",
            "style": style,
            "edge": "1",
            "parent": "1",
            "source": vertex_id(source),
            "target": vertex_id(target),
        },
    )
    ET.SubElement(cell, "mxGeometry", relative="1", attrib={"as": "geometry"})


def drawio_text(diagram: Diagram) -> str:
    """The diagram as a .drawio file (mxfile > diagram > mxGraphModel, not compressed)."""
    diagram = drawable(diagram)  # the clamping the PNG, SVG and PPTX exports apply
    mxfile = ET.Element("mxfile", host="diagrambot")
    page = ET.SubElement(mxfile, "diagram", id="diagram", name="Diagram")
    model = ET.SubElement(
        page,
        "mxGraphModel",
        grid="0",
        page="1",
        pageScale="1",
        pageWidth=str(CANVAS_WIDTH),
        pageHeight=str(CANVAS_HEIGHT),
        background=_hex(BACKGROUND),
        math="0",
        shadow="0",
    )
    root = ET.SubElement(model, "root")
    ET.SubElement(root, "mxCell", id="0")
    ET.SubElement(root, "mxCell", attrib={"id": "1", "parent": "0"})
    # Edges first, so that they lie under the nodes as in the PNG.
    for number, edge in enumerate(diagram.edges(), start=1):
        _edge(root, number, edge.source, edge.target)
    for node in diagram.nodes:
        _vertex(root, node)
    ET.indent(mxfile)
    return ET.tostring(mxfile, encoding="unicode") + "\n"
