"""Style features of a diagram, read off its node list: what a user's taste can be about.

The autoencoder's latent is trained to reconstruct the picture, and a 32-d summary of a whole
canvas keeps the layout and the big colour areas but hardly an arrowhead or a dash (a linear probe
on it, bench/taste.py `probe`, recovers line style and shape little better than guessing). These
features name what a user sees and may like or dislike, each on 0-1:

- shape: the shares of circles, rectangles and rounded rectangles;
- lines: the shares of edges drawn as arrows, plain lines and dashed lines (nodes' own style when
  there are no edges), and how dark and how coloured the lines are;
- fill: warmth (red/orange/yellow against blue/purple), lightness, saturation, and the shares of
  warm, green, cool and neutral (grey/white) fills and whether each appears at all (which hues a
  palette has tells palettes apart whatever the share of each role's nodes);
- layout: how much the drawing spreads and flows left to right rather than top to bottom;
- size: node size, the share of the canvas the nodes cover, how many nodes;
- labels: the share of labelled nodes and their length.

They need only the Diagram, so a rated candidate's features come from the node list storage keeps.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence

import numpy as np

from ml.diagram import CANVAS_HEIGHT, CANVAS_WIDTH, Diagram

NAMES = (
    "shape_circle",
    "shape_rectangle",
    "shape_round",
    "line_arrow",
    "line_plain",
    "line_dashed",
    "line_dark",
    "line_coloured",
    "fill_warmth",
    "fill_light",
    "fill_saturation",
    "fill_warm",
    "fill_green",
    "fill_cool",
    "fill_neutral",
    "any_warm",
    "any_green",
    "any_cool",
    "any_neutral",
    "spread_horizontal",
    "flow_horizontal",
    "node_size",
    "coverage",
    "node_count",
    "labelled",
    "label_length",
)
SIZE = len(NAMES)


def hue_group(colour: Sequence[int]) -> str:
    """ "warm" (red, orange, yellow, pink), "green", "cool" (cyan, blue, purple) or "neutral"."""
    r, g, b = (c / 255 for c in colour)
    hue, lightness, saturation = colorsys.rgb_to_hls(r, g, b)
    if saturation < 0.15 or max(r, g, b) - min(r, g, b) < 0.06:
        return "neutral"
    degrees = hue * 360
    if degrees < 70 or degrees >= 300:
        return "warm"
    if degrees < 165:
        return "green"
    return "cool"


def _share(values: Sequence[str], name: str) -> float:
    return sum(v == name for v in values) / len(values) if values else 0.0


def features(diagram: Diagram) -> np.ndarray:
    """The SIZE features of one diagram, in NAMES order (zeros for an empty one)."""
    nodes = diagram.nodes
    if not nodes:
        return np.zeros(SIZE, dtype=np.float32)
    shapes = [n.shape for n in nodes]
    edges = list(diagram.edges())
    styles = [e.style for e in edges] or [n.line_style for n in nodes]
    line_colours = [e.colour for e in edges] or [n.line_colour for n in nodes]
    fills = [n.fill for n in nodes]
    groups = [hue_group(f) for f in fills]

    def saturation(colour) -> float:
        return (max(colour) - min(colour)) / 255

    xs = np.array([n.x for n in nodes], dtype=np.float64)
    ys = np.array([n.y for n in nodes], dtype=np.float64)
    sx, sy = xs.std() / CANVAS_WIDTH, ys.std() / CANVAS_HEIGHT
    dx = sum(abs(e.target.x - e.source.x) for e in edges)
    dy = sum(abs(e.target.y - e.source.y) for e in edges)
    sides = [math.sqrt(max(n.width, 1) * max(n.height, 1)) for n in nodes]
    area = sum(n.width * n.height for n in nodes) / (CANVAS_WIDTH * CANVAS_HEIGHT)
    labels = [n.label for n in nodes if n.label]
    row = [
        _share(shapes, "circle"),
        _share(shapes, "rectangle"),
        _share(shapes, "round rectangle"),
        _share(styles, "solid arrow"),
        _share(styles, "solid line"),
        _share(styles, "dashed line"),
        1 - float(np.mean([sum(c) / 765 for c in line_colours])),
        float(np.mean([saturation(c) for c in line_colours])),
        0.5 + float(np.mean([(f[0] - f[2]) / 510 for f in fills])),
        float(np.mean([sum(f) / 765 for f in fills])),
        float(np.mean([saturation(f) for f in fills])),
        _share(groups, "warm"),
        _share(groups, "green"),
        _share(groups, "cool"),
        _share(groups, "neutral"),
        float("warm" in groups),
        float("green" in groups),
        float("cool" in groups),
        float("neutral" in groups),
        sx / (sx + sy) if sx + sy > 0 else 0.5,
        dx / (dx + dy) if dx + dy > 0 else 0.5,
        min(float(np.mean(sides)) / 200, 1.0),
        min(area, 1.0),
        min(math.log1p(len(nodes)) / math.log1p(40), 1.0),
        len(labels) / len(nodes),
        min(float(np.mean([len(label) for label in labels])) / 30, 1.0) if labels else 0.0,
    ]
    return np.asarray(row, dtype=np.float32)


def batch(diagrams: Sequence[Diagram]) -> np.ndarray:
    """(n, SIZE) features of several diagrams."""
    if not diagrams:
        return np.zeros((0, SIZE), dtype=np.float32)
    return np.stack([features(d) for d in diagrams])


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """How different two diagrams look (0 = same style), on their style features."""
    return float(np.abs(np.asarray(a) - np.asarray(b)).mean())
