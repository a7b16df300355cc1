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
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
FLOOR = 0.02          # a zero metric counts as this in the geometric mean
MIN_GAP_PX = 20.0     # node spacing that counts as comfortable
ALIGN_TOLERANCE_PX = 3.0
MIRROR_TOLERANCE_PX = 50.0
VISIBLE_CONTRAST = 3.0
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


def _pairwise_overlap(boxes: np.ndarray) -> np.ndarray:
    l, t, r, b = boxes.T
    w = np.clip(np.minimum(r[:, None], r[None, :]) - np.maximum(l[:, None], l[None, :]), 0, None)
    h = np.clip(np.minimum(b[:, None], b[None, :]) - np.maximum(t[:, None], t[None, :]), 0, None)
    return w * h


def node_overlap(boxes: np.ndarray) -> float:
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inter = _pairwise_overlap(boxes)
    overlap = np.triu(inter, 1).sum()
    return float(max(0.0, 1 - 2 * overlap / max(areas.sum(), 1e-9)))


def inside_canvas(boxes: np.ndarray) -> float:
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    w = np.clip(np.minimum(boxes[:, 2], CANVAS_WIDTH) - np.maximum(boxes[:, 0], 0), 0, None)
    h = np.clip(np.minimum(boxes[:, 3], CANVAS_HEIGHT) - np.maximum(boxes[:, 1], 0), 0, None)
    return float((w * h).sum() / max(areas.sum(), 1e-9))


def spacing(boxes: np.ndarray) -> float:
    if len(boxes) < 2:
        return 1.0
    l, t, r, b = boxes.T
    gap_x = np.clip(np.maximum(l[:, None], l[None, :]) - np.minimum(r[:, None], r[None, :]), 0, None)
    gap_y = np.clip(np.maximum(t[:, None], t[None, :]) - np.minimum(b[:, None], b[None, :]), 0, None)
    gap = np.hypot(gap_x, gap_y)
    np.fill_diagonal(gap, np.inf)
    return float(np.minimum(gap.min(axis=1) / MIN_GAP_PX, 1.0).mean())


def _edge_arrays(diagram: Diagram) -> tuple[np.ndarray, np.ndarray]:
    """Edge index pairs (m, 2) into diagram.nodes, and their centre-to-centre segments (m, 4)."""
    index = {n.id: i for i, n in enumerate(diagram.nodes)}
    pairs = [(index[e.source.id], index[e.target.id]) for e in diagram.edges()]
    pairs_arr = np.asarray(pairs, dtype=int).reshape(-1, 2)
    centres = np.asarray([(n.x, n.y) for n in diagram.nodes], dtype=float).reshape(-1, 2)
    segments = np.concatenate([centres[pairs_arr[:, 0]], centres[pairs_arr[:, 1]]], axis=1)
    return pairs_arr, segments


def _orientation(ax, ay, bx, by, cx, cy):
    return np.sign((bx - ax) * (cy - ay) - (by - ay) * (cx - ax))


def edge_crossings(pairs: np.ndarray, segments: np.ndarray, n_nodes: int) -> float:
    m = len(pairs)
    if m < 2:
        return 1.0
    x1, y1, x2, y2 = (segments[:, i] for i in range(4))
    o1 = _orientation(x1[:, None], y1[:, None], x2[:, None], y2[:, None], x1[None, :], y1[None, :])
    o2 = _orientation(x1[:, None], y1[:, None], x2[:, None], y2[:, None], x2[None, :], y2[None, :])
    o3 = _orientation(x1[None, :], y1[None, :], x2[None, :], y2[None, :], x1[:, None], y1[:, None])
    o4 = _orientation(x1[None, :], y1[None, :], x2[None, :], y2[None, :], x2[:, None], y2[:, None])
    crossing = (o1 * o2 < 0) & (o3 * o4 < 0)
    a, b = pairs[:, 0], pairs[:, 1]
    share = ((a[:, None] == a[None, :]) | (a[:, None] == b[None, :]) |
             (b[:, None] == a[None, :]) | (b[:, None] == b[None, :]))
    independent = np.triu(~share, 1)
    c_max = int(independent.sum())
    if c_max == 0:
        return 1.0
    return float(1 - (crossing & independent).sum() / c_max)


def edge_clearance(pairs: np.ndarray, segments: np.ndarray, boxes: np.ndarray) -> float:
    """Share of edges whose segment misses every node box but its endpoints' (Liang-Barsky clipping)."""
    m, n = len(pairs), len(boxes)
    if m == 0:
        return 1.0
    # Shrink boxes a little so that an edge grazing a corner does not count as passing through.
    inset = np.minimum((boxes[:, 2] - boxes[:, 0]), (boxes[:, 3] - boxes[:, 1])) * 0.05
    l, t = boxes[:, 0] + inset, boxes[:, 1] + inset
    r, b = boxes[:, 2] - inset, boxes[:, 3] - inset
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
    return float(1 - hit.any(axis=1).mean())


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
    close_x = np.abs(xy[:, None, 0] - xy[None, :, 0]) <= ALIGN_TOLERANCE_PX
    close_y = np.abs(xy[:, None, 1] - xy[None, :, 1]) <= ALIGN_TOLERANCE_PX
    shared = close_x | close_y
    np.fill_diagonal(shared, False)
    return float(shared.any(axis=1).mean())


def symmetry(diagram: Diagram) -> float:
    xy = np.asarray([(n.x, n.y) for n in diagram.nodes], dtype=float)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    centre = (lo + hi) / 2
    best = 0.0
    for axis in (0, 1):
        mirrored = xy.copy()
        mirrored[:, axis] = 2 * centre[axis] - mirrored[:, axis]
        nearest = np.hypot(*(xy[:, None, :] - mirrored[None, :, :]).transpose(2, 0, 1)).min(axis=1)
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
