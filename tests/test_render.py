"""Geometry (border points, arrowheads, dashes), the PNG renderer's pixels, and the SVG export."""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from ml.diagram import SHAPES, Diagram, Node
from ml.geometry import arrowhead, border_point, corner_radius, dashes, edge_endpoints
from ml.labels import contrast_ratio, layout_label, text_colour
from ml.readability import readability
from ml.render import render, render_png
from ml.svg import render_svg

WHITE, BLACK = (255, 255, 255), (0, 0, 0)
SVG = "{http://www.w3.org/2000/svg}"


def node(
    nid, x, y, shape="rectangle", w=100, h=60, style="solid arrow", fill=WHITE, line=BLACK, targets=(), label=None
) -> Node:
    return Node(nid, x, y, shape, w, h, style, fill, line, tuple(targets), label)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=int)


# ---------------------------------------------------------------- geometry

SIZES = st.integers(1, 2000)
DIRECTIONS = st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4)).filter(lambda d: math.hypot(*d) > 1e-3)


def _on_ray(n: Node, toward, point) -> bool:
    dx, dy = toward[0] - n.x, toward[1] - n.y
    px, py = point[0] - n.x, point[1] - n.y
    cross = dx * py - dy * px
    return abs(cross) <= 1e-6 * math.hypot(dx, dy) * max(1.0, math.hypot(px, py)) and dx * px + dy * py > 0


@settings(max_examples=300, deadline=None)
@given(SIZES, SIZES, DIRECTIONS)
def test_border_point_on_ellipse(w, h, d):
    n = node(1, 500, 300, "circle", w, h)
    toward = (n.x + d[0], n.y + d[1])
    px, py = border_point(n, toward)
    a, b = w / 2, h / 2
    assert ((px - n.x) / a) ** 2 + ((py - n.y) / b) ** 2 == pytest.approx(1, abs=1e-6)
    assert _on_ray(n, toward, (px, py))


@settings(max_examples=300, deadline=None)
@given(SIZES, SIZES, DIRECTIONS)
def test_border_point_on_rectangle(w, h, d):
    n = node(1, 500, 300, "rectangle", w, h)
    toward = (n.x + d[0], n.y + d[1])
    px, py = border_point(n, toward)
    a, b = w / 2, h / 2
    assert max(abs(px - n.x) / a, abs(py - n.y) / b) == pytest.approx(1, abs=1e-6)
    assert _on_ray(n, toward, (px, py))


def _round_rect_distance(n: Node, p) -> float:
    """Signed distance from p to the round rectangle's outline (0 on the outline)."""
    a, b = n.width / 2, n.height / 2
    r = corner_radius(n.width, n.height)
    qx, qy = abs(p[0] - n.x) - (a - r), abs(p[1] - n.y) - (b - r)
    return math.hypot(max(qx, 0), max(qy, 0)) + min(max(qx, qy), 0) - r


@settings(max_examples=300, deadline=None)
@given(SIZES, SIZES, DIRECTIONS)
def test_border_point_on_round_rectangle(w, h, d):
    n = node(1, 500, 300, "round rectangle", w, h)
    toward = (n.x + d[0], n.y + d[1])
    p = border_point(n, toward)
    assert _round_rect_distance(n, p) == pytest.approx(0, abs=1e-6 * max(w, h))
    assert _on_ray(n, toward, p)


@pytest.mark.parametrize("sx, sy", [(1, 1), (-1, 1), (1, -1), (-1, -1)])
def test_round_rectangle_corner_point_lies_on_corner_circle(sx, sy):
    n = node(1, 400, 300, "round rectangle", 120, 80)
    r = corner_radius(120, 80)
    assert r == 20
    px, py = border_point(n, (n.x + sx * 600, n.y + sy * 400))  # along the box diagonal
    cx, cy = n.x + sx * (60 - r), n.y + sy * (40 - r)
    assert math.hypot(px - cx, py - cy) == pytest.approx(r, abs=1e-6)
    # Inside the rectangle's corner, i.e. strictly nearer the centre than the sharp corner would be.
    assert abs(px - n.x) < 60 and abs(py - n.y) < 40
    assert sx * (px - cx) > 0 and sy * (py - cy) > 0


def test_round_rectangle_side_point_is_on_the_flat_side():
    n = node(1, 400, 300, "round rectangle", 120, 80)
    assert border_point(n, (1000, 300)) == pytest.approx((460, 300))
    assert border_point(n, (400, 0)) == pytest.approx((400, 260))


