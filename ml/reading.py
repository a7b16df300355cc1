"""What a diagram was understood to draw, in words a user checks at a glance.

The plan line says which kind of diagram the model read the request as (layer sizes, CNN layers,
named steps); the drawn list says the rest (a cut layer's size, every edge). Show spec opens with
this, so that a user who sees a wrong reading corrects the request with Remix in one edit.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.dense import layer_sizes
from ml.diagram import Diagram
from ml.plan import LAYERS_PREFIX, NODES_PREFIX, read_plan

MAX_ITEMS = 24  # longer readings are cut with an ellipsis (Discord messages are short)


@dataclass(frozen=True)
class Reading:
    family: str  # dense | cnn | flowchart
    items: tuple[str, ...]  # layer sizes, CNN layers, or step names, in order
    edges: tuple[tuple[str, str], ...] = ()  # flowcharts: (from, to) by name


def _label(diagram: Diagram, node_id: int) -> str:
    node = diagram.by_id().get(node_id)
    return (node.label or str(node_id)).strip() if node else str(node_id)


def read(model_text: str, diagram: Diagram) -> Reading | None:
    """The reading behind a candidate, or None when its text has no plan line (nothing to show)."""
    line = model_text.split("\n", 1)[0]
    plan = read_plan(line)
    if plan is None:
        return None
    if line.startswith(LAYERS_PREFIX):
        return Reading("dense", tuple(str(size) for size in layer_sizes(diagram))[:MAX_ITEMS])
    if line.startswith(NODES_PREFIX) and all(node.label is not None for node in plan):
        return Reading("cnn", tuple(_label(diagram, node.id) for node in plan)[:MAX_ITEMS])
    steps = tuple(_label(diagram, node.id) for node in plan)[:MAX_ITEMS]
    edges = tuple(
        (_label(diagram, node.id), _label(diagram, target)) for node in diagram.nodes for target in node.targets
    )[:MAX_ITEMS]
    return Reading("flowchart", steps, edges)
