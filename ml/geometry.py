"""Plane geometry shared by the renderer and the readability metrics.

Edges start and end on node borders, not at centres, so that arrowheads touch the shape they
point at; these functions find those border points for each shape.
"""

from __future__ import annotations

import math

from ml.diagram import Diagram, Node

Point = tuple[float, float]
LAYER_TOLERANCE_PX = 15  # centres closer than this along an axis are one layer (column or row)


def layers_by(diagram: Diagram, axis: str) -> list[list[int]]:
    """Node ids grouped into layers by their x (columns) or y (rows) centre, in drawing order."""
    layers: list[list[int]] = []
    last = None
    for node in sorted(diagram.nodes, key=lambda n: getattr(n, axis)):
        position = getattr(node, axis)
        if last is None or position - last > LAYER_TOLERANCE_PX:
            layers.append([])
        layers[-1].append(node.id)
        last = position
    return layers


def corner_radius(width: float, height: float) -> float:
    """Corner radius of a round rectangle (the renderer and SVG export agree on it)."""
    return 0.25 * min(width, height)


def border_point(node: Node, toward: Point) -> Point:
    """Where the ray from the node's centre toward `toward` leaves the node's shape."""
    dx, dy = toward[0] - node.x, toward[1] - node.y
    if dx == 0 and dy == 0:
        return float(node.x), float(node.y)
    a, b = max(node.width, 1) / 2, max(node.height, 1) / 2
    if node.shape == "circle":
        t = 1 / math.hypot(dx / a, dy / b)
        return node.x + t * dx, node.y + t * dy
    t = min(a / abs(dx) if dx else math.inf, b / abs(dy) if dy else math.inf)
    px, py = t * dx, t * dy
    if node.shape == "round rectangle":
        r = min(corner_radius(node.width, node.height), a, b)
        if abs(px) > a - r and abs(py) > b - r:
            # The ray leaves through a rounded corner: intersect it with the corner's circle.
            cx, cy = math.copysign(a - r, dx), math.copysign(b - r, dy)
            dd = dx * dx + dy * dy
            bq = dx * cx + dy * cy
            disc = bq * bq - dd * (cx * cx + cy * cy - r * r)
            t = (bq + math.sqrt(max(disc, 0.0))) / dd
            px, py = t * dx, t * dy
    return node.x + px, node.y + py


def edge_endpoints(source: Node, target: Node) -> tuple[Point, Point]:
    """The visible segment of an edge: from the source's border to the target's border."""
    return border_point(source, (target.x, target.y)), border_point(target, (source.x, source.y))


ARROW_LENGTH = 11.0
ARROW_HALF_WIDTH = 5.0


def arrowhead(start: Point, end: Point) -> tuple[Point, Point, Point, Point] | None:
    """(tip, left, right, base) of a filled arrowhead whose tip touches `end`; None if the edge is too short."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    length = math.hypot(dx, dy)
    if length < 1e-6:
        return None
    ux, uy = dx / length, dy / length
    head = min(ARROW_LENGTH, 0.6 * length)
    half = ARROW_HALF_WIDTH * head / ARROW_LENGTH
    base = (end[0] - ux * head, end[1] - uy * head)
    left = (base[0] - uy * half, base[1] + ux * half)
    right = (base[0] + uy * half, base[1] - ux * half)
    return end, left, right, base


def dashes(start: Point, end: Point, dash: float, gap: float) -> list[tuple[Point, Point]]:
    """The visible pieces of a dashed segment."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    length = math.hypot(dx, dy)
    if length < 1e-6:
        return []
    ux, uy = dx / length, dy / length
    pieces, at = [], 0.0
    while at < length:
        stop = min(at + dash, length)
        pieces.append(((start[0] + ux * at, start[1] + uy * at), (start[0] + ux * stop, start[1] + uy * stop)))
        at = stop + gap
    return pieces
