"""Does a diagram draw exactly what the request asked for? (exact-structure checks per family)

- dense: node count per layer (a cut layer by its ellipsis label), and full wiring between
  consecutive layers (nothing else);
- cnn: one box per layer, chained in order, labelled as asked;
- flowchart: the asked nodes (by label) and edges, no more, no fewer.

An expected label may be a list of equally right forms (hand-written cases: "Dropout 0.5" or
"드롭아웃 0.5"). Labels compare without case, spacing or surrounding punctuation.
`shape_ok` checks the structure alone (labels ignored), so that an evaluation can tell a wrong
graph from a right graph with wrong names.
"""

from __future__ import annotations

from collections import Counter

from ml.dense import layer_sizes, neurons
from ml.diagram import Diagram, label_key
from ml.geometry import layers_by


def dense_ok(diagram: Diagram, layers: list[int]) -> bool:
    """Layer sizes as asked (a cut layer by its ellipsis label) and every neuron wired to the next layer's."""
    index = diagram.by_id()
    for axis in ("x", "y"):
        if layer_sizes(diagram, axis) != list(layers):
            continue
        columns = layers_by(diagram, axis)
        groups = [neurons(diagram, column) for column in columns]
        wired = all(
            set(index[nid].targets) == (set(groups[i + 1]) if i + 1 < len(groups) else set())
            and len(index[nid].targets) == len(set(index[nid].targets))
            for i, group in enumerate(groups)
            for nid in group
        )
        cut_layers_bare = all(
            not index[nid].targets for column, group in zip(columns, groups) for nid in set(column) - set(group)
        )
        if wired and cut_layers_bare:
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
    path: list[int] = []
    current: int | None = starts[0]
    while current is not None and current not in path:
        path.append(current)
        targets = index[current].targets
        current = targets[0] if targets else None
    return path if len(path) == len(diagram.nodes) else None


def _norm(label: str | None) -> str:
    return label_key(label).strip(" .,;:!?'\"`")


def label_matches(drawn: str | None, expected: str | list[str]) -> bool:
    """Whether a drawn label is the expected one (or one of its accepted forms)."""
    forms = [expected] if isinstance(expected, str) else expected
    return _norm(drawn) in {_norm(form) for form in forms}


def cnn_ok(diagram: Diagram, labels: list) -> bool:
    path = _chain(diagram)
    if path is None or len(path) != len(labels):
        return False
    index = diagram.by_id()
    return all(label_matches(index[nid].label, label) for nid, label in zip(path, labels))


def _assign(diagram: Diagram, names: list) -> dict[int, int] | None:
    """Node id -> index of the expected name it draws, one to one; None if any node matches none."""
    assigned: dict[int, int] = {}
    free = set(range(len(names)))
    for node in diagram.nodes:
        match = next((i for i in sorted(free) if label_matches(node.label, names[i])), None)
        if match is None:
            return None
        assigned[node.id] = match
        free.discard(match)
    return assigned if not free else None


def _edge_names(edges: list, names: list) -> list[tuple[int, int]]:
    def find(name) -> int:
        return next(
            i for i, n in enumerate(names) if n == name or label_matches(name if isinstance(name, str) else name[0], n)
        )

    return sorted((find(a), find(b)) for a, b in edges)


def flowchart_ok(diagram: Diagram, nodes: list[list], edges: list[list]) -> bool:
    names = [node[0] for node in nodes]
    assigned = _assign(diagram, names)
    if assigned is None:
        return False
    drawn = sorted((assigned[n.id], assigned[t]) for n in diagram.nodes for t in n.targets if t in assigned)
    return drawn == _edge_names(edges, names)


def _degrees(diagram: Diagram) -> Counter:
    incoming = Counter(t for n in diagram.nodes for t in n.targets)
    return Counter((incoming[n.id], len(n.targets)) for n in diagram.nodes)


