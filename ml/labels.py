"""Label layout: the largest font size at which a label fits inside its node.

Shared by the PNG renderer, the SVG writer and the readability metric, so that what the metric
calls legible is what the picture shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from PIL import ImageFont

from ml.diagram import Colour, Node

MAX_FONT_PX = 18
MIN_FONT_PX = 7
LEGIBLE_FONT_PX = 10


def _latin(text: str) -> bool:
    """Whether Pillow's embedded font (Aileron) has every character: Latin-1 and general punctuation."""
    return all(ord(ch) <= 0xFF or 0x2000 <= ord(ch) <= 0x206F for ch in text)


@lru_cache(maxsize=128)
def _font(size: int, latin: bool) -> ImageFont.FreeTypeFont:
    if latin:
        # Given a size, Pillow always loads its scalable FreeType font (the stubs allow the bitmap one).
        return cast(ImageFont.FreeTypeFont, ImageFont.load_default(size=size))
    import pylopdf_fonts_ko

    return ImageFont.truetype(str(pylopdf_fonts_ko.sans_path()), size)


def font(size: int, text: str = "") -> ImageFont.FreeTypeFont:
    """The font a label is drawn in: Pillow's embedded scalable font, or for Hangul and any other
    script it lacks, Noto Sans KR (SIL OFL, installed with the package `pylopdf-fonts-ko`, which
    also covers Latin). Both ship as packages, so rendering works offline anywhere."""
    return _font(size, _latin(text))


@dataclass(frozen=True)
class LabelLayout:
    lines: tuple[str, ...]
    size: int
    truncated: bool


def _usable_box(node: Node) -> tuple[float, float]:
    # An ellipse's inscribed rectangle is about 0.7 of its box on each side.
    factor = 0.7 if node.shape == "circle" else 0.9
    return max(node.width * factor, 1), max(node.height * factor, 1)


def _width(text: str, size: int) -> float:
    return font(size, text).getlength(text)


def _fits(lines: list[str], size: int, box_w: float, box_h: float) -> bool:
    return len(lines) * size * 1.15 <= box_h and all(_width(line, size) <= box_w for line in lines)


def _two_lines(text: str) -> list[str] | None:
    words = text.split()
    if len(words) < 2:
        return None
    best = min(range(1, len(words)), key=lambda i: abs(len(" ".join(words[:i])) - len(" ".join(words[i:]))))
    return [" ".join(words[:best]), " ".join(words[best:])]


@lru_cache(maxsize=4096)
def _layout(text: str, box_w: float, box_h: float) -> LabelLayout:
    layouts = [[text]]
    split = _two_lines(text)
    if split:
        layouts.append(split)
    for size in range(min(MAX_FONT_PX, int(box_h / 1.15)), MIN_FONT_PX - 1, -1):
        for lines in layouts:
            if _fits(lines, size, box_w, box_h):
                return LabelLayout(tuple(lines), size, False)
    # Nothing fits: the smallest size on one line, shortened with an ellipsis.
    shown = text
    while len(shown) > 1 and _width(shown + "…", MIN_FONT_PX) > box_w:
        shown = shown[:-1]
    return LabelLayout((shown.rstrip() + "…",), MIN_FONT_PX, True)


def layout_label(node: Node) -> LabelLayout | None:
    """How the node's label is drawn at scale 1, or None for a node without label."""
    if not node.label:
        return None
    box_w, box_h = _usable_box(node)
    return _layout(node.label, round(box_w), round(box_h))


def relative_luminance(colour: Colour) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: Colour, b: Colour) -> float:
    """WCAG 2 contrast ratio, 1 (none) to 21 (black on white)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def text_colour(fill: Colour) -> Colour:
    """Black or white, whichever reads better on the fill."""
    black, white = (0, 0, 0), (255, 255, 255)
    return black if contrast_ratio(black, fill) >= contrast_ratio(white, fill) else white
