"""SVG export of the same drawing as the PNG renderer: one <g> per edge and per node, editable in any vector tool."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from ml.diagram import BACKGROUND, CANVAS_HEIGHT, CANVAS_WIDTH, Colour, Diagram
from ml.geometry import arrowhead, corner_radius, edge_endpoints
from ml.labels import layout_label, text_colour
from ml.render import DASH, GAP, LINE_WIDTH, drawable

# The viewer's fonts draw the text: a sans-serif for Latin, then common Korean ones for Hangul.
FONT_FAMILY = "Arial, 'Noto Sans KR', 'Malgun Gothic', 'Apple SD Gothic Neo', sans-serif"


def _rgb(colour: Colour) -> str:
    return "rgb({},{},{})".format(*colour)


def _text(line: str) -> str:
    """XML-escaped text without the control characters XML forbids."""
    return escape("".join(ch for ch in line if ch.isprintable()))


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def render_svg(diagram: Diagram) -> str:
    diagram = drawable(diagram)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{CANVAS_WIDTH}" height="{CANVAS_HEIGHT}" '
        f'viewBox="0 0 {CANVAS_WIDTH} {CANVAS_HEIGHT}" font-family="{FONT_FAMILY}">',
        f'<rect width="100%" height="100%" fill="{_rgb(BACKGROUND)}"/>',
    ]
    for edge in diagram.edges():
        start, end = edge_endpoints(edge.source, edge.target)
        colour = _rgb(edge.colour)
        head = arrowhead(start, end) if edge.style == "solid arrow" else None
        line_end = head[3] if head else end
        dash = f' stroke-dasharray="{_num(DASH)} {_num(GAP)}"' if edge.style == "dashed line" else ""
        parts.append(
            f'<g class="edge" data-source="{edge.source.id}" data-target="{edge.target.id}">'
            f'<line x1="{_num(start[0])}" y1="{_num(start[1])}" x2="{_num(line_end[0])}" '
            f'y2="{_num(line_end[1])}" stroke="{colour}" stroke-width="{_num(LINE_WIDTH)}"{dash}/>'
        )
        if head:
            points = " ".join(f"{_num(x)},{_num(y)}" for x, y in head[:3])
            parts.append(f'<polygon points="{points}" fill="{colour}"/>')
        parts.append("</g>")
    for node in diagram.nodes:
        style = f'fill="{_rgb(node.fill)}" stroke="{_rgb(node.line_colour)}" stroke-width="{_num(LINE_WIDTH)}"'
        parts.append(f'<g class="node" data-id="{node.id}">')
        if node.shape == "circle":
            parts.append(
                f'<ellipse cx="{node.x}" cy="{node.y}" rx="{_num(node.width / 2)}" '
                f'ry="{_num(node.height / 2)}" {style}/>'
            )
        else:
            radius = corner_radius(node.width, node.height) if node.shape == "round rectangle" else 0
            left, top, _, _ = node.bbox
            parts.append(
                f'<rect x="{_num(left)}" y="{_num(top)}" width="{node.width}" height="{node.height}" '
                f'rx="{_num(radius)}" {style}/>'
            )
        layout = layout_label(node)
        if layout:
            line_height = layout.size * 1.15
            top = node.y - line_height * len(layout.lines) / 2
            for i, line in enumerate(layout.lines):
                parts.append(
                    f'<text x="{node.x}" y="{_num(top + line_height * (i + 0.5))}" '
                    f'font-size="{layout.size}" text-anchor="middle" dominant-baseline="central" '
                    f"fill={quoteattr(_rgb(text_colour(node.fill)))}>{_text(line)}</text>"
                )
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(parts)
