"""Analytic readability: how readable a diagram is, computed from its nodes, not learned.

Each metric is in [0, 1], 1 being best. The combined score (0-5) is a weighted geometric mean,
so one failed essential (nodes on top of each other, half the drawing off the canvas) pulls the
score down however good the rest is; an arithmetic mean would let a heap of overlapping nodes
score well on alignment and colour. This score teaches the CNN and picks ORPO pairs.

Metrics:
- node_overlap: 1 - 2 * (total pairwise overlap area) / (total node area).
- inside_canvas: share of node area inside the 1000x600 canvas.
- edge_crossings: 1 - c / c_max (Purchase 2002), c_max = all edge pairs that share no endpoint.
- edge_clearance: share of edges that pass through no node other than their own two.
- spacing: mean over nodes of min(1, gap to the nearest node / 20 px).
- contrast: shapes and lines against the background (WCAG ratio, 3:1 counts as fully visible).
- labels: labels legible inside their node (font >= 10 px, nothing cut off) in readable colours.
- alignment: share of nodes whose centre shares a row or column with another node.
- symmetry: how well the node centres mirror about the drawing's horizontal or vertical axis.

The pairwise metrics (every pair of nodes, of edges, every edge against every node) work through
their tables in blocks of at most CHUNK_CELLS cells, so memory stays proportional to the diagram
whatever its size; time grows with the pairs, which the parser bounds (ml.parser.MAX_NODES and
MAX_EDGES: a diagram at those bounds scores in a fraction of a second).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np

from ml.diagram import BACKGROUND, CANVAS_HEIGHT, CANVAS_WIDTH, Diagram
from ml.labels import LEGIBLE_FONT_PX, contrast_ratio, layout_label, text_colour
from ml.render import drawable

WEIGHTS = {
    "node_overlap": 3.0,
    "inside_canvas": 3.0,
    "edge_clearance": 2.0,
    "spacing": 1.5,
    "contrast": 1.5,
    "labels": 1.0,
    "edge_crossings": 1.0,
    "alignment": 1.0,
    "symmetry": 0.5,
}
FLOOR = 0.02  # a zero metric counts as this in the geometric mean
MIN_GAP_PX = 20.0  # node spacing that counts as comfortable
ALIGN_TOLERANCE_PX = 3.0
MIRROR_TOLERANCE_PX = 50.0
VISIBLE_CONTRAST = 3.0
# Cells per block of a pairwise table: 512 KB per float array. Up to 256 nodes a node table is one
# block, so sums come out exactly as from whole tables.
CHUNK_CELLS = 1 << 16
# An ellipse's box overstates its area; scale circle half-sizes so box area equals ellipse area.
_CIRCLE_BOX = float(np.sqrt(np.pi) / 2)


@dataclass
class Readability:
    score: float
    metrics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"score": round(self.score, 4), "metrics": {k: round(v, 4) for k, v in self.metrics.items()}}


def _boxes(diagram: Diagram) -> np.ndarray:
    """(n, 4) array of effective boxes left, top, right, bottom."""
    rows = []
    for n in diagram.nodes:
        f = _CIRCLE_BOX if n.shape == "circle" else 1.0
        hw, hh = n.width / 2 * f, n.height / 2 * f
        rows.append((n.x - hw, n.y - hh, n.x + hw, n.y + hh))
    return np.asarray(rows, dtype=float).reshape(-1, 4)


def _row_blocks(rows: int, columns: int):
    """Slices of rows that cut a rows x columns table into blocks of at most CHUNK_CELLS cells."""
    step = max(1, CHUNK_CELLS // max(columns, 1))
    for start in range(0, rows, step):
        yield slice(start, min(rows, start + step))


def _pairwise_overlap(some: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Overlap area of each of `some` boxes (rows) with each of `boxes` (columns)."""
    l, t, r, b = boxes.T
    sl, st, sr, sb = (v[:, None] for v in some.T)
    w = np.clip(np.minimum(sr, r[None, :]) - np.maximum(sl, l[None, :]), 0, None)
    h = np.clip(np.minimum(sb, b[None, :]) - np.maximum(st, t[None, :]), 0, None)
    return w * h


def node_overlap(boxes: np.ndarray) -> float:
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    overlap = 0.0
    for rows in _row_blocks(len(boxes), len(boxes)):
        # Each pair once: columns after the row's own node.
        overlap += np.triu(_pairwise_overlap(boxes[rows], boxes), 1 + rows.start).sum()
    return float(max(0.0, 1 - 2 * overlap / max(areas.sum(), 1e-9)))


