"""Editable exports of a diagram: a PowerPoint slide of native shapes and glued connectors, and SVG.

The slide is 16:9 (13.333 x 7.5 in, PowerPoint's default widescreen size) so that its shapes can be
pasted into an ordinary deck. The 1000x600 canvas is scaled to the slide's full height and centred
across its width: one canvas unit is 11430 EMU (0.9 pt), which leaves a 0.42 in white margin left
and right. Every node is an autoshape (rectangle, rounded rectangle or oval) named "node <id>",
filled and outlined like the PNG renderer draws it, with its label as the shape's own text. Every
edge is a straight connector named "edge <source>-><target>" whose two ends are glued to the
facing connection sites of its nodes (`p:stCxn` / `p:endCxn`), so moving a shape in PowerPoint
drags its connectors along. Connectors sit under the nodes, as in the PNG.
"""

from __future__ import annotations

import io

from lxml import etree
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.dml import MSO_LINE_DASH_STYLE
from pptx.enum.shapes import MSO_CONNECTOR, MSO_SHAPE
from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE, PP_ALIGN
from pptx.oxml.ns import qn
from pptx.shapes.autoshape import Shape
from pptx.util import Emu

from ml.diagram import BACKGROUND, CANVAS_HEIGHT, CANVAS_WIDTH, Colour, Diagram, Node
from ml.geometry import corner_radius
from ml.labels import layout_label, text_colour
from ml.render import LINE_WIDTH, drawable
from ml.svg import render_svg

