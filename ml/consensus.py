"""Agreement between candidates: the share of candidates that draw the same structure.

Sampling several candidates and keeping the answer most of them agree on (self-consistency) is a
cheap guard against a small model's slips: when 6 of 8 candidates draw 3 -> 5 -> 2 and one draws
3 -> 4 -> 2, the six are far more likely to be what was asked. The structure is what the diagram
connects, not where it puts things: nodes are keyed by label, shape and column (left-to-right
order of their x positions), and the signature is the multiset of nodes and of edges between keys.
"""

from __future__ import annotations

from collections import Counter

from ml.diagram import Diagram

COLUMN_TOLERANCE_PX = 15


def _columns(diagram: Diagram) -> dict[int, int]:
    """Node id -> column index, grouping nodes whose x centres lie within the tolerance."""
    column, index, last = {}, -1, None
    for node in sorted(diagram.nodes, key=lambda n: n.x):
        if last is None or node.x - last > COLUMN_TOLERANCE_PX:
            index += 1
        column[node.id] = index
        last = node.x
    return column


def signature(diagram: Diagram) -> tuple:
    """A hashable summary of what the diagram connects (independent of ids, sizes and colours)."""
    column = _columns(diagram)
    key = {n.id: (" ".join((n.label or "").lower().split()), n.shape, column[n.id]) for n in diagram.nodes}
    nodes = tuple(sorted(Counter(key.values()).items()))
    edges = tuple(sorted(Counter((key[n.id], key[t]) for n in diagram.nodes for t in n.targets).items()))
    return nodes, edges


def agreement(diagrams: list[Diagram]) -> list[float]:
    """For each diagram, the share of all the diagrams (itself included) with the same signature."""
    signatures = [signature(d) for d in diagrams]
    counts = Counter(signatures)
    return [counts[s] / len(diagrams) for s in signatures]