@pytest.mark.parametrize("shape", SHAPES)
def test_border_point_toward_centre_is_centre(shape):
    n = node(1, 400, 300, shape)
    assert border_point(n, (400, 300)) == (400, 300)


def test_border_point_axis_values():
    circle = node(1, 100, 100, "circle", 60, 40)
    assert border_point(circle, (500, 100)) == pytest.approx((130, 100))
    assert border_point(circle, (100, -500)) == pytest.approx((100, 80))
    box = node(2, 100, 100, "rectangle", 60, 40)
    assert border_point(box, (500, 500)) == pytest.approx((120, 120))  # leaves through the bottom side


def test_edge_endpoints_lie_on_both_borders():
    a, b = node(1, 100, 100, "circle", 60, 60), node(2, 500, 400, "rectangle", 80, 50)
    start, end = edge_endpoints(a, b)
    assert math.hypot(start[0] - 100, start[1] - 100) == pytest.approx(30)
    assert max(abs(end[0] - 500) / 40, abs(end[1] - 400) / 25) == pytest.approx(1)


@settings(max_examples=200, deadline=None)
@given(
    st.tuples(st.floats(-2000, 2000), st.floats(-2000, 2000)), st.tuples(st.floats(-2000, 2000), st.floats(-2000, 2000))
)
def test_arrowhead_tip_is_the_end_point(start, end):
    head = arrowhead(start, end)
    length = math.hypot(end[0] - start[0], end[1] - start[1])
    if length < 1e-6:
        assert head is None
        return
    tip, left, right, base = head
    assert tip == end
    assert math.hypot(tip[0] - base[0], tip[1] - base[1]) == pytest.approx(min(11.0, 0.6 * length), abs=1e-6)
    # The base lies on the segment, the wings are symmetric about it.
    assert math.hypot(base[0] - start[0], base[1] - start[1]) < length + 1e-9
    assert ((left[0] + right[0]) / 2, (left[1] + right[1]) / 2) == pytest.approx(base, abs=1e-6)


def test_dashes_alternate_dash_and_gap():
    pieces = dashes((0, 0), (100, 0), 8, 6)
    assert pieces[0][0] == (0, 0)
    assert [round(p[0][0], 6) for p in pieces] == [0, 14, 28, 42, 56, 70, 84, 98]
    assert all(p[1][0] - p[0][0] <= 8 + 1e-9 for p in pieces)
    assert pieces[-1][1] == pytest.approx((100, 0))
    assert dashes((5, 5), (5, 5), 8, 6) == []


# ---------------------------------------------------------------- renderer: size and format

TWO = Diagram((node(1, 200, 300, targets=[2]), node(2, 600, 300)))


def test_output_size_default_and_scaled():
    assert render(TWO).size == (1000, 600)
    assert render(TWO).mode == "RGB"
    assert render(TWO, scale=0.5).size == (500, 300)
    assert render(TWO, scale=2).size == (2000, 1200)


def test_render_png_returns_png_bytes():
    data = render_png(TWO, scale=0.5)
    assert isinstance(data, bytes)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == (500, 300)


def test_render_is_deterministic():
    assert render_png(TWO) == render_png(TWO)


# ---------------------------------------------------------------- renderer: pixels


@pytest.mark.parametrize("shape", SHAPES)
def test_filled_node_centre_has_its_fill_and_background_is_white(shape):
    fill = (200, 30, 90)
    image = render(Diagram((node(1, 300, 200, shape, 120, 80, fill=fill),)))
    assert image.getpixel((300, 200)) == fill
    px = pixels(image)
    # Far from the node the canvas is plain white.
    for x, y in [(5, 5), (995, 595), (800, 500), (300, 400), (600, 200)]:
        assert tuple(px[y, x]) == WHITE
    # The outline is drawn in the line colour just inside the bounding box edge.
    assert tuple(px[200, 241]) == BLACK


def test_scaled_render_keeps_proportions():
    fill = (10, 200, 10)
    image = render(Diagram((node(1, 300, 200, fill=fill),)), scale=0.5)
    assert image.getpixel((150, 100)) == fill
    assert image.getpixel((150, 150)) == WHITE


def _row_between(image, y, x0, x1) -> np.ndarray:
    """The darkest pixel of rows y-1..y+1 for each column x0..x1 (grey level)."""
    px = pixels(image)[y - 1 : y + 2, x0:x1].min(axis=2)
    return px.min(axis=0)


