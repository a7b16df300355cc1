"""Whole-image input for the learned scorers: the full 1000x600 canvas, aspect kept, no crop.

The design this replaces scored the centre 64x64 of a 128x128 thumbnail and never saw half the
canvas; here every scorer sees all of it at 160x96 (the canvas's 5:3 aspect).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from ml.diagram import CANVAS_HEIGHT, CANVAS_WIDTH, Diagram
from ml.render import render

INPUT_WIDTH, INPUT_HEIGHT = 160, 96
# Rendering straight at input size (scale 0.32, then 2x box reduction) costs a tenth of a full render.
_INPUT_SCALE = 2 * INPUT_WIDTH / CANVAS_WIDTH


def to_array(image: Image.Image) -> np.ndarray:
    """(3, 96, 160) float32 in [0, 1] from any image of the diagram (resized whole, aspect kept)."""
    image = image.convert("RGB")
    if image.size != (INPUT_WIDTH, INPUT_HEIGHT):
        image = image.resize((INPUT_WIDTH, INPUT_HEIGHT), Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0


def render_input(diagram: Diagram) -> np.ndarray:
    """The scorer input for a diagram without a full-size render (used to build training sets)."""
    image = render(diagram, scale=_INPUT_SCALE, supersample=1)
    return to_array(image)


def batch(images: Sequence[Image.Image | np.ndarray]) -> np.ndarray:
    """(n, 3, 96, 160) float32 from images or already converted arrays."""
    arrays = [item if isinstance(item, np.ndarray) else to_array(item) for item in images]
    return np.stack(arrays).astype(np.float32) if arrays else np.zeros((0, 3, INPUT_HEIGHT, INPUT_WIDTH), np.float32)


assert abs(CANVAS_WIDTH / CANVAS_HEIGHT - INPUT_WIDTH / INPUT_HEIGHT) < 1e-6, "input keeps the canvas aspect"
