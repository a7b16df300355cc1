"""PNG renderer (Pillow): edges under nodes, borders exact, anti-aliased by supersampling.

Shapes and lines are drawn at `supersample` times the output size and reduced with a box
filter; labels are drawn afterwards at the output size so they stay crisp.
"""

from __future__ import annotations

import io
from dataclasses import replace

from PIL import Image, ImageDraw

from ml.diagram import BACKGROUND, CANVAS_HEIGHT, CANVAS_WIDTH, Diagram, Node
from ml.geometry import arrowhead, corner_radius, dashes, edge_endpoints
from ml.labels import font, layout_label, text_colour

LINE_WIDTH = 2.0
DASH, GAP = 8.0, 6.0
# Drawing limits: values beyond these are clamped so that no input makes Pillow misbehave.
_X_LIMIT = (-CANVAS_WIDTH, 2 * CANVAS_WIDTH)
_Y_LIMIT = (-CANVAS_HEIGHT, 2 * CANVAS_HEIGHT)
_SIZE_LIMIT = (1, 2 * CANVAS_WIDTH)


def _clamp(value: float, limits: tuple[int, int]) -> int:
    return int(min(max(value, limits[0]), limits[1]))


def drawable(diagram: Diagram) -> Diagram:
    """The diagram with every coordinate and size inside the drawing limits."""
    nodes = tuple(
        replace(
            n,
            x=_clamp(n.x, _X_LIMIT),
            y=_clamp(n.y, _Y_LIMIT),
            width=_clamp(n.width, _SIZE_LIMIT),
            height=_clamp(n.height, _SIZE_LIMIT),
        )
        for n in diagram.nodes
    )
    return Diagram(nodes)


def _box(node: Node, k: float) -> tuple[float, float, float, float]:
    left, top, right, bottom = node.bbox
    return left * k, top * k, right * k, bottom * k


def _draw_edges(draw: ImageDraw.ImageDraw, diagram: Diagram, k: float) -> None:
    width = max(1, round(LINE_WIDTH * k))
    for edge in diagram.edges():
        start, end = edge_endpoints(edge.source, edge.target)
        colour = edge.colour
        if edge.style == "solid arrow":
            head = arrowhead(start, end)
            if head is not None:
                tip, left, right, base = head
                draw.line([(start[0] * k, start[1] * k), (base[0] * k, base[1] * k)], fill=colour, width=width)
                draw.polygon([(p[0] * k, p[1] * k) for p in (tip, left, right)], fill=colour)
                continue
        pieces = dashes(start, end, DASH, GAP) if edge.style == "dashed line" else [(start, end)]
        for a, b in pieces:
            draw.line([(a[0] * k, a[1] * k), (b[0] * k, b[1] * k)], fill=colour, width=width)


def _draw_node(draw: ImageDraw.ImageDraw, node: Node, k: float) -> None:
    box = _box(node, k)
    width = max(1, round(LINE_WIDTH * k))
    if node.shape == "circle":
        draw.ellipse(box, fill=node.fill, outline=node.line_colour, width=width)
    elif node.shape == "round rectangle":
        radius = corner_radius(node.width, node.height) * k
        draw.rounded_rectangle(box, radius=radius, fill=node.fill, outline=node.line_colour, width=width)
    else:
        draw.rectangle(box, fill=node.fill, outline=node.line_colour, width=width)


def _draw_label(draw: ImageDraw.ImageDraw, node: Node, scale: float) -> None:
    layout = layout_label(node)
    if layout is None:
        return
    size = max(1, round(layout.size * scale))
    line_height = layout.size * 1.15 * scale
    top = node.y * scale - line_height * len(layout.lines) / 2
    for i, line in enumerate(layout.lines):
        centre = (node.x * scale, top + line_height * (i + 0.5))
        draw.text(centre, line, fill=text_colour(node.fill), font=font(size, line), anchor="mm")


def render(diagram: Diagram, scale: float = 1.0, supersample: int = 2) -> Image.Image:
    """The diagram as an RGB image of (1000 x 600) * scale pixels."""
    diagram = drawable(diagram)
    supersample = max(1, int(supersample))
    size = (max(1, round(CANVAS_WIDTH * scale)), max(1, round(CANVAS_HEIGHT * scale)))
    k = scale * supersample
    image = Image.new("RGB", (size[0] * supersample, size[1] * supersample), BACKGROUND)
    draw = ImageDraw.Draw(image)
    _draw_edges(draw, diagram, k)
    for node in diagram.nodes:
        _draw_node(draw, node, k)
    if supersample > 1:
        image = image.reduce(supersample)
    draw = ImageDraw.Draw(image)
    for node in diagram.nodes:
        _draw_label(draw, node, scale)
    return image


def render_png(diagram: Diagram, scale: float = 1.0) -> bytes:
    buffer = io.BytesIO()
    render(diagram, scale).save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
