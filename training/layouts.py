"""Readable reference layouts for the three diagram families.

These are the drawings the generator learns to write: even spacing, centred layers, nothing
overlapping, everything inside the canvas, labels where they help. They are pure functions of
the structure (and a palette), so the same request always yields the same reference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ml.dense import dense_ids, ellipsis_label, is_ellipsis_id
from ml.diagram import CANVAS_HEIGHT, CANVAS_WIDTH, Colour, Diagram, Node

MARGIN_X = 80
MARGIN_Y = 50
DARK = (40, 40, 40)


@dataclass(frozen=True)
class Palette:
    """Fills for input, hidden and output roles, and the line colour."""

    input: Colour = (198, 219, 239)
    hidden: Colour = (255, 255, 255)
    output: Colour = (199, 233, 192)
    line: Colour = DARK


PALETTES = (
    Palette(),
    Palette((253, 208, 162), (255, 255, 255), (188, 189, 220)),
    Palette((255, 255, 204), (222, 235, 247), (252, 187, 161)),
    Palette((229, 245, 224), (240, 240, 240), (254, 224, 210), (0, 0, 0)),
)


def _centred(count: int, centre: float, step: float) -> list[float]:
    return [centre + (i - (count - 1) / 2) * step for i in range(count)]


def _columns(count: int) -> list[float]:
    if count == 1:
        return [CANVAS_WIDTH / 2]
    step = (CANVAS_WIDTH - 2 * MARGIN_X) / (count - 1)
    return [MARGIN_X + i * step for i in range(count)]


WHITE = (255, 255, 255)


def dense_network(layers: list[int], palette: Palette = Palette(), style: str = "solid arrow") -> Diagram:
    """One circle per neuron, each neuron wired to every neuron of the next layer.

    A layer too large to draw (more than MAX_FULL_LAYER) keeps five neurons and, between them, an
    unframed box labelled with an ellipsis and the layer's size; the box has no edges.
    """
    xs = _columns(len(layers))
    ids = dense_ids(layers)
    tallest = max(len(column) for column in ids)
    step_y = min(90.0, (CANVAS_HEIGHT - 2 * MARGIN_Y) / max(tallest - 1, 1))
    step_x = xs[1] - xs[0] if len(xs) > 1 else CANVAS_WIDTH
    size = int(max(10, min(60, step_y * 0.6, step_x * 0.3)))
    neurons = [[nid for nid in column if not is_ellipsis_id(nid)] for column in ids]
    nodes = []
    for li, (column, x) in enumerate(zip(ids, xs)):
        fill = palette.input if li == 0 else palette.output if li == len(layers) - 1 else palette.hidden
        targets = tuple(neurons[li + 1]) if li + 1 < len(layers) else ()
        for nid, y in zip(column, _centred(len(column), CANVAS_HEIGHT / 2, step_y)):
            if is_ellipsis_id(nid):
                width = int(min(step_x * 0.6, max(size * 1.8, 44)))
                nodes.append(
                    Node(
                        nid,
                        round(x),
                        round(y),
                        "rectangle",
                        width,
                        max(size, 20),
                        "solid line",
                        WHITE,
                        WHITE,
                        (),
                        ellipsis_label(layers[li]),
                    )
                )
            else:
                nodes.append(Node(nid, round(x), round(y), "circle", size, size, style, fill, palette.line, targets))
    return Diagram(tuple(nodes))


@dataclass(frozen=True)
class Layer:
    """One box of a layer diagram: its label and the size that scales its height."""

    label: str
    size: int
    kind: str = "hidden"  # input | hidden | output


def layer_boxes(layers: list[Layer], palette: Palette = Palette(), shape: str = "rectangle") -> Diagram:
    """One labelled box per layer, left to right, height scaled with log(size), chained by arrows."""
    xs = _columns(len(layers))
    gap = xs[1] - xs[0] if len(xs) > 1 else CANVAS_WIDTH / 2
    width = int(max(8, min(140, gap * 0.72)))
    logs = [math.log(max(layer.size, 1) + 1) for layer in layers]
    low, high = min(logs), max(logs)
    nodes = []
    for i, (layer, x, lg) in enumerate(zip(layers, xs, logs)):
        share = (lg - low) / (high - low) if high > low else 0.5
        height = int(90 + share * (CANVAS_HEIGHT - 2 * MARGIN_Y - 90 - 60))
        fill = {"input": palette.input, "output": palette.output}.get(layer.kind, palette.hidden)
        targets = (i + 2,) if i + 1 < len(layers) else ()
        nodes.append(
            Node(
                i + 1,
                round(x),
                CANVAS_HEIGHT // 2,
                shape,
                width,
                height,
                "solid arrow",
                fill,
                palette.line,
                targets,
                layer.label,
            )
        )
    return Diagram(tuple(nodes))


# Flowchart node types: (shape, fill).
NODE_TYPES: dict[str, tuple[str, Colour]] = {
    "data": ("rectangle", (222, 235, 247)),
    "database": ("circle", (198, 219, 239)),
    "picture": ("rectangle", (255, 237, 160)),
    "chart": ("rectangle", (229, 245, 224)),
    "function": ("round rectangle", (255, 255, 255)),
    "process": ("round rectangle", (253, 208, 162)),
    "model": ("round rectangle", (188, 189, 220)),
}
DATA_TYPES = {"data", "database", "picture", "chart"}


@dataclass(frozen=True)
class Step:
    label: str
    kind: str
    targets: tuple[int, ...] = ()  # indices into the step list


def _depths(steps: list[Step]) -> list[int]:
    """Longest-path layer of each step (a DAG: targets point forwards)."""
    depth = [0] * len(steps)
    for i, step in enumerate(steps):
        for t in step.targets:
            depth[t] = max(depth[t], depth[i] + 1)
    return depth


def flowchart(steps: list[Step]) -> Diagram:
    """A left-to-right layered drawing; arrows for flow, dashed lines between two data nodes."""
    depth = _depths(steps)
    columns = max(depth) + 1
    xs = _columns(columns)
    per_column = [[i for i in range(len(steps)) if depth[i] == c] for c in range(columns)]
    tallest = max(len(c) for c in per_column)
    step_y = min(160.0, (CANVAS_HEIGHT - 2 * MARGIN_Y) / max(tallest, 1))
    gap = xs[1] - xs[0] if len(xs) > 1 else CANVAS_WIDTH / 2
    width = int(max(8, min(150, gap * 0.7)))
    height = int(max(8, min(70, step_y * 0.6)))
    position = {}
    for c, members in enumerate(per_column):
        for i, y in zip(members, _centred(len(members), CANVAS_HEIGHT / 2, step_y)):
            position[i] = (round(xs[c]), round(y))
    nodes = []
    for i, step in enumerate(steps):
        shape, fill = NODE_TYPES[step.kind]
        w, h = (min(height + 10, width),) * 2 if shape == "circle" else (width, height)
        dashed = step.kind in DATA_TYPES and all(steps[t].kind in DATA_TYPES for t in step.targets) and step.targets
        style = "dashed line" if dashed else "solid arrow"
        x, y = position[i]
        nodes.append(Node(i + 1, x, y, shape, w, h, style, fill, DARK, tuple(t + 1 for t in step.targets), step.label))
    return Diagram(tuple(nodes))