@pytest.mark.parametrize("style", ["solid line", "solid arrow"])
def test_solid_edge_has_no_gaps(style):
    image = render(Diagram((node(1, 200, 300, style=style, targets=[2]), node(2, 600, 300))))
    row = _row_between(image, 300, 260, 540)
    assert (row < 60).all(), "a solid line must be dark along its whole length"


def test_dashed_edge_has_gaps():
    image = render(Diagram((node(1, 200, 300, style="dashed line", targets=[2]), node(2, 600, 300))))
    row = _row_between(image, 300, 260, 540)
    dark, light = (row < 60).sum(), (row > 240).sum()
    assert dark > 60 and light > 60, (dark, light)
    # Several separate dashes, not one line with a hole.
    starts = np.flatnonzero((row[1:] < 128) & (row[:-1] >= 128))
    assert len(starts) >= 10


def test_edge_takes_the_source_line_colour():
    red = (220, 0, 0)
    image = render(Diagram((node(1, 200, 300, style="solid line", line=red, targets=[2]), node(2, 600, 300))))
    assert image.getpixel((400, 300)) == red


def test_arrowhead_is_drawn_at_the_target_border():
    # Target: white rectangle whose left border is x = 550; the edge comes in horizontally at y = 300.
    image = render(Diagram((node(1, 200, 300, targets=[2]), node(2, 600, 300, w=100, h=60))))
    px = pixels(image).min(axis=2)
    # Just outside the border the arrowhead is wider than the 2 px shaft.
    for x, half in ((541, 3), (543, 3), (545, 2)):
        assert px[300, x] < 60 and px[300 - half, x] < 200 and px[300 + half, x] < 200, x
    assert px[300, 548] < 100  # the tip reaches the border
    # Just inside the border (beyond the 2 px outline) nothing of the arrow shows.
    assert (px[292:309, 554:575] == 255).all()
    # The shaft alone, far from the target, is narrow.
    assert px[297, 400] == 255 and px[303, 400] == 255


def test_line_style_without_arrow_has_no_head():
    image = render(Diagram((node(1, 200, 300, style="solid line", targets=[2]), node(2, 600, 300))))
    px = pixels(image).min(axis=2)
    assert px[297, 543] == 255 and px[303, 543] == 255


@pytest.mark.parametrize("shape, border_x", [("circle", 570), ("rectangle", 570), ("round rectangle", 570)])
def test_arrow_stops_at_each_shape_border(shape, border_x):
    image = render(Diagram((node(1, 200, 300, targets=[2]), node(2, 600, 300, shape, 60, 60))))
    px = pixels(image).min(axis=2)
    assert px[297, border_x - 8] < 100 and px[303, border_x - 8] < 100
    assert (px[290:311, border_x + 4 : border_x + 20] == 255).all()


def test_edges_are_drawn_under_nodes():
    fill = (0, 120, 255)
    d = Diagram(
        (
            node(1, 100, 300, "circle", 40, 40, style="solid line", targets=[3]),
            node(2, 500, 300, fill=fill),
            node(3, 900, 300, "circle", 40, 40),
        )
    )
    image = render(d)
    assert image.getpixel((500, 300)) == fill  # the node hides the edge crossing it
    assert image.getpixel((300, 300)) == BLACK  # the edge is drawn elsewhere


def test_oblique_edge_is_anti_aliased():
    d = Diagram(
        (node(1, 100, 100, "circle", 20, 20, style="solid line", targets=[2]), node(2, 800, 430, "circle", 20, 20))
    )
    grey = pixels(render(d))[150:380, 200:700].min(axis=2)
    intermediate = ((grey > 30) & (grey < 225)).sum()
    assert intermediate > 200
    # The same drawing without supersampling has (almost) no intermediate values: the test can tell.
    hard = pixels(render(d, supersample=1))[150:380, 200:700].min(axis=2)
    assert ((hard > 30) & (hard < 225)).sum() < intermediate / 10


@pytest.mark.parametrize(
    "absurd",
    [
        node(1, 10**9, -(10**9), "circle", 0, 0, targets=[2]),
        node(1, -(10**9), 10**9, "rectangle", -50, -(10**9), targets=[2]),
        node(1, 500, 300, "round rectangle", 10**9, 10**9, targets=[2], label="x" * 500),
        node(1, 500, 300, "round rectangle", 0, -3, targets=[2], label="tiny"),
        node(1, 200, 300, "no such shape", 40, 40, "no such style", targets=[2]),
    ],
)
def test_off_canvas_and_absurd_nodes_render_without_raising(absurd):
    sane_fill = (0, 160, 80)
    d = Diagram((absurd, node(2, 800, 450, "circle", 50, 50, fill=sane_fill, targets=[1])))
    assert render(d).size == (1000, 600)
    assert render(d, scale=0.5).size == (500, 300)
    assert render_png(d).startswith(b"\x89PNG")
    ET.fromstring(render_svg(d))
    score = readability(d)
    assert 0 <= score.score <= 5
    # The sane node is still drawn.
    assert render(d).getpixel((800, 450)) == sane_fill