def inside_canvas(boxes: np.ndarray) -> float:
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    w = np.clip(np.minimum(boxes[:, 2], CANVAS_WIDTH) - np.maximum(boxes[:, 0], 0), 0, None)
    h = np.clip(np.minimum(boxes[:, 3], CANVAS_HEIGHT) - np.maximum(boxes[:, 1], 0), 0, None)
    return float((w * h).sum() / max(areas.sum(), 1e-9))


def spacing(boxes: np.ndarray) -> float:
    n = len(boxes)
    if n < 2:
        return 1.0
    l, t, r, b = boxes.T
    nearest = np.empty(n)
    for rows in _row_blocks(n, n):
        sl, st, sr, sb = (v[rows, None] for v in (l, t, r, b))
        gap_x = np.clip(np.maximum(sl, l[None, :]) - np.minimum(sr, r[None, :]), 0, None)
        gap_y = np.clip(np.maximum(st, t[None, :]) - np.minimum(sb, b[None, :]), 0, None)
        gap = np.hypot(gap_x, gap_y)
        own = np.arange(rows.start, rows.stop)
        gap[own - rows.start, own] = np.inf
        nearest[rows] = gap.min(axis=1)
    return float(np.minimum(nearest / MIN_GAP_PX, 1.0).mean())


def _edge_arrays(diagram: Diagram) -> tuple[np.ndarray, np.ndarray]:
    """Edge index pairs (m, 2) into diagram.nodes, and their centre-to-centre segments (m, 4)."""
    index = {n.id: i for i, n in enumerate(diagram.nodes)}
    pairs = [(index[e.source.id], index[e.target.id]) for e in diagram.edges()]
    pairs_arr = np.asarray(pairs, dtype=int).reshape(-1, 2)
    centres = np.asarray([(n.x, n.y) for n in diagram.nodes], dtype=float).reshape(-1, 2)
    segments = np.concatenate([centres[pairs_arr[:, 0]], centres[pairs_arr[:, 1]]], axis=1)
    return pairs_arr, segments


def edge_crossings(pairs: np.ndarray, segments: np.ndarray, n_nodes: int) -> float:
    m = len(pairs)
    if m < 2:
        return 1.0
    x1, y1, x2, y2 = segments.T
    dx, dy = x2 - x1, y2 - y1
    # A point (x, y) lies left of, on or right of an edge's line as dx * y - dy * x is above, at or below
    # the edge's level. Centres are whole numbers within the drawing limits, so this is exact.
    level = dx * y1 - dy * x1

    def side(edges, x, y):
        return dx[edges] * y - dy[edges] * x - level[edges]

    crossings = c_max = 0
    for rows in _row_blocks(m, m):
        # Edges `rows` against themselves and every later edge; triu keeps each pair once.
        later = slice(rows.start, m)
        block, rest = (rows, None), (None, later)
        # Two segments cross when each one's ends lie strictly on both sides of the other's line.
        crossing = (side(block, x1[rest], y1[rest]) * side(block, x2[rest], y2[rest]) < 0) & (
            side(rest, x1[block], y1[block]) * side(rest, x2[block], y2[block]) < 0
        )
        a, b = pairs[rows, 0, None], pairs[rows, 1, None]
        c, d = pairs[None, later, 0], pairs[None, later, 1]
        share = (a == c) | (a == d) | (b == c) | (b == d)
        independent = np.triu(~share, 1)
        c_max += int(independent.sum())
        crossings += int((crossing & independent).sum())
    if c_max == 0:
        return 1.0
    return float(1 - crossings / c_max)


def edge_clearance(pairs: np.ndarray, segments: np.ndarray, boxes: np.ndarray) -> float:
    """Share of edges whose segment misses every node box but its endpoints' (Liang-Barsky clipping)."""
    m = len(pairs)
    if m == 0:
        return 1.0
    # Shrink boxes a little so that an edge grazing a corner does not count as passing through.
    inset = np.minimum((boxes[:, 2] - boxes[:, 0]), (boxes[:, 3] - boxes[:, 1])) * 0.05
    l, t, r, b = boxes.T
    inner = np.stack([l + inset, t + inset, r - inset, b - inset], axis=1)
    blocked = 0
    for rows in _row_blocks(m, len(boxes)):
        blocked += int(_blocked(pairs[rows], segments[rows], inner).sum())
    return float(1 - blocked / m)


