"""Dense networks drawn neuron by neuron, and layers too large for that.

A layer of more than MAX_FULL_LAYER neurons is drawn as a few neurons and, between them, an
unframed box labelled with an ellipsis and the layer's size ("… 784"), as NN-SVG draws them. The
box's node No. is 100 x the layer's index (100, 200, ...), and it has no edges. Reading a
drawing's layer sizes (structure checks, grounding) counts such a layer by its label.
"""

from __future__ import annotations

import re

from ml.diagram import Diagram
from ml.geometry import layers_by

ID_STRIDE = 100
MAX_FULL_LAYER = 10
SHOWN_TOP, SHOWN_BOTTOM = 3, 2  # the neurons kept of a layer too large to draw
_SIZE = re.compile(r"\d+")


def is_ellipsis_id(node_id: int) -> bool:
    return node_id > 0 and node_id % ID_STRIDE == 0


def ellipsis_label(size: int) -> str:
    return f"\u2026 {size}"


def ellipsis_size(label: str | None) -> int | None:
    """The size an ellipsis node's label states, or None if it is not one ("… 784" -> 784)."""
    if not label or not label.startswith("\u2026"):
        return None
    match = _SIZE.search(label)
    return int(match.group()) if match else None


def layer_sizes(diagram: Diagram, axis: str = "x") -> list[int]:
    """Each layer's neuron count along the axis; a layer with an ellipsis node counts as its label says."""
    index = diagram.by_id()
    sizes = []
    for layer in layers_by(diagram, axis):
        from_labels = [ellipsis_size(index[nid].label) for nid in layer]
        stated = [s for s in from_labels if s is not None]
        sizes.append(stated[0] if len(stated) == 1 else len(layer))
    return sizes


def neurons(diagram: Diagram, layer: list[int]) -> list[int]:
    """The layer's node ids less its ellipsis node."""
    index = diagram.by_id()
    return [nid for nid in layer if ellipsis_size(index[nid].label) is None]


def dense_ids(layers: list[int]) -> list[list[int]]:
    """Node No. of each drawn node, per layer, top to bottom: 100 * layer + position (101, 102, ... 201, ...).

    A layer's target list then depends only on the next layer's index and size, never on a
    running total of earlier layers, which is what a small generator kept getting wrong. A layer
    of more than MAX_FULL_LAYER neurons is drawn as its first three, an ellipsis node numbered
    100 * layer (100, 200, ...) and two more: [101, 102, 103, 100, 104, 105].
    """
    ids = []
    for li, count in enumerate(layers):
        base = ID_STRIDE * (li + 1)
        if count > MAX_FULL_LAYER:
            shown = [base + i + 1 for i in range(SHOWN_TOP + SHOWN_BOTTOM)]
            ids.append(shown[:SHOWN_TOP] + [base] + shown[SHOWN_TOP:])
        else:
            ids.append([base + i + 1 for i in range(count)])
    return ids
