"""Korean labels draw real glyphs in PNG, and name a Korean font in SVG and PPTX."""

import io
import zipfile
from pathlib import Path

import numpy as np

from ml.diagram import Diagram, Node
from ml.export import pptx_bytes, svg_text
from ml.labels import font
from ml.render import render


def _box(label: str) -> Diagram:
    return Diagram((Node(1, 500, 300, "rectangle", 300, 120, "solid arrow", (255, 255, 255), (0, 0, 0), (), label),))


def _ink(label: str) -> np.ndarray:
    """The label's pixels: dark where text is drawn inside the box."""
    image = np.asarray(render(_box(label)).convert("L"))
    return image[260:340, 380:620] < 128


def test_hangul_draws_distinct_glyphs_not_missing_glyph_boxes():
    # With a font that lacks Hangul every syllable is the same box, so two words would draw the same pixels.
    first, second = _ink("데이터 수집"), _ink("모델 학습")
    assert first.sum() > 50 and second.sum() > 50
    assert (first != second).sum() > 50


def _glyph(face, character: str) -> tuple[tuple[int, int], bytes]:
    mask = face.getmask(character)
    return mask.size, bytes(mask)


def test_hangul_is_drawn_in_the_shipped_korean_font_which_has_every_syllable():
    # Checked against the font the project ships (Noto Sans KR from pylopdf-fonts-ko), whatever
    # Pillow's own font covers.
    import pylopdf_fonts_ko

    korean = font(20, "데이터 수집")
    assert Path(korean.path) == Path(pylopdf_fonts_ko.sans_path())
    missing = _glyph(korean, "\U0010fffd")  # a private-use code point: the font's missing-glyph box
    syllables = sorted(set("데이터수집모델학습합성곱가"))
    drawn = {_glyph(korean, syllable) for syllable in syllables}
    assert missing not in drawn and len(drawn) == len(syllables)


def test_latin_labels_keep_the_embedded_font():
    assert font(18, "Conv 3x3, 32 … 784").getname() == font(18).getname()
    assert font(18, "Conv 3x3 합성곱").getname() != font(18).getname()


def test_svg_keeps_hangul_text_and_names_korean_fonts():
    svg = svg_text(_box("데이터 수집"))
    assert "데이터 수집" in svg
    assert "Noto Sans KR" in svg and "Malgun Gothic" in svg


def test_pptx_runs_name_an_east_asian_font_and_keep_the_text():
    with zipfile.ZipFile(io.BytesIO(pptx_bytes(_box("모델 학습")))) as archive:
        slide = archive.read("ppt/slides/slide1.xml").decode("utf-8")
    assert "모델 학습" in slide
    assert '<a:ea typeface="Malgun Gothic"/>' in slide