SLIDE_WIDTH = Emu(12192000)  # 13.333 in
SLIDE_HEIGHT = Emu(6858000)  # 7.5 in
SCALE = min(SLIDE_WIDTH // CANVAS_WIDTH, SLIDE_HEIGHT // CANVAS_HEIGHT)  # EMU per canvas unit: 11430
OFFSET_X = (SLIDE_WIDTH - SCALE * CANVAS_WIDTH) // 2
OFFSET_Y = (SLIDE_HEIGHT - SCALE * CANVAS_HEIGHT) // 2
EMU_PER_POINT = 12700
FONT = "Arial"  # LibreOffice substitutes the metric-compatible Liberation Sans
EAST_ASIAN_FONT = "Malgun Gothic"  # Hangul in PowerPoint and LibreOffice (which substitutes a Korean font)
LINE_SPACING = 1.15  # as ml.labels / ml.render space label lines

_AUTO_SHAPES = {
    "rectangle": MSO_SHAPE.RECTANGLE,
    "round rectangle": MSO_SHAPE.ROUNDED_RECTANGLE,
    "circle": MSO_SHAPE.OVAL,
}
# Connection-site indices of the DrawingML preset geometries (presetShapeDefinitions.xml `cxnLst`):
# rect and roundRect have four sites, counter-clockwise from the top; ellipse has eight, the four
# diagonal ones in between, so its left/bottom/right sites are 2/4/6, not 1/2/3.
_SITES = {"top": 0, "left": 1, "bottom": 2, "right": 3}
_OVAL_SITES = {"top": 0, "left": 2, "bottom": 4, "right": 6}
_OPPOSITE = {"top": "bottom", "bottom": "top", "left": "right", "right": "left"}


def _emu_x(x: float) -> int:
    return int(round(OFFSET_X + x * SCALE))


def _emu_y(y: float) -> int:
    return int(round(OFFSET_Y + y * SCALE))


def _emu(length: float) -> int:
    return max(1, int(round(length * SCALE)))


def _rgb(colour: Colour) -> RGBColor:
    return RGBColor(*(min(max(int(c), 0), 255) for c in colour))


def _east_asian_font(run, typeface: str) -> None:
    """Name the run's East Asian font (<a:ea>), which PowerPoint uses for Hangul; python-pptx sets only Latin."""
    properties = run._r.get_or_add_rPr()
    for old in properties.findall(qn("a:ea")):
        properties.remove(old)
    ea = properties.makeelement(qn("a:ea"), {"typeface": typeface})
    latin = properties.find(qn("a:latin"))
    if latin is not None:
        latin.addnext(ea)
    else:
        properties.append(ea)


def _printable(text: str) -> str:
    """The label without the control characters that XML forbids (and that would break lines)."""
    return "".join(ch for ch in text if ch.isprintable())


def _drop_theme_style(element) -> None:
    """Remove `p:style`: python-pptx's theme reference adds effects (shadow) the PNG does not have."""
    style = element.find(qn("p:style"))
    if style is not None:
        element.remove(style)


def site_index(node: Node, side: str) -> int:
    """The connection-site index of `side` ("top", "left", "bottom", "right") on the node's preset shape."""
    return (_OVAL_SITES if node.shape == "circle" else _SITES)[side]


def site_point(node: Node, side: str) -> tuple[int, int]:
    """Slide position (EMU) of the connection site on `side`: the middle of that side of the box,
    which lies on the outline for all three shapes."""
    left, top, right, bottom = node.bbox
    x = {"left": left, "right": right}.get(side, node.x)
    y = {"top": top, "bottom": bottom}.get(side, node.y)
    return _emu_x(x), _emu_y(y)


def facing_sides(source: Node, target: Node) -> tuple[str, str]:
    """The sides of source and target that face each other: left/right when the line between the
    centres leaves through the sides of the boxes, top/bottom when it leaves through top or bottom."""
    if source is target or source.id == target.id:
        return "top", "top"  # a self-loop: zero length, as the PNG draws it
    dx, dy = target.x - source.x, target.y - source.y
    horizontal = abs(dx) / max(source.width + target.width, 1) >= abs(dy) / max(source.height + target.height, 1)
    if horizontal:
        side = "right" if dx >= 0 else "left"
    else:
        side = "bottom" if dy >= 0 else "top"
    return side, _OPPOSITE[side]


def _add_node(shapes, node: Node):
    left, top, _, _ = node.bbox
    shape = shapes.add_shape(
        _AUTO_SHAPES.get(node.shape, MSO_SHAPE.RECTANGLE),
        _emu_x(left),
        _emu_y(top),
        _emu(node.width),
        _emu(node.height),
    )
    _drop_theme_style(shape.element)
    shape.name = f"node {node.id}"
    if node.shape == "round rectangle":
        # roundRect's `adj` is the corner radius as a fraction of the shorter side (at most 0.5).
        shape.adjustments[0] = min(0.5, corner_radius(node.width, node.height) / max(min(node.width, node.height), 1))
    shape.fill.solid()
    shape.fill.fore_color.rgb = _rgb(node.fill)
    shape.line.fill.solid()
    shape.line.color.rgb = _rgb(node.line_colour)
    shape.line.width = _emu(LINE_WIDTH)
    shape.shadow.inherit = False
    _add_label(shape, node)
    return shape


def _add_label(shape, node: Node) -> None:
    frame = shape.text_frame
    frame.margin_left = frame.margin_right = frame.margin_top = frame.margin_bottom = 0
    frame.vertical_anchor = MSO_ANCHOR.MIDDLE
    frame.auto_size = MSO_AUTO_SIZE.NONE
    layout = layout_label(node)
    if layout is None:
        return
    if layout.truncated:
        # The PNG shortens the label with an ellipsis; an editable slide keeps the whole text, wrapped.
        frame.word_wrap = True
        frame.text = _printable(node.label or "")
    else:
        # The lines as ml.labels broke them, joined by line breaks (one paragraph stays easy to edit).
        frame.word_wrap = False
        frame.text = "\v".join(_printable(line) for line in layout.lines)
    size_pt = layout.size * SCALE / EMU_PER_POINT
    colour = _rgb(text_colour(node.fill))
    for paragraph in frame.paragraphs:
        paragraph.alignment = PP_ALIGN.CENTER
        paragraph.line_spacing = Emu(int(round(size_pt * LINE_SPACING * EMU_PER_POINT)))
        for run in paragraph.runs:
            run.font.size = Emu(int(round(size_pt * EMU_PER_POINT)))
            run.font.name = FONT
            _east_asian_font(run, EAST_ASIAN_FONT)
            run.font.color.rgb = colour


def _set_arrowhead(line_element) -> None:
    """Add `<a:tailEnd type="triangle"/>` (the target end) in its schema place: after a:headEnd,
    before a:extLst (CT_LineProperties: fill, dash, join, headEnd, tailEnd, extLst)."""
    tail = line_element.find(qn("a:tailEnd"))
    if tail is None:
        tail = etree.SubElement(line_element, qn("a:tailEnd"))
        ext = line_element.find(qn("a:extLst"))
        if ext is not None:
            ext.addprevious(tail)
    tail.set("type", "triangle")
    # "lg" is five line widths long and wide, like the PNG's 11x10 px head on a 2 px line.
    tail.set("w", "lg")
    tail.set("len", "lg")


def _add_edge(shapes, source: Node, target: Node, source_shape, target_shape, style: str, colour: Colour):
    start_side, end_side = facing_sides(source, target)
    begin, end = site_point(source, start_side), site_point(target, end_side)
    connector = shapes.add_connector(MSO_CONNECTOR.STRAIGHT, begin[0], begin[1], end[0], end[1])
    _drop_theme_style(connector.element)
    connector.name = f"edge {source.id}->{target.id}"
    # Glue both ends: python-pptx's begin_connect() only knows four sites, so write p:stCxn and
    # p:endCxn directly (the same elements begin_connect writes) with each preset's own indices.
    properties = connector.element.nvCxnSpPr.cNvCxnSpPr
    start_cxn = properties.get_or_add_stCxn()
    start_cxn.id, start_cxn.idx = source_shape.shape_id, site_index(source, start_side)
    end_cxn = properties.get_or_add_endCxn()
    end_cxn.id, end_cxn.idx = target_shape.shape_id, site_index(target, end_side)
    line = connector.line
    line.fill.solid()
    line.color.rgb = _rgb(colour)
    line.width = _emu(LINE_WIDTH)
    if style == "dashed line":
        line.dash_style = MSO_LINE_DASH_STYLE.DASH  # 4:3 of the line width, the PNG's 8 px on 6 px off
    if style == "solid arrow":
        _set_arrowhead(connector.element.spPr.get_or_add_ln())
    return connector


def build_presentation(diagram: Diagram):
    """A python-pptx Presentation with the diagram on its one slide."""
    diagram = drawable(diagram)
    presentation = Presentation()
    presentation.slide_width, presentation.slide_height = SLIDE_WIDTH, SLIDE_HEIGHT
    blank = next(
        (layout for layout in presentation.slide_layouts if layout.name == "Blank"), presentation.slide_layouts[6]
    )
    slide = presentation.slides.add_slide(blank)
    slide.background.fill.solid()
    slide.background.fill.fore_color.rgb = _rgb(BACKGROUND)
    shapes = slide.shapes
    node_shapes: dict[int, Shape] = {}
    for node in diagram.nodes:
        shape = _add_node(shapes, node)
        node_shapes.setdefault(node.id, shape)  # ids are unique; were they not, edges glue to the first
    connectors = [
        _add_edge(
            shapes,
            edge.source,
            edge.target,
            node_shapes[edge.source.id],
            node_shapes[edge.target.id],
            edge.style,
            edge.colour,
        )
        for edge in diagram.edges()
    ]
    # Edges under nodes, as the PNG draws them: move the connectors before the first node shape.
    if connectors:
        first = node_shapes[diagram.nodes[0].id].element
        for connector in connectors:
            first.addprevious(connector.element)
    return presentation


def pptx_bytes(diagram: Diagram) -> bytes:
    """The diagram as a .pptx file: one slide of native, editable, glued shapes."""
    buffer = io.BytesIO()
    build_presentation(diagram).save(buffer)
    return buffer.getvalue()


def svg_text(diagram: Diagram) -> str:
    """The diagram as SVG: one `<g class="node">` per node and one `<g class="edge">` per edge."""
    return render_svg(diagram)