def shape_ok(diagram: Diagram, family: str, spec: dict) -> bool:
    """The asked structure with labels ignored: layer sizes, a chain of the right length, or a graph
    with the same node count, edges and in/out degrees (flowcharts: an isomorphism test would
    be exact; degrees tell apart every shape the sets ask for)."""
    if family == "dense":
        return dense_ok(diagram, spec["layers"])
    if family == "cnn":
        path = _chain(diagram)
        return path is not None and len(path) == len(spec["labels"])
    if family == "flowchart":
        expected: Counter[tuple[int, int]] = Counter()
        index = {node[0] if isinstance(node[0], str) else node[0][0]: i for i, node in enumerate(spec["nodes"])}
        incoming = Counter(index[b] for _, b in spec["edges"])
        outgoing = Counter(index[a] for a, _ in spec["edges"])
        for i in range(len(spec["nodes"])):
            expected[(incoming[i], outgoing[i])] += 1
        edges = sum(len(n.targets) for n in diagram.nodes)
        return (
            len(diagram.nodes) == len(spec["nodes"]) and edges == len(spec["edges"]) and _degrees(diagram) == expected
        )
    raise ValueError(f"unknown family {family!r}")


def structure_ok(diagram: Diagram, family: str, spec: dict) -> bool:
    if family == "dense":
        return dense_ok(diagram, spec["layers"])
    if family == "cnn":
        return cnn_ok(diagram, spec["labels"])
    if family == "flowchart":
        return flowchart_ok(diagram, spec["nodes"], spec["edges"])
    raise ValueError(f"unknown family {family!r}")


FAILURES = ("copy slip", "segmentation", "count", "dropped step", "extra step", "wrong edge", "other")


def _close(a: str, b: str) -> bool:
    """Two names one slip apart: a letter swapped, dropped, added or changed."""
    a, b = _norm(a), _norm(b)
    if abs(len(a) - len(b)) > 2 or a == b:
        return False
    from difflib import SequenceMatcher

    return SequenceMatcher(None, a, b).ratio() >= 0.8


def _overlaps(a: str, b: str) -> bool:
    """One name is a piece of the other: cut in the wrong place ("route to" for "route to team channels")."""
    a, b = _norm(a), _norm(b)
    return a != b and bool(a) and bool(b) and (a in b or b in a)


def failure(diagram: Diagram, family: str, spec: dict) -> str | None:
    """Why a diagram is not the one asked for, as one of FAILURES; None when it is right.

    dense: fewer layers (dropped step), more (extra step), or a size misread (count). CNN and
    flowchart: fewer or more nodes than asked; else a name near the asked one (copy slip) or
    overlapping it (segmentation); else the names are right and an edge is not (wrong edge).
    """
    if structure_ok(diagram, family, spec):
        return None
    if family == "dense":
        sizes = layer_sizes(diagram, "x")
        wanted = list(spec["layers"])
        return "dropped step" if len(sizes) < len(wanted) else "extra step" if len(sizes) > len(wanted) else "count"
    if family == "cnn":
        path = _chain(diagram)
        wanted = spec["labels"]
        if path is None:
            return "wrong edge"
        drawn = [diagram.by_id()[nid].label or "" for nid in path]
        expected = [w if isinstance(w, str) else w[0] for w in wanted]
    else:
        drawn = [n.label or "" for n in diagram.nodes]
        expected = [n[0] if isinstance(n[0], str) else n[0][0] for n in spec["nodes"]]
    if len(drawn) < len(expected):
        return "dropped step"
    if len(drawn) > len(expected):
        return "extra step"
    missing = [e for e in expected if not any(label_matches(d, e) for d in drawn)]
    if not missing:
        return "wrong edge"
    if any(_overlaps(d, e) for e in missing for d in drawn):
        return "segmentation"
    if any(_close(d, e) for e in missing for d in drawn):
        return "copy slip"
    if family == "cnn" and any(e.split()[:1] == d.split()[:1] for e in missing for d in drawn):
        return "count"  # "Conv 3x3, 32" drawn as "Conv 3x3, 23": the layer right, its number not
    return "other"