def _blocked(pairs: np.ndarray, segments: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """For each edge, whether its segment crosses a box of `inner` other than its endpoints'."""
    m, n = len(pairs), len(inner)
    l, t, r, b = inner.T
    x1, y1 = segments[:, 0:1], segments[:, 1:2]
    dx, dy = segments[:, 2:3] - x1, segments[:, 3:4] - y1
    t0, t1 = np.zeros((m, n)), np.ones((m, n))
    inside = np.ones((m, n), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for p, q in ((-dx, x1 - l), (dx, r - x1), (-dy, y1 - t), (dy, b - y1)):
            p = np.broadcast_to(p, (m, n))
            q = np.broadcast_to(q, (m, n))
            ratio = q / p
            parallel = p == 0
            inside &= ~(parallel & (q < 0))
            t0 = np.where(~parallel & (p < 0), np.maximum(t0, ratio), t0)
            t1 = np.where(~parallel & (p > 0), np.minimum(t1, ratio), t1)
    hit = inside & (t0 < t1)
    hit[np.arange(m), pairs[:, 0]] = False
    hit[np.arange(m), pairs[:, 1]] = False
    return cast(np.ndarray, hit.any(axis=1))  # `hit` is 2-D, so this is an array (the stubs allow a scalar)


def _visible(ratio: float) -> float:
    return min(1.0, (ratio - 1) / (VISIBLE_CONTRAST - 1))


def contrast(diagram: Diagram) -> float:
    scores = []
    for node in diagram.nodes:
        shape = max(contrast_ratio(node.fill, BACKGROUND), contrast_ratio(node.line_colour, BACKGROUND))
        scores.append(_visible(shape))
        if node.targets:
            scores.append(_visible(contrast_ratio(node.line_colour, BACKGROUND)))
    return float(np.mean(scores)) if scores else 1.0


def labels(diagram: Diagram) -> float | None:
    """None when no node has a label (the metric then does not count)."""
    scores = []
    for node in diagram.nodes:
        layout = layout_label(node)
        if layout is None:
            continue
        size = min(1.0, layout.size / LEGIBLE_FONT_PX)
        ink = min(1.0, contrast_ratio(text_colour(node.fill), node.fill) / 4.5)
        scores.append(min(size, ink) * (0.5 if layout.truncated else 1.0))
    return float(np.mean(scores)) if scores else None


def alignment(diagram: Diagram) -> float:
    if len(diagram.nodes) < 2:
        return 1.0
    xy = np.asarray([(n.x, n.y) for n in diagram.nodes], dtype=float)
    aligned = np.empty(len(xy), dtype=bool)
    for rows in _row_blocks(len(xy), len(xy)):
        close_x = np.abs(xy[rows, None, 0] - xy[None, :, 0]) <= ALIGN_TOLERANCE_PX
        close_y = np.abs(xy[rows, None, 1] - xy[None, :, 1]) <= ALIGN_TOLERANCE_PX
        shared = close_x | close_y
        own = np.arange(rows.start, rows.stop)
        shared[own - rows.start, own] = False
        aligned[rows] = shared.any(axis=1)
    return float(aligned.mean())


def symmetry(diagram: Diagram) -> float:
    xy = np.asarray([(n.x, n.y) for n in diagram.nodes], dtype=float)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    centre = (lo + hi) / 2
    best = 0.0
    for axis in (0, 1):
        mirrored = xy.copy()
        mirrored[:, axis] = 2 * centre[axis] - mirrored[:, axis]
        nearest = np.empty(len(xy))
        for rows in _row_blocks(len(xy), len(xy)):
            offsets = xy[rows, None, :] - mirrored[None, :, :]
            nearest[rows] = np.hypot(offsets[..., 0], offsets[..., 1]).min(axis=1)
        best = max(best, float(np.clip(1 - nearest / MIRROR_TOLERANCE_PX, 0, 1).mean()))
    return best


def combine(metrics: dict[str, float]) -> float:
    """Weighted geometric mean of the metrics, scaled to 0-5."""
    total = sum(WEIGHTS[k] for k in metrics)
    log_sum = sum(WEIGHTS[k] * np.log(max(v, FLOOR)) for k, v in metrics.items())
    return float(5 * np.exp(log_sum / total))


def readability(diagram: Diagram) -> Readability:
    """Every metric and the combined 0-5 score; an empty diagram scores 0."""
    if not diagram.nodes:
        return Readability(0.0, {k: 0.0 for k in WEIGHTS if k != "labels"})
    diagram = drawable(diagram)
    boxes = _boxes(diagram)
    pairs, segments = _edge_arrays(diagram)
    metrics = {
        "node_overlap": node_overlap(boxes),
        "inside_canvas": inside_canvas(boxes),
        "edge_clearance": edge_clearance(pairs, segments, boxes),
        "spacing": spacing(boxes),
        "contrast": contrast(diagram),
        "edge_crossings": edge_crossings(pairs, segments, len(diagram.nodes)),
        "alignment": alignment(diagram),
        "symmetry": symmetry(diagram),
    }
    label_score = labels(diagram)
    if label_score is not None:
        metrics["labels"] = label_score
    return Readability(combine(metrics), metrics)
