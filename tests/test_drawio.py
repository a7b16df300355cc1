"""draw.io export: the mxGraph file read back as XML, its cells counted and checked against the diagram."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sample_diagrams import MIXED, node

from ml.commands import read_diagram
from ml.diagram import Diagram
from ml.drawio import drawio_text

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.txt"))
# (vertices, edges) per example, counted by hand from the node lists.
COUNTS = {"cnn_layers": (7, 6), "dense_network": (11, 2 * 3 + 3 * 5 + 5 * 1), "ml_pipeline": (10, 10)}
TRICKY_LABELS = [
    'Say "hi" [now] (ok) {x}',
    "a < b && c > d",
    "&lt; is not <",
    "line one\nline two",
    "한국어 레이어",
    "🙂 emoji 🚀",
    "cost: 100% #1 $$x$$ `code`",
]


def cells(text: str) -> tuple[ET.Element, list[ET.Element], list[ET.Element]]:
    """(the mxGraphModel root, vertex cells, edge cells), after checking the file's frame."""
    mxfile = ET.fromstring(text)
    assert mxfile.tag == "mxfile"
    root = mxfile.find("./diagram/mxGraphModel/root")
    assert root is not None
    by_id = {cell.get("id"): cell for cell in root.iter("mxCell")}
    assert len(by_id) == len(root.findall("mxCell")), "cell ids must be unique"
    assert by_id["0"].get("parent") is None and by_id["1"].get("parent") == "0"
    vertices = [c for c in root.findall("mxCell") if c.get("vertex") == "1"]
    edges = [c for c in root.findall("mxCell") if c.get("edge") == "1"]
    assert len(vertices) + len(edges) + 2 == len(by_id)
    assert all(c.get("parent") == "1" for c in vertices + edges)
    return root, vertices, edges


def style(cell: ET.Element) -> dict[str, str]:
    entries = [part for part in cell.get("style").split(";") if part]
    return dict(part.split("=", 1) if "=" in part else (part, "") for part in entries)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_exports_one_vertex_per_node_and_one_edge_per_connection(path):
    diagram = read_diagram(str(path)).diagram
    _, vertices, edges = cells(drawio_text(diagram))
    assert (len(vertices), len(edges)) == COUNTS[path.stem]
    vertex_ids = {v.get("id") for v in vertices}
    assert all(e.get("source") in vertex_ids and e.get("target") in vertex_ids for e in edges)
    # The glue names the right nodes: the same pairs as the node list's targets.
    drawn = sorted((e.get("source"), e.get("target")) for e in edges)
    assert drawn == sorted((f"node-{n.id}", f"node-{t}") for n in diagram.nodes for t in n.targets)
    labels = {v.get("id"): v.get("value") for v in vertices}
    assert labels == {f"node-{n.id}": n.label or "" for n in diagram.nodes}


def test_geometry_is_the_box_around_the_centre():
    diagram = read_diagram(str(ROOT / "examples" / "cnn_layers.txt")).diagram
    _, vertices, _ = cells(drawio_text(diagram))
    geometry = {v.get("id"): v.find("mxGeometry").attrib for v in vertices}
    # Node 1 is centred at (80, 300), 100 x 286: its top-left corner is (30, 157).
    assert geometry["node-1"] == {"x": "30", "y": "157", "width": "100", "height": "286", "as": "geometry"}
    assert geometry["node-7"] == {"x": "870", "y": "255", "width": "100", "height": "90", "as": "geometry"}


def test_shapes_colours_and_line_styles():
    _, vertices, edges = cells(drawio_text(MIXED))
    shapes = {v.get("id"): style(v) for v in vertices}
    assert shapes["node-1"]["rounded"] == "0" and "ellipse" not in shapes["node-1"]
    assert shapes["node-2"]["rounded"] == "1" and shapes["node-2"]["arcSize"] == "25"
    assert "ellipse" in shapes["node-3"] and "ellipse" in shapes["node-4"]
    assert shapes["node-1"]["fillColor"] == "#1f77b4" and shapes["node-1"]["strokeColor"] == "#c80a0a"
    assert shapes["node-4"]["fontColor"] == "#ffffff"  # dark grey fill: white text
    assert shapes["node-5"]["fontColor"] == "#000000"  # pale green fill: black text
    assert all(s["html"] == "0" and s["whiteSpace"] == "wrap" for s in shapes.values())
    lines = {(e.get("source"), e.get("target")): style(e) for e in edges}
    arrow, dashed, plain = lines["node-1", "node-2"], lines["node-2", "node-3"], lines["node-3", "node-5"]
    assert arrow["endArrow"] == "classic" and arrow["dashed"] == "0" and arrow["strokeColor"] == "#c80a0a"
    assert dashed["endArrow"] == "none" and dashed["dashed"] == "1" and dashed["strokeColor"] == "#0a780a"
    assert plain["endArrow"] == "none" and plain["dashed"] == "0"


def test_labels_survive_as_plain_text():
    diagram = Diagram(tuple(node(i, 100 + 100 * i, 300, label=label) for i, label in enumerate(TRICKY_LABELS, 1)))
    _, vertices, _ = cells(drawio_text(diagram))
    assert [v.get("value") for v in vertices] == TRICKY_LABELS


def test_characters_xml_cannot_hold_are_dropped():
    text = drawio_text(Diagram((node(1, 100, 100, label="bell\x07 nul\x00 ok\r\nnext"),)))
    _, vertices, _ = cells(text)  # would raise on an unescaped control character
    assert vertices[0].get("value") == "bell nul ok\nnext"


def test_an_empty_diagram_is_an_empty_page():
    _, vertices, edges = cells(drawio_text(Diagram(())))
    assert vertices == [] and edges == []


def test_a_label_the_png_breaks_in_two_gets_a_smaller_font_not_a_line_break():
    # draw.io does not wrap plain text: "Random forest" (two lines in the PNG) stays one line, smaller.
    _, vertices, _ = cells(drawio_text(read_diagram(str(ROOT / "examples" / "ml_pipeline.txt")).diagram))
    by_label = {v.get("value"): style(v) for v in vertices}
    assert by_label["Merge"]["fontSize"] == "18"  # the PNG's size for a short label
    assert 7 <= int(by_label["Random forest"]["fontSize"]) < 18