def test_empty_diagram_renders_blank():
    px = pixels(render(Diagram()))
    assert px.shape == (600, 1000, 3)
    assert (px == 255).all()


# ---------------------------------------------------------------- labels


def _ink_box(image: Image.Image, fill) -> tuple[int, int, int, int]:
    px = pixels(image)
    ink = np.abs(px - np.asarray(fill)).sum(axis=2) > 120
    ys, xs = np.nonzero(ink)
    return xs.min(), ys.min(), xs.max(), ys.max()


def test_label_is_centred_inside_its_node():
    fill = (255, 255, 255)
    # A node without outline colour contrast, so that the only ink is the text.
    d = Diagram((node(1, 400, 250, "rectangle", 200, 80, fill=fill, line=fill, label="Conv 3x3"),))
    left, top, right, bottom = _ink_box(render(d), fill)
    assert 300 < left and right < 500 and 210 < top and bottom < 290
    assert abs((left + right) / 2 - 400) <= 3
    assert abs((top + bottom) / 2 - 250) <= 4


def test_label_shrinks_to_fit_its_node():
    big = node(1, 400, 300, "rectangle", 300, 80, label="A rather long layer name")
    small = node(1, 400, 300, "rectangle", 110, 50, label="A rather long layer name")
    big_layout, small_layout = layout_label(big), layout_label(small)
    assert small_layout.size < big_layout.size
    fill = (255, 255, 255)
    d = Diagram((Node(1, 400, 300, "rectangle", 110, 50, "solid arrow", fill, fill, (), "A rather long layer name"),))
    left, top, right, bottom = _ink_box(render(d), fill)
    assert 345 <= left and right <= 455 and 275 <= top and bottom <= 325


def test_label_text_colour_contrasts_with_fill():
    assert text_colour((20, 20, 80)) == WHITE
    assert text_colour((250, 250, 200)) == BLACK
    assert contrast_ratio(BLACK, WHITE) == pytest.approx(21)
    assert contrast_ratio((90, 90, 90), (90, 90, 90)) == pytest.approx(1)


# ---------------------------------------------------------------- SVG


def test_svg_structure():
    d = Diagram(
        (
            node(1, 100, 300, "circle", 60, 60, "solid arrow", targets=[2, 3]),
            node(2, 500, 150, "round rectangle", 120, 80, "dashed line", targets=[3], label='a<b & "c"'),
            node(3, 800, 400, "rectangle", 100, 50),
        )
    )
    root = ET.fromstring(render_svg(d))
    assert root.tag == SVG + "svg"
    assert (root.get("width"), root.get("height")) == ("1000", "600")
    groups = root.findall(SVG + "g")
    edges = [g for g in groups if g.get("class") == "edge"]
    nodes = [g for g in groups if g.get("class") == "node"]
    assert [(g.get("data-source"), g.get("data-target")) for g in edges] == [("1", "2"), ("1", "3"), ("2", "3")]
    assert [g.get("data-id") for g in nodes] == ["1", "2", "3"]
    # Edges come first (drawn under the nodes).
    assert groups.index(edges[-1]) < groups.index(nodes[0])
    # Arrow edges have a polygon head, the dashed one a dash array and no head.
    assert edges[0].find(SVG + "polygon") is not None
    assert edges[2].find(SVG + "polygon") is None
    assert edges[2].find(SVG + "line").get("stroke-dasharray")
    assert nodes[0].find(SVG + "ellipse") is not None
    assert float(nodes[1].find(SVG + "rect").get("rx")) == corner_radius(120, 80)
    assert float(nodes[2].find(SVG + "rect").get("rx")) == 0
    assert "".join(t.text for t in nodes[1].iter(SVG + "text")).replace(" ", "") == 'a<b&"c"'


def test_svg_arrow_tip_is_on_target_border():
    d = Diagram((node(1, 200, 300, targets=[2]), node(2, 600, 300, w=100, h=60)))
    root = ET.fromstring(render_svg(d))
    polygon = root.find(f"{SVG}g[@class='edge']/{SVG}polygon")
    tip = polygon.get("points").split()[0]
    assert tuple(float(v) for v in tip.split(",")) == (550.0, 300.0)
