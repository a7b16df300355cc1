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
from dataclasses import dataclass
from functools import lru_cache

import regex

from ml.dense import is_ellipsis_id
from ml.diagram import label_key
from ml.node_syntax import LABEL, NODE_FIELDS

LAYERS_PREFIX = "# layers: "
NODES_PREFIX = "# nodes: "
_ID = r"\d{1,5}"
_JSON_STRING = r'"(?:[^"\\\n]|\\.)*"'
_LAYERS = regex.compile(rf"\[({_ID}(?:, {_ID})*)\](?:, |$)")
_ITEM = regex.compile(rf"\[({_ID})((?:, {_JSON_STRING})+)\]")
_FIELD = regex.compile(_JSON_STRING)
_NAME = regex.compile(rf"\[{_ID}, ({_JSON_STRING})")


@dataclass(frozen=True)
class PlannedNode:
    id: int
    targets: tuple[int, ...] | None = None  # None: the plan leaves the edges to the list
    label: str | None = None  # None: the plan holds no label


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
    """A node's label field: the planned one exactly, or (none planned, or not writable) any or none."""
    if label is not None:
        written = json.dumps(label, ensure_ascii=False)
        if regex.fullmatch(LABEL, written):
            return ", " + regex.escape(written)
    return f"(?:, {LABEL})?"


@lru_cache(maxsize=64)
def node_patterns(line: str) -> tuple[regex.Pattern, ...] | None:
    """One pattern per planned node: the node line the plan allows at that place in the list."""
    plan = read_plan(line)
    if plan is None:
        return None
    known = "(?:" + "|".join(str(n.id) for n in plan) + ")"
    patterns = []
    for node in plan:
        targets = (
            regex.escape("[" + ", ".join(map(str, node.targets)) + "]")
            if node.targets is not None
            else rf"\[(?:{known}(?:, {known})*)?\]"
        )
        patterns.append(regex.compile(rf"\[{node.id}, {NODE_FIELDS}, {targets}{_label_pattern(node.label)}\]"))
    return tuple(patterns)
