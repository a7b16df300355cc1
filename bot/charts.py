"""The small PNG chart of /admin stats: ratings by value and requests by status, drawn with Pillow."""

from __future__ import annotations

import io
from collections.abc import Mapping

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT, MARGIN = 640, 260, 28
BAR = (88, 101, 242)  # Discord blurple
TEXT = (40, 40, 40)


def _bars(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str, values: Mapping[str, int], font
) -> None:
    left, top, right, bottom = box
    draw.text((left, top), title, fill=TEXT, font=font)
    top += 20
    bottom -= 16
    peak = max(values.values(), default=0) or 1
    slot = (right - left) / max(len(values), 1)
    for i, (label, count) in enumerate(values.items()):
        x0 = left + i * slot + slot * 0.15
        x1 = left + (i + 1) * slot - slot * 0.15
        y0 = bottom - (bottom - top - 14) * count / peak
        draw.rectangle((x0, y0, x1, bottom), fill=BAR)
        draw.text((x0, y0 - 13), str(count), fill=TEXT, font=font)
        draw.text((x0, bottom + 3), label, fill=TEXT, font=font)


def stats_chart(ratings: Mapping[int, int], requests: Mapping[str, int]) -> bytes:
    """Two bar charts side by side, as PNG bytes."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    half = WIDTH // 2
    _bars(
        draw,
        (MARGIN, MARGIN // 2, half - MARGIN, HEIGHT - MARGIN // 2),
        "ratings by value",
        {str(k): v for k, v in sorted(ratings.items())},
        font,
    )
    statuses = {s: requests.get(s, 0) for s in ("queued", "running", "done", "failed")}
    _bars(
        draw, (half + MARGIN, MARGIN // 2, WIDTH - MARGIN, HEIGHT - MARGIN // 2), "requests by status", statuses, font
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
