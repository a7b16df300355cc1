"""Hand-made diagrams the export tests share: every shape, line style and colour kind."""

from __future__ import annotations

from ml.diagram import Diagram, Node


def node(
    nid,
    x,
    y,
    shape="rectangle",
    w=100,
    h=60,
    style="solid arrow",
    fill=(255, 255, 255),
    line=(0, 0, 0),
    targets=(),
    label=None,
) -> Node:
    return Node(nid, x, y, shape, w, h, style, fill, line, tuple(targets), label)


# Every shape, every line style, distinct colours, an oval at both ends of an edge, a vertical edge.
MIXED = Diagram(
    (
        node(1, 120, 150, "rectangle", 120, 70, "solid arrow", (31, 119, 180), (200, 10, 10), [2, 4], "Load data"),
        node(2, 450, 150, "round rectangle", 140, 80, "dashed line", (255, 240, 200), (10, 120, 10), [3], "Clean"),
        node(3, 800, 150, "circle", 90, 90, "solid line", (250, 250, 250), (10, 10, 160), [5], "Model"),
        node(4, 120, 450, "circle", 80, 80, "solid arrow", (60, 60, 60), (120, 0, 120), [5], "DB"),
        node(5, 800, 450, "rectangle", 120, 70, "dashed line", (229, 245, 224), (0, 0, 0), [], "Metrics"),
    )
)
