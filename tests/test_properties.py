"""Property tests: the parser on any text, and the renderer, SVG and metrics on any parsed diagram."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from complexity import assert_linear
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ml.diagram import LINE_STYLES, SHAPES, Diagram, Node
from ml.parser import (
    COORD_RANGE,
    MAX_DEPTH,
    MAX_EDGES,
    MAX_LABEL_CHARS,
    MAX_TARGETS,
    SIZE_RANGE,
    ParseError,
    ParseResult,
    parse,
    serialize,
)
from ml.readability import WEIGHTS, readability
from ml.render import render
from ml.svg import render_svg

SVG = "{http://www.w3.org/2000/svg}"
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def parse_or_none(text) -> ParseResult | None:
    """parse() must return a ParseResult or raise ParseError; anything else fails the test."""
    try:
        result = parse(text)
    except ParseError as error:
        assert str(error) and "\n" not in str(error), "a ParseError must say in one line what is wrong"
        return None
    assert isinstance(result, ParseResult)
    assert isinstance(result.diagram, Diagram)
    assert all(isinstance(w, str) and w for w in result.warnings)
    return result


def assert_well_formed(d: Diagram) -> None:
    """What every parsed diagram guarantees to the renderer, the metrics and the generator."""
    assert d.nodes
    ids = [n.id for n in d.nodes]
    assert len(set(ids)) == len(ids)
    assert sum(len(n.targets) for n in d.nodes) <= MAX_EDGES
    for n in d.nodes:
        assert all(isinstance(v, int) for v in (n.id, n.x, n.y, n.width, n.height))
        assert n.shape in SHAPES and n.line_style in LINE_STYLES
        assert COORD_RANGE["x"][0] <= n.x <= COORD_RANGE["x"][1]
        assert COORD_RANGE["y"][0] <= n.y <= COORD_RANGE["y"][1]
        assert SIZE_RANGE[0] <= n.width <= SIZE_RANGE[1] and SIZE_RANGE[0] <= n.height <= SIZE_RANGE[1]
        for colour in (n.fill, n.line_colour):
            assert len(colour) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in colour), colour
        assert n.id not in n.targets and set(n.targets) <= set(ids)
        assert len(set(n.targets)) == len(n.targets) <= MAX_TARGETS
        if n.label is not None:
            assert 0 < len(n.label) <= MAX_LABEL_CHARS and n.label.isprintable()
            # Normalised: single spaces between words, none at the ends (a shortened label included).
            assert " ".join(n.label.split()) == n.label


def assert_drawable(d: Diagram, scale: float) -> None:
    """Render, SVG and metrics never raise; the score is 0-5, every metric 0-1, the SVG has one group each."""
    image = render(d, scale=scale)
    assert image.size == (max(1, round(1000 * scale)), max(1, round(600 * scale)))
    root = ET.fromstring(render_svg(d))
    groups = root.findall(SVG + "g")
    assert sum(g.get("class") == "node" for g in groups) == len(d.nodes)
    assert sum(g.get("class") == "edge" for g in groups) == len(list(d.edges()))
    r = readability(d)
    assert 0 <= r.score <= 5
    assert set(r.metrics) <= set(WEIGHTS)
    assert all(0 <= v <= 1 for v in r.metrics.values()), r.metrics


# ---------------------------------------------------------------- arbitrary text


@settings(FAST, max_examples=1000)
@given(st.text(max_size=400))
def test_parse_on_arbitrary_text(text):
    result = parse_or_none(text)
    if result is not None:
        assert_well_formed(result.diagram)


# Bytes that cannot open a list or a string, so that they stay chatter around the node line.
CHATTER_BYTES = st.binary(max_size=200).map(lambda data: bytes(b for b in data if b not in b"[]()\"'\\"))


@settings(FAST, max_examples=100)
@given(CHATTER_BYTES, CHATTER_BYTES)
def test_bytes_are_read_as_utf8_with_bad_bytes_replaced(before, after):
    node = '[1, 120, 300, "circle", 40, 40, "solid arrow", (255, 255, 255), (0, 0, 0), [], "Straße 日本"]'
    result = parse_or_none(before + b"\n" + node.encode("utf-8") + b"\n" + after)
    assert result is not None
    assert [(n.id, n.x, n.label) for n in result.diagram.nodes] == [(1, 120, "Straße 日本")]


# Pieces of the node-list grammar, so that random concatenations reach the parser's deep paths.
TOKENS = [
    "[",
    "[",
    "]",
    "(",
    ")",
    ",",
    ", ",
    " ",
    "\n",
    "\t",
    "0",
    "1",
    "2",
    "3",
    "7",
    "42",
    "255",
    "-",
    ".",
    "e",
    "1e999",
    "-5e9",
    "0.5",
    ".5",
    "12px",
    "px",
    '"',
    "'",
    "\\",
    "#",
    "#fff",
    "#a1b2c3",
    "//",
    "```",
    "```python\n",
    "circle",
    "rectangle",
    "round rectangle",
    "round",
    "box",
    "ellipse",
    "hexagon",
    "solid arrow",
    "solid",
    "dashed line",
    "dotted",
    "arrow",
    "line",
    "none",
    "None",
    "nan",
    "inf",
    "red",
    "Here is the diagram:",
    '"(255, 0, 255)"',
    "'[5, 6]'",
    '"label"',
    "ü",
    "✓",
    "\x00",
    "[1, 100, 100, circle, 40, 40, solid, (0,0,0), (9,9,9), [2]]",
    '[2, "300", 500, "box", 60, 30, "dashed line", "(255, 0, 255)", (0,0,0), [1, 3], "B"]',
    "[3, 700, 100, round rectangle, 80, 40, arrow, #ff00ff, (0,0,0), '[1, 2]']",
]

grammar_text = st.lists(st.sampled_from(TOKENS), max_size=120).map("".join)


@settings(FAST, max_examples=800)
@given(grammar_text)
def test_parse_on_grammar_soup(text):
    result = parse_or_none(text)
    if result is not None:
        assert_well_formed(result.diagram)
        assert_drawable(result.diagram, 0.25)


# Node-shaped text: each field mostly valid, sometimes oddly spelled, sometimes broken.
def mostly(valid, *odd):
    return st.one_of(valid, valid, valid, st.sampled_from(odd))


JUNK = st.text(st.characters(exclude_characters="[]()"), max_size=8)
NUMBER = mostly(
    st.integers(-100, 1100).map(str),
    '"120"',
    "'300'",
    "12px",
    "1e999",
    "-1e999",
    "-5e9",
    "0.5",
    "0",
    "-3",
    "nan",
    "NaN",
    "Infinity",
    "-Infinity",
    '"inf"',
    '"1e309"',
    '"abc"',
    "[]",
    "None",
)
SHAPE = mostly(
    st.sampled_from(["circle", '"rectangle"', "round rectangle", '"round rect"']),
    "box",
    "ellipse",
    "hexagon",
    "42",
    "(1, 2)",
    '""',
)
STYLE = mostly(
    st.sampled_from(["solid arrow", '"dashed line"', "solid line"]),
    "dash",
    "dotted",
    "arrow",
    "solid",
    "wavy",
    "7",
    "[]",
)
COLOUR = mostly(
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)).map(str),
    '"(255, 0, 255)"',
    "[40, 40, 40]",
    "#ff00ff",
    '"#abc"',
    '"red"',
    "(255, 255, 255, 0)",
    "(1,2)",
    "(300, -5, 1e999)",
    "(NaN, 0, Infinity)",
    '"rgb(1e999, 0, 0)"',
    '"no colour"',
    "None",
)
TARGETS = mostly(
    st.lists(st.integers(0, 9), max_size=4).map(lambda ts: "[" + ", ".join(map(str, ts)) + "]"),
    "'[5, 6]'",
    '"[1, 2]"',
    '"none"',
    "3",
    "[1.5, x, 2]",
    "[[[1]]]",
    "((1, 2), 3)",
    "[NaN, 1e309, 2]",
)
LABEL = mostly(
    st.text(st.characters(exclude_characters='"\\'), max_size=20).map(lambda t: '"' + t + '"'),
    '"a \\"quoted\\" label"',
    '"ünïcødé ✓ 日本"',
    '"' + "long " * 30 + '"',
    "7",
    "Input layer",
    '"\\u0000\\n\\t"',
    "'it\\'s'",
    "[1, 2]",
)
ID = mostly(st.integers(0, 9).map(str), '"3"', "2.0", "1.5", "-1", "x", "1e999", "NaN", "Infinity")


@st.composite
def node_line(draw) -> str:
    fields = [
        draw(ID),
        draw(NUMBER),
        draw(NUMBER),
        draw(SHAPE),
        draw(NUMBER),
        draw(NUMBER),
        draw(STYLE),
        draw(COLOUR),
        draw(COLOUR),
        draw(TARGETS),
        draw(LABEL),
        draw(JUNK),
    ]
    count = draw(st.one_of(st.integers(10, 11), st.integers(10, 11), st.integers(1, 12)))
    return "[" + ", ".join(fields[:count]) + "]"


@st.composite
def node_text(draw) -> str:
    lines = draw(st.lists(node_line(), min_size=1, max_size=10))
    text = draw(st.sampled_from([",\n", "\n", ", "])).join(lines)
    if draw(st.booleans()):
        text = "[\n" + text + "\n]"
    if draw(st.booleans()):
        text = "Sure, here it is:\n```python\n" + text + "\n```\nThat is all (3 nodes)."
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]  # cut off at a token limit
    return text


@settings(FAST, max_examples=600)
@given(node_text(), st.sampled_from([0.25, 0.5, 1.0]))
def test_parsed_node_text_is_well_formed_and_drawable(text, scale):
    result = parse_or_none(text)
    if result is not None:
        assert_well_formed(result.diagram)
        assert_drawable(result.diagram, scale)
        again = parse(serialize(result.diagram))
        assert again.diagram == result.diagram
        assert again.warnings == []


# ---------------------------------------------------------------- diagrams built directly

BIG = st.integers(-(10**12), 10**12)
# Labels as the parser leaves them: printable text (for a control character, see the SVG test below).
PRINTABLE_LABELS = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=40)
CHANNEL = st.integers(0, 255)


@st.composite
def raw_diagrams(draw) -> Diagram:
    """Any values the model allows, far outside the canvas, zero and negative sizes included."""
    count = draw(st.integers(0, 8))
    nodes = []
    for nid in range(count):
        nodes.append(
            Node(
                nid,
                draw(BIG | st.integers(-100, 1100)),
                draw(BIG | st.integers(-100, 700)),
                draw(st.sampled_from(SHAPES + ("triangle",))),
                draw(BIG | st.integers(-5, 300)),
                draw(BIG | st.integers(-5, 300)),
                draw(st.sampled_from(LINE_STYLES + ("zigzag",))),
                draw(st.tuples(CHANNEL, CHANNEL, CHANNEL)),
                draw(st.tuples(CHANNEL, CHANNEL, CHANNEL)),
                tuple(draw(st.lists(st.integers(0, max(count - 1, 0)), max_size=3))) if count else (),
                draw(st.none() | PRINTABLE_LABELS),
            )
        )
    return Diagram(tuple(nodes))


@settings(FAST, max_examples=200)
@given(raw_diagrams(), st.sampled_from([0.25, 1.0]))
def test_any_diagram_renders_and_scores(d, scale):
    image = render(d, scale=scale)
    assert image.size == (round(1000 * scale), round(600 * scale))
    root = ET.fromstring(render_svg(d))
    assert sum(g.get("class") == "node" for g in root.findall(SVG + "g")) == len(d.nodes)
    r = readability(d)
    assert 0 <= r.score <= 5
    assert all(0 <= v <= 1 for v in r.metrics.values()), r.metrics


def test_parsed_css_colour_with_huge_channel_renders():
    text = '[1, 100, 100, circle, 40, 40, solid, "rgb(99999999999999999999, 0, 0)", (0, 0, 0), []]'
    result = parse(text)
    render(result.diagram, scale=0.25)
    assert all(0 <= c <= 255 for c in result.diagram.nodes[0].fill)


def test_svg_drops_a_control_character_from_a_label():
    # XML 1.0 cannot hold \x08 even as a reference: the SVG writes the label without it.
    d = Diagram((Node(1, 500, 300, "rectangle", 200, 60, "solid arrow", (255, 255, 255), (0, 0, 0), (), "a\x08b"),))
    texts = [t.text for t in ET.fromstring(render_svg(d)).iter(SVG + "text")]
    assert texts == ["ab"]


# ---------------------------------------------------------------- hostile text: the bounds


def grid_line(nid: int, targets: list[int], fields: tuple[str, str, str, str] = ("", "", "", "")) -> str:
    """A node line on a 20-column grid; `fields` replaces x, y, width and height where not empty."""
    x, y, w, h = (
        given or default
        for given, default in zip(fields, (str(40 + nid % 20 * 45), str(40 + nid // 20 * 25), "20", "20"))
    )
    return f'[{nid}, {x}, {y}, "circle", {w}, {h}, "solid arrow", (255, 255, 255), (0, 0, 0), {targets}]'


@settings(FAST, max_examples=12)
@given(st.integers(2, 130), st.integers(0, 130))
@example(nodes=120, per_node=119)  # the list in which every node targets every other
@example(nodes=MAX_TARGETS + 2, per_node=MAX_TARGETS + 1)
@example(nodes=MAX_EDGES // 20 + 1, per_node=20)
def test_dense_target_lists_are_bounded(nodes, per_node):
    # Node i points at the next per_node ids, wrapping round: itself and repeats once per_node >= nodes.
    text = "\n".join(
        grid_line(i, [(i + k - 1) % nodes + 1 for k in range(1, per_node + 1)]) for i in range(1, nodes + 1)
    )
    distinct = min(per_node, nodes - 1)
    if distinct > MAX_TARGETS:
        with pytest.raises(ParseError, match=f"more than {MAX_TARGETS}"):
            parse(text)
    elif nodes * distinct > MAX_EDGES:
        with pytest.raises(ParseError, match=f"more than {MAX_EDGES:,}"):
            parse(text)
    else:
        result = parse_or_none(text)
        assert_well_formed(result.diagram)
        assert len(list(result.diagram.edges())) == nodes * distinct
        assert 0 <= readability(result.diagram).score <= 5


# Pieces of quoted text: a quote escaped or left open is scanned once, not once per later quote.
STRING_PIECES = ['"', "'", "\\", '\\"', "\\'", "x", " ", "1", "#"]


@settings(FAST, max_examples=20)
@given(st.lists(st.sampled_from(STRING_PIECES), min_size=1, max_size=6))
@example(pieces=['\\"'])
@example(pieces=['"', "'", '\\"', "\\'"])
def test_long_unclosed_strings_are_read_in_linear_time(pieces):
    # Quadratic reading took tens of seconds for 60,000 characters; 8x the junk must cost about
    # 8x the time (a few ms and about 25 ms here), measured alongside in this run.
    def text(chars: int) -> str:
        junk = ("".join(pieces) * (chars // len("".join(pieces)) + 1))[:chars]
        return grid_line(1, [2]) + "\n" + junk + " \n" + grid_line(2, [])  # the space ends a trailing escape

    small, large = text(7_500), text(60_000)
    assert_linear(lambda: parse_or_none(small), lambda: parse_or_none(large), 8)
    for result in (parse_or_none(small), parse_or_none(large)):
        assert [(n.id, n.targets) for n in result.diagram.nodes] == [(1, (2,)), (2, ())]


@settings(FAST, max_examples=40)
@given(st.text(alphabet="[(", max_size=3 * MAX_DEPTH), st.booleans())
def test_deep_nesting_is_read_or_refused_in_one_line(openers, closed):
    wrappers = "[" + openers
    closers = "".join("]" if o == "[" else ")" for o in reversed(wrappers)) if closed else ""
    text = wrappers + grid_line(1, []) + closers
    # The node's own list is one level below the wrappers, its colours and targets one more.
    if len(wrappers) + 2 > MAX_DEPTH:
        with pytest.raises(ParseError, match=f"deeper than {MAX_DEPTH}"):
            parse(text)
    else:
        assert [n.id for n in parse(text).diagram.nodes] == [1]


# Spellings of numbers that overflow to infinity (clamped like any number out of range), and of
# NaN and infinity that are not numbers at all (the node is dropped).
OVERFLOWING = ["1e309", "-1e309", "1e999px", '"1e309"']
NOT_NUMBERS = ["NaN", "nan", "-nan", "Infinity", "-Infinity", "inf", "-inf", '"NaN"', '"inf"', '"Infinity"']
NUMERIC = st.one_of(st.integers(-5000, 5000).map(str), st.sampled_from(OVERFLOWING + NOT_NUMBERS))


@settings(FAST, max_examples=150)
@given(st.tuples(NUMERIC, NUMERIC, NUMERIC, NUMERIC), st.sampled_from(OVERFLOWING + NOT_NUMBERS))
def test_nan_and_infinity_never_reach_a_diagram(fields, target):
    text = grid_line(1, [], fields).replace("[]", f"[2, {target}]") + "\n" + grid_line(2, [])
    result = parse_or_none(text)
    assert_well_formed(result.diagram)
    kept = all(f not in NOT_NUMBERS for f in fields)
    assert [n.id for n in result.diagram.nodes] == ([1, 2] if kept else [2])
    if kept:
        assert result.diagram.nodes[0].targets == (2,)
        assert_drawable(result.diagram, 0.25)
