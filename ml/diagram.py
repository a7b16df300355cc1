"""The diagram model: the node list that the generator writes and everything else reads.

One node is `[id, x, y, shape, width, height, line style, fill (R,G,B), line colour (R,G,B),
[target ids], label?]` on a 1000x600 canvas; x and y are the node's centre. An edge leaves a
node towards each target id and takes the style and colour of its source node.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

CANVAS_WIDTH = 1000
CANVAS_HEIGHT = 600
BACKGROUND = (255, 255, 255)

SHAPES = ("rectangle", "round rectangle", "circle")
LINE_STYLES = ("solid arrow", "solid line", "dashed line")
DEFAULT_SHAPE = "rectangle"
DEFAULT_LINE_STYLE = "solid arrow"

Colour = tuple[int, int, int]


def label_key(label: str | None) -> str:
    """A label as two drawings are compared by it: case and spacing ignored, no label = ""."""
    return " ".join((label or "").lower().split())


@dataclass(frozen=True)
class Node:
    """One box, rounded box or ellipse, and the edges that leave it."""

    id: int
    x: int
    y: int
    shape: str
    width: int
    height: int
    line_style: str
    fill: Colour
    line_colour: Colour
    targets: tuple[int, ...] = ()
    label: str | None = None

    def as_list(self) -> list:
        """The node as the JSON-friendly list used in result files and storage."""
        row = [
            self.id,
            self.x,
            self.y,
            self.shape,
            self.width,
            self.height,
            self.line_style,
            list(self.fill),
            list(self.line_colour),
            list(self.targets),
        ]
        if self.label is not None:
            row.append(self.label)
        return row

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) of the node's bounding box."""
        return (self.x - self.width / 2, self.y - self.height / 2, self.x + self.width / 2, self.y + self.height / 2)


@dataclass(frozen=True)
class Edge:
    """A line from `source` to `target`, drawn in the source node's style and colour."""

    source: Node
    target: Node

    @property
    def style(self) -> str:
        return self.source.line_style

    @property
    def colour(self) -> Colour:
        return self.source.line_colour


@dataclass(frozen=True)
class Diagram:
    """An ordered set of nodes with unique ids; every target names a node of the diagram."""

    nodes: tuple[Node, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(self.nodes))

    def by_id(self) -> dict[int, Node]:
        return {node.id: node for node in self.nodes}

    def edges(self) -> Iterator[Edge]:
        index = self.by_id()
        for node in self.nodes:
            for target in node.targets:
                if target in index:
                    yield Edge(node, index[target])

    def as_lists(self) -> list[list]:
        return [node.as_list() for node in self.nodes]

    @classmethod
    def from_lists(cls, rows: list[list]) -> Diagram:
        """Inverse of `as_lists`, for trusted data (storage, result files); model text goes through the parser."""
        nodes = []
        for row in rows:
            nid, x, y, shape, w, h, style, fill, line, targets, *rest = row
            nodes.append(
                Node(
                    int(nid),
                    int(x),
                    int(y),
                    str(shape),
                    int(w),
                    int(h),
                    str(style),
                    # trusted rows were written by `as_list`: three channels each
                    cast(Colour, tuple(int(c) for c in fill)),
                    cast(Colour, tuple(int(c) for c in line)),
                    tuple(int(t) for t in targets),
                    rest[0] if rest else None,
                )
            )
        return cls(tuple(nodes))
