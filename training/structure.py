"""Does a diagram draw exactly what the request asked for? (exact-structure checks per family)

- dense: node count per layer, and full wiring between consecutive layers (nothing else);
- cnn: one box per layer, chained in order, labelled as asked;
- flowchart: the asked nodes (by label) and edges, no more, no fewer.
"""

from __future__ import annotations

from ml.diagram import Diagram, label_key
from ml.geometry import layers_by


def dense_ok(diagram: Diagram, layers: list[int]) -> bool:
    index = diagram.by_id()
    for axis in ("x", "y"):
        groups = layers_by(diagram, axis)
        if [len(g) for g in groups] != list(layers):
            continue
        wired = True
        for i, group in enumerate(groups):
            expected = set(groups[i + 1]) if i + 1 < len(groups) else set()
            for nid in group:
                targets = index[nid].targets
                if set(targets) != expected or len(targets) != len(expected):
                    wired = False
        if wired:
            return True
    return False


def _chain(diagram: Diagram) -> list[int] | None:
    """Node ids along a single path through every node, or None if the edges are not one chain."""
    index = diagram.by_id()
    incoming = {n.id: 0 for n in diagram.nodes}
    for node in diagram.nodes:
        if len(node.targets) > 1:
            return None
        for t in node.targets:
            incoming[t] += 1
    starts = [nid for nid, count in incoming.items() if count == 0]
    if len(starts) != 1 or any(count > 1 for count in incoming.values()):
        return None
    path, current = [], starts[0]
    while current is not None and current not in path:
        path.append(current)
        targets = index[current].targets
        current = targets[0] if targets else None
    return path if len(path) == len(diagram.nodes) else None


def cnn_ok(diagram: Diagram, labels: list[str]) -> bool:
    path = _chain(diagram)
    if path is None:
        return False
    index = diagram.by_id()
    return [label_key(index[nid].label) for nid in path] == [label_key(label) for label in labels]


def flowchart_ok(diagram: Diagram, nodes: list[list[str]], edges: list[list[str]]) -> bool:
    labels = [label_key(n.label) for n in diagram.nodes]
    if sorted(labels) != sorted(label_key(label) for label, _ in nodes):
        return False
    index = diagram.by_id()
    drawn = sorted((label_key(n.label), label_key(index[t].label)) for n in diagram.nodes for t in n.targets)
    return drawn == sorted((label_key(a), label_key(b)) for a, b in edges)


def structure_ok(diagram: Diagram, family: str, spec: dict) -> bool:
    if family == "dense":
        return dense_ok(diagram, spec["layers"])
    if family == "cnn":
        return cnn_ok(diagram, spec["labels"])
    if family == "flowchart":
        return flowchart_ok(diagram, spec["nodes"], spec["edges"])
    raise ValueError(f"unknown family {family!r}")
