"""The plan line, read back: what a node list promises to draw before it draws it.

A generator trained on plan-first answers writes one comment before the list:

    # layers: [101, 102], [201, 202, 203], [301]            (dense: each layer's node No.s; a
                                                            #  cut layer's ellipsis node is x00)
    # nodes: [1, "Input 28x28x1"][2, "Conv 3x3, 32"]...     (CNN: No. and label, in drawing order)
    # nodes: [1, "Raw CSV", "data"][2, "Train", "process"]  (flowchart: No., name and kind)

The plan is where the model reads the request; the list after it only has to copy. A small model
still slips while copying (writes "FC 256" twice after planning "FC 512", "FC 256"), so decoding
holds the list to its own plan (ml.grammar): the planned node No.s, in order, and no more; the
targets a dense plan implies; a CNN plan's labels; and every target a planned node.

A flowchart plan's names are not held in the list: the embedded model's list often mends a name
its plan got wrong (it reads the request again), so holding names cost more than it saved. What
holds is that a flowchart plan names each node once (repeats_a_name) and that any plan keeps one
item form (mixes_item_forms).

Copy-constrained decoding (strays_from_request, `[generator.sampling] copy_names`, off by default)
holds a plan's names to spans of the request as typed, or to a CNN's normalised layer labels. It
is for a model trained to copy names (training/names.py, training/tokenizer.py). With the shipped
tiny-v12, which never learned to copy, it made things worse: held inside a name it cannot spell,
the model ends the plan line early, and an unreadable plan constrains nothing after it.
A comment in any other form constrains nothing.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

import regex

from ml.dense import dense_ids, is_ellipsis_id
from ml.diagram import label_key
from ml.node_syntax import INT, LABEL, NODE_FIELDS

LAYERS_PREFIX = "# layers: "
NODES_PREFIX = "# nodes: "
_ID = r"\d{1,5}"
_JSON_STRING = r'"(?:[^"\\\n]|\\.)*"'
_LAYERS = regex.compile(rf"\[({_ID}(?:, {_ID})*)\](?:, |$)")
_ITEM = regex.compile(rf"\[({_ID})((?:, {_JSON_STRING})+)\]")
_FIELD = regex.compile(_JSON_STRING)
_NAME = regex.compile(rf"\[{_ID}, ({_JSON_STRING})")


LABEL_LEAD = " "  # the embedded model writes a name after a space, as it stands in the request (training/tokenizer.py)


def plan_line(family: str, spec: dict) -> str:
    """The answer's first line: a Python comment naming every node by its No., in drawing order.

    A small generator loses count when, while writing the k-th layer, it has to find the k-th size
    or name somewhere in the request. Writing the list once, next to the request, turns each later
    step into a lookup by node No. (dense layers are listed as the very target lists the nodes of
    the previous layer use). Parsers skip it as a comment; the grammar allows it as the first line.
    Training writes it from a spec; the planner's reading (ml.planner) is written the same way.
    """
    if family == "dense":
        return LAYERS_PREFIX + ", ".join(f"[{', '.join(map(str, ids))}]" for ids in dense_ids(spec["layers"]))
    fields = [[label] for label in spec["labels"]] if family == "cnn" else spec["nodes"]
    # Written like the node lines ('[2', ', " Conv 3x3, 64"'), so the tokens to copy are the same.
    return NODES_PREFIX + "".join(
        f"[{i}"
        + "".join(f", {json.dumps((LABEL_LEAD if j == 0 else '') + f, ensure_ascii=False)}" for j, f in enumerate(item))
        + "]"
        for i, item in enumerate(fields, 1)
    )


@dataclass(frozen=True)
class PlannedNode:
    id: int
    targets: tuple[int, ...] | None = None  # None: the plan leaves the edges to the list
    label: str | None = None  # None: the plan holds no label; "": the node has none (a neuron)
    placed: tuple[int, int, int] | None = None  # a cut layer's ellipsis: its column's node, the neurons around it
    column: int | None = None  # a neuron: the node whose x it shares (its layer's first)


def _scan(pattern: regex.Pattern, text: str) -> list[regex.Match] | None:
    """Consecutive matches covering all of `text`, or None if anything else is in between."""
    matches, at = [], 0
    while at < len(text):
        match = pattern.match(text, at)
        if match is None:
            return None
        matches.append(match)
        at = match.end()
    return matches


def _fields(match: regex.Match) -> list[str]:
    return [json.loads(f) for f in _FIELD.findall(match.group(2))]


def _layers(text: str) -> list[PlannedNode] | None:
    matches = _scan(_LAYERS, text)
    if not matches or text.endswith(", "):
        return None
    layers = [tuple(int(i) for i in m.group(1).split(", ")) for m in matches]
    wired = [tuple(nid for nid in layer if not is_ellipsis_id(nid)) for layer in layers]
    return [
        PlannedNode(nid, () if is_ellipsis_id(nid) or i + 1 == len(layers) else wired[i + 1])
        for i, layer in enumerate(layers)
        for nid in layer
    ]


def _nodes(text: str) -> list[PlannedNode] | None:
    """Label-only items (CNN layers) hold their label; name-and-kind items (flowcharts) do not."""
    matches = _scan(_ITEM, text)
    if not matches:
        return None
    items = [(int(m.group(1)), _fields(m)) for m in matches]
    return [PlannedNode(nid, label=fields[0] if len(fields) == 1 else None) for nid, fields in items]


@lru_cache(maxsize=256)
def read_plan(line: str) -> tuple[PlannedNode, ...] | None:
    """The nodes a plan line promises, in order; None when the line is not a plan (or contradicts itself)."""
    line = line.rstrip("\n")
    try:
        if line.startswith(LAYERS_PREFIX):
            nodes = _layers(line[len(LAYERS_PREFIX) :])
        elif line.startswith(NODES_PREFIX):
            nodes = _nodes(line[len(NODES_PREFIX) :])
        else:
            return None
    except ValueError:  # a field that is not valid JSON
        return None
    if not nodes or len({n.id for n in nodes}) != len(nodes):
        return None
    return tuple(nodes)


def repeats_a_name(partial_line: str) -> bool:
    """Whether an unfinished flowchart plan names a node twice.

    Flowchart nodes are known by name (edges connect names), so a second node of the same name
    is always a slip, usually the model re-reading a name the request mentions twice. Only plans
    whose first item is name-and-kind count: CNN plans repeat labels legitimately ("MaxPool 2x2").
    """
    first = _ITEM.match(partial_line, len(NODES_PREFIX)) if partial_line.startswith(NODES_PREFIX) else None
    if first is None or len(_FIELD.findall(first.group(2))) < 2:
        return False
    try:
        names = [label_key(json.loads(m.group(1))) for m in _NAME.finditer(partial_line, first.start())]
    except ValueError:
        return False
    return len(names) != len(set(names))


def mixes_item_forms(partial_line: str) -> bool:
    """Whether a "# nodes:" plan has items of different forms (label-only beside name-and-kind)."""
    if not partial_line.startswith(NODES_PREFIX):
        return False
    counts = {len(_FIELD.findall(m.group(2))) for m in _ITEM.finditer(partial_line, len(NODES_PREFIX))}
    return len(counts) > 1


_PARTIAL_NAME = regex.compile(r'\[\d{1,5}, "((?:[^"\\\n]|\\.)*)$')
_FIRST_NAMES = regex.compile(rf"\[{_ID}, ({_JSON_STRING})")
# A CNN plan's normalised layer labels (training.synthetic.cnn_layers): not spans of the request.
LAYER_LABEL = regex.compile(
    r"(?:Input \d{1,5}x\d{1,5}(?:x\d{1,5})?|Conv \d{1,2}x\d{1,2}, \d{1,5}|MaxPool 2x2"
    r"|FC \d{1,5}|Output \d{1,5})"
)


def _copied(name: str, request: str, whole: bool) -> bool:
    name = name.strip()
    return name in request or LAYER_LABEL.fullmatch(name, partial=not whole) is not None


def strays_from_request(partial_line: str, request: str) -> bool:
    """Whether a plan names a node with text that is neither a span of the request nor a layer label.

    A step's or layer's name is the user's text (training writes it verbatim), so a name that is
    not a piece of the request is made up or misspelt; a CNN plan's normalised labels ("Conv 3x3,
    32", "MaxPool 2x2") are the one exception. A copy keeps the request's case. A dense plan names
    nothing.
    """
    if not partial_line.startswith(NODES_PREFIX):
        return False
    try:
        names = [json.loads(m.group(1)) for m in _FIRST_NAMES.finditer(partial_line, len(NODES_PREFIX))]
    except ValueError:
        return True
    if any(not _copied(name, request, whole=True) for name in names):
        return True
    unfinished = _PARTIAL_NAME.search(partial_line, len(NODES_PREFIX))
    return unfinished is not None and not _copied(unfinished.group(1).replace('\\"', '"'), request, whole=False)


def plan_slips(partial_line: str) -> bool:
    """Whether an unfinished plan line has already gone wrong, whatever follows (see the checks above)."""
    return mixes_item_forms(partial_line) or repeats_a_name(partial_line)


def _label_pattern(label: str | None) -> str:
    """A node's label field: the planned one exactly, none ("" planned: a neuron), or (none planned,
    or not writable) any or none."""
    if label == "":
        return ""
    if label is not None:
        written = json.dumps(label, ensure_ascii=False)
        if regex.fullmatch(LABEL, written):
            return ", " + regex.escape(written)
    return f"(?:, {LABEL})?"


@lru_cache(maxsize=64)
def node_patterns(line: str) -> tuple[NodePattern, ...] | None:
    """One pattern per planned node: the node line the plan allows at that place in the list."""
    plan = read_plan(line)
    return None if plan is None else held_patterns(plan)


class PlacedPattern:
    """A cut layer's ellipsis box, placed from the neurons written before it (ml.dense's drawing):
    in its layer's column, between the neurons it stands for, as large as one, unframed.

    The shipped drawer predates the ellipsis rule, so the box is its last node and the grammar
    fills in its fields; the drawer writes every neuron, edge and style around it.
    """

    def __init__(self, node_id: int, label: str, column: int, above: int, below: int):
        self.node_id, self.label = node_id, label
        self.anchors = tuple(_anchor(a) for a in (column, above, below))

    def literal(self, text: str) -> str | None:
        """The node's whole line, from the neurons written in `text`; None while they are not."""
        found = [_geometry(anchor, text) for anchor in self.anchors]
        if any(g is None for g in found):
            return None
        column, above, below = typing.cast(list[tuple[int, ...]], found)
        return _placed(self.node_id, self.label, column[0], (above[1] + below[1]) // 2, column[2], column[3])

    def at(self, text: str) -> regex.Pattern:
        line = self.literal(text)
        return _NEVER if line is None else _literal(line)


@lru_cache(maxsize=256)
def _placed(node_id: int, label: str, x: int, y: int, width: int, height: int) -> str:
    written = json.dumps(label, ensure_ascii=False)
    return (
        f'[{node_id}, {x}, {y}, "rectangle", {width}, {height}, "solid line", '
        f"(255, 255, 255), (255, 255, 255), [], {written}]"
    )


class ColumnPattern:
    """A neuron after its layer's first: at the first one's x (a layer is a column), the rest free."""

    def __init__(self, template: str, first: int):
        self.template, self.first = template, _anchor(first)

    def at(self, text: str) -> regex.Pattern:
        first = _geometry(self.first, text)
        return _NEVER if first is None else _compiled(self.template.replace("{x}", str(first[0])))


def _anchor(node_id: int) -> regex.Pattern:
    """Finds a written node's line and reads its x, y, width and height."""
    return regex.compile(rf"(?m)^\[{node_id}, (-?\d+), (-?\d+), \"[^\"]*\", (-?\d+), (-?\d+), ")


def _geometry(anchor: regex.Pattern, text: str) -> tuple[int, ...] | None:
    """x, y, width and height of a node already written in `text`."""
    match = anchor.search(text)
    return tuple(int(v) for v in match.groups()) if match else None


@lru_cache(maxsize=256)
def _literal(text: str) -> regex.Pattern:
    return regex.compile(regex.escape(text))


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> regex.Pattern:
    return regex.compile(pattern)


_NEVER = regex.compile(r"(?!)")


NodePattern: TypeAlias = "regex.Pattern | PlacedPattern | ColumnPattern"


@lru_cache(maxsize=64)
def held_patterns(plan: tuple[PlannedNode, ...]) -> tuple[NodePattern, ...]:
    """One pattern per node of a plan (a plan line's, or the planner's with labels and edges held)."""
    known = "(?:" + "|".join(str(n.id) for n in plan) + ")"
    patterns: list[NodePattern] = []
    for node in plan:
        targets = (
            regex.escape("[" + ", ".join(map(str, node.targets)) + "]")
            if node.targets is not None
            else rf"\[(?:{known}(?:, {known})*)?\]"
        )
        if node.placed is not None:
            patterns.append(PlacedPattern(node.id, node.label or "", *node.placed))
            continue
        if node.column is not None:
            fields = "{x}" + NODE_FIELDS.removeprefix(INT)
            template = rf"\[{node.id}, {fields}, {targets}{_label_pattern(node.label)}\]"
            patterns.append(ColumnPattern(template, node.column))
            continue
        patterns.append(regex.compile(rf"\[{node.id}, {NODE_FIELDS}, {targets}{_label_pattern(node.label)}\]"))
    return tuple(patterns)
