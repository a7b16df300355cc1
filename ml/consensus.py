"""Agreement between candidates: the share of candidates that draw the same structure.

Sampling several candidates and keeping the answer most of them agree on (self-consistency) is a
cheap guard against a small model's slips: when 6 of 8 candidates draw 3 -> 5 -> 2 and one draws
3 -> 4 -> 2, the six are far more likely to be what was asked. The structure is what the diagram
connects, not where it puts things or how it draws them: nodes are keyed by label and column
(left-to-right order of their x positions), and the signature is the multiset of nodes and of
edges between keys. Shapes are left out like colours: the same CNN drawn with rectangles by ten
samples and with rounded boxes by six is one structure with sixteen votes, not a 10-6 split that
would keep every rounded drawing out of the equally right candidates a user's taste chooses from
(the structure checks in training/structure.py ignore shapes too).
"""

from __future__ import annotations

from collections import Counter

from ml.diagram import Diagram, label_key
from ml.geometry import layers_by


def signature(diagram: Diagram) -> tuple:
    """A hashable summary of what the diagram connects (independent of ids, sizes, shapes and colours)."""
    column = {nid: index for index, layer in enumerate(layers_by(diagram, "x")) for nid in layer}
    key = {n.id: (label_key(n.label), column[n.id]) for n in diagram.nodes}
    nodes = tuple(sorted(Counter(key.values()).items()))
    edges = tuple(sorted(Counter((key[n.id], key[t]) for n in diagram.nodes for t in n.targets).items()))
    return nodes, edges


def agreement(diagrams: list[Diagram]) -> list[float]:
    """For each diagram, the share of all the diagrams (itself included) with the same signature."""
    signatures = [signature(d) for d in diagrams]
    counts = Counter(signatures)
    return [counts[s] / len(diagrams) for s in signatures]
