"""The tolerant parser: every kind of model text the issue lists, the limits, and the round trip."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest
from complexity import assert_linear
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml.diagram import LINE_STYLES, SHAPES, Diagram, Node
from ml.parser import (
    COORD_RANGE,
    MAX_EDGES,
    MAX_LABEL_CHARS,
    MAX_NODES,
    MAX_TARGETS,
    MAX_TEXT_CHARS,
    SIZE_RANGE,
    ParseError,
    ParseResult,
    parse,
    serialize,
)

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.txt"))

# Two plain target nodes that the lines under test may point at.
NODE_5 = '[5, 500, 300, "circle", 60, 60, "solid arrow", (255, 255, 255), (0, 0, 0), []]'
NODE_6 = '[6, 700, 300, "circle", 60, 60, "solid arrow", (255, 255, 255), (0, 0, 0), []]'


def line(
    nid=1,
    x=100,
    y=100,
    shape='"rectangle"',
    w=40,
    h=40,
    style='"solid arrow"',
    fill="(255, 255, 255)",
    colour="(0, 0, 0)",
    targets="[]",
    label=None,
) -> str:
    fields = [nid, x, y, shape, w, h, style, fill, colour, targets] + ([label] if label is not None else [])
    return "[" + ", ".join(str(f) for f in fields) + "]"


def only(text: str) -> Node:
    result = parse(text)
    assert len(result.diagram.nodes) == 1
    return result.diagram.nodes[0]


def has_warning(result: ParseResult, *words: str) -> bool:
    return any(all(w.lower() in warning.lower() for w in words) for warning in result.warnings)


# ---------------------------------------------------------------- layouts of the text


def test_one_whole_python_list():
    text = "[\n" + ",\n".join([line(1, targets="[2]"), line(2, x=300)]) + "\n]"
    result = parse(text)
    assert [n.id for n in result.diagram.nodes] == [1, 2]
    assert result.diagram.nodes[0].targets == (2,)
    assert result.diagram.nodes[1].x == 300
    assert result.warnings == []


def test_one_node_per_line_without_outer_list():
    text = "\n".join([line(1, targets="[2, 3]"), line(2, x=300), line(3, x=500)])
    result = parse(text)
    assert [n.id for n in result.diagram.nodes] == [1, 2, 3]
    assert result.diagram.nodes[0].targets == (2, 3)
    assert [n.x for n in result.diagram.nodes] == [100, 300, 500]
    assert result.warnings == []


def test_code_fences_and_chatter_around():
    text = (
        "Sure! Here is the diagram you asked for (2 nodes, 1 edge):\n"
        "```python\n"
        "nodes = [\n"
        f"    {line(1, targets='[2]')},  # the input\n"
        f"    {line(2, x=400)}\n"
        "]\n"
        "```\n"
        "Note: node 1 feeds node 2. Let me know if you want changes [or more nodes]!"
    )
    result = parse(text)
    assert [(n.id, n.x, n.targets) for n in result.diagram.nodes] == [(1, 100, (2,)), (2, 400, ())]
    assert result.warnings == []


def test_quoted_numbers():
    node = only(line('"7"', "'120'", '"300"', "circle", '"60"', "'50.0'"))
    assert (node.id, node.x, node.y, node.width, node.height) == (7, 120, 300, 60, 50)
    assert all(isinstance(v, int) for v in (node.id, node.x, node.y, node.width, node.height))


def test_numbers_with_px_suffix():
    node = only(line(1, "120px", '"300px"', w="60px"))
    assert (node.x, node.y, node.width) == (120, 300, 60)


@pytest.mark.parametrize(
    "written, expected",
    [
        ('"(255, 0, 255)"', (255, 0, 255)),
        ("'(12, 34, 56)'", (12, 34, 56)),
        ('"[1, 2, 3]"', (1, 2, 3)),
        ("(10, 20, 30)", (10, 20, 30)),
        ("[10, 20, 30]", (10, 20, 30)),
        ('"#ff8000"', (255, 128, 0)),
        ("#ff8000", (255, 128, 0)),
        ('"red"', (255, 0, 0)),
        ('("1", "2", "3")', (1, 2, 3)),
    ],
)
def test_colours_in_many_spellings(written, expected):
    node = only(line(fill=written, colour=written))
    assert node.fill == expected
    assert node.line_colour == expected


@pytest.mark.parametrize("written", ["'[5, 6]'", '"[5, 6]"', "[5, 6]", '"5, 6"', "(5, 6)"])
def test_target_lists_in_many_spellings(written):
    result = parse("\n".join([line(3, targets=written), NODE_5, NODE_6]))
    assert result.diagram.by_id()[3].targets == (5, 6)
    assert result.warnings == []


@pytest.mark.parametrize("written", ['"none"', '""', "[]", "None"])
def test_empty_target_spellings(written):
    result = parse(line(targets=written))
    assert result.diagram.nodes[0].targets == ()


def test_unquoted_shape_names_and_styles():
    text = "\n".join(
        [
            line(1, shape="circle", style="solid arrow", targets="[2]"),
            line(2, shape="round rectangle", style="dashed line", targets="[3]"),
            line(3, shape="rectangle", style="solid line"),
        ]
    )
    result = parse(text)
    got = [(n.shape, n.line_style) for n in result.diagram.nodes]
    assert got == [("circle", "solid arrow"), ("round rectangle", "dashed line"), ("rectangle", "solid line")]
    assert result.warnings == []


@pytest.mark.parametrize(
    "written, expected",
    [
        ("solid", "solid line"),
        ('"solid"', "solid line"),
        ("line", "solid line"),
        ("dash", "dashed line"),
        ("dashed", "dashed line"),
        ('"dotted"', "dashed line"),
        ("dotted line", "dashed line"),
        ("arrow", "solid arrow"),
        ('"Solid_Arrow"', "solid arrow"),
        ("solid arrow", "solid arrow"),
    ],
)
def test_line_style_synonyms(written, expected):
    result = parse(line(style=written))
    assert result.diagram.nodes[0].line_style == expected
    assert result.warnings == []


@pytest.mark.parametrize(
    "written, expected",
    [
        ("circle", "circle"),
        ("ellipse", "circle"),
        ("oval", "circle"),
        ("rect", "rectangle"),
        ("box", "rectangle"),
        ('"Rectangle"', "rectangle"),
        ("rounded rectangle", "round rectangle"),
        ("round_rect", "round rectangle"),
        ('"round box"', "round rectangle"),
    ],
)
def test_shape_synonyms(written, expected):
    result = parse(line(shape=written))
    assert result.diagram.nodes[0].shape == expected
    assert result.warnings == []


def test_truncated_last_node_is_dropped_with_a_warning():
    full = "[\n" + ",\n".join([line(1, targets="[2]"), line(2, x=300, targets="[3]")])
    for cut in (
        '[3, 500, 100, "circle", 40, 40, "solid arrow", (255, 255, ',
        '[3, 500, 100, "circ',
        "[3, 500",
        line(3, x=500)[:-1],
    ):  # everything but the closing bracket
        result = parse(full + ",\n" + cut)
        assert [n.id for n in result.diagram.nodes] == [1, 2], cut
        assert has_warning(result, "cut off"), (cut, result.warnings)


def test_complete_text_has_no_cut_off_warning():
    result = parse("[\n" + ",\n".join([line(1), line(2)]) + "\n]")
    assert not has_warning(result, "cut off")


@pytest.mark.parametrize("shape", ['"hexagon"', "triangle", "42", "(1, 2, 3)"])
def test_unknown_shape_becomes_default_with_warning(shape):
    result = parse(line(shape=shape))
    assert result.diagram.nodes[0].shape == "rectangle"
    assert has_warning(result, "unknown shape")


@pytest.mark.parametrize("style", ['"zigzag"', "wavy", "7"])
def test_unknown_style_becomes_default_with_warning(style):
    result = parse(line(style=style))
    assert result.diagram.nodes[0].line_style == "solid arrow"
    assert has_warning(result, "unknown line style")


def test_bad_colour_becomes_default_with_warning():
    result = parse(line(fill='"not a colour"', colour="(1, 2)"))
    node = result.diagram.nodes[0]
    assert node.fill == (255, 255, 255)
    assert node.line_colour == (0, 0, 0)
    assert has_warning(result, "fill colour")
    assert has_warning(result, "line colour")


def test_colour_channels_out_of_range_are_clamped_with_warning():
    result = parse(line(fill="(300, -20, 128)"))
    assert result.diagram.nodes[0].fill == (255, 0, 128)
    assert has_warning(result, "fill colour", "clamped")


@pytest.mark.parametrize("written", ['"rgb(300, 0, 0)"', '"hsl(0, 200%, 50%)"', '"hsv(0, 100%, 300%)"'])
def test_css_colour_strings_are_clamped_to_0_255(written):
    node = only(line(fill=written, colour=written))
    assert all(0 <= c <= 255 for c in node.fill + node.line_colour), (node.fill, node.line_colour)


def test_duplicate_id_keeps_the_first_node_with_warning():
    result = parse("\n".join([line(1, x=100), line(2, x=300), line(1, x=900)]))
    assert [(n.id, n.x) for n in result.diagram.nodes] == [(1, 100), (2, 300)]
    assert has_warning(result, "node 1", "duplicate")


def test_targets_to_missing_ids_and_self_loops_are_dropped_with_warnings():
    result = parse("\n".join([line(1, targets="[1, 2, 99]"), line(2, x=300, targets="[2]")]))
    by_id = result.diagram.by_id()
    assert by_id[1].targets == (2,)
    assert by_id[2].targets == ()
    assert has_warning(result, "node 1", "itself")
    assert has_warning(result, "node 1", "99", "does not exist")
    assert has_warning(result, "node 2", "itself")
    assert len(list(result.diagram.edges())) == 1


def test_repeated_target_is_kept_once():
    result = parse("\n".join([line(1, targets="[2, 2]"), line(2, x=300)]))
    assert result.diagram.nodes[0].targets == (2,)
    assert has_warning(result, "twice")


def test_node_without_target_list_is_kept_without_edges():
    text = '[1, 100, 100, "circle", 40, 40, "solid arrow", (255, 255, 255), (0, 0, 0)]'
    result = parse(text)
    assert result.diagram.nodes[0].targets == ()
    assert has_warning(result, "no target list")


def test_node_with_too_few_fields_is_dropped():
    result = parse("\n".join([line(1), '[2, 100, 100, "circle", 40, 40, "solid arrow"]']))
    assert [n.id for n in result.diagram.nodes] == [1]
    assert has_warning(result, "node 2")


@pytest.mark.parametrize("bad_id", ["1.5", "1e999", "-1e999", "5e9"])
def test_node_with_unusable_id_is_dropped_with_warning(bad_id):
    result = parse("\n".join([line(1), line(bad_id, x=300)]))
    assert [n.id for n in result.diagram.nodes] == [1]
    assert has_warning(result, "dropped", "id")


def test_list_not_starting_with_a_number_is_not_a_node():
    # Chatter such as ["a", "b"] is not a node; a word where the id belongs reads the same way.
    result = parse("\n".join([line(1), line('"one"', x=300)]))
    assert [n.id for n in result.diagram.nodes] == [1]


def test_extra_fields_are_ignored_with_warning():
    result = parse(line(label='"Conv", "extra", 7'))
    assert result.diagram.nodes[0].label == "Conv"
    assert has_warning(result, "extra fields")


# ---------------------------------------------------------------- bounds


def test_text_over_the_size_limit_raises():
    with pytest.raises(ParseError, match="limit"):
        parse(line() + " " * MAX_TEXT_CHARS)


def test_text_at_the_size_limit_still_parses():
    text = line()
    assert len(parse(text + " " * (MAX_TEXT_CHARS - len(text))).diagram.nodes) == 1


def test_more_than_max_nodes_raises():
    text = "\n".join(line(i) for i in range(1, MAX_NODES + 2))
    with pytest.raises(ParseError, match=str(MAX_NODES)):
        parse(text)


def test_max_nodes_exactly_parses():
    text = "\n".join(line(i) for i in range(1, MAX_NODES + 1))
    assert len(parse(text).diagram.nodes) == MAX_NODES


@pytest.mark.parametrize(
    "bomb",
    [
        "[" * 10000,
        "[" * 10000 + "]" * 10000,
        "[1, " * 10000,
        "[" + "(" * 10000,
        line() + "\n" + "[" * 5000 + line(2) + "]" * 5000,
    ],
)
def test_nesting_bombs_raise_parse_error_not_recursion_error(bomb):
    with pytest.raises(ParseError):
        parse(bomb)


def targets_text(nodes: int, targets: dict[int, list[int]]) -> str:
    """Nodes 1..nodes on a grid; node i points at targets.get(i, [])."""
    return "\n".join(
        line(i, x=40 + i % 20 * 45, y=40 + i // 20 * 25, targets=str(targets.get(i, []))) for i in range(1, nodes + 1)
    )


def test_max_targets_on_one_node_parse_and_one_more_is_refused():
    nodes = MAX_TARGETS + 2
    # Repeated and missing targets are dropped before counting.
    at_bound = parse(targets_text(nodes, {1: list(range(2, MAX_TARGETS + 2)) + [2] * 50 + [999] * 50})).diagram
    assert at_bound.nodes[0].targets == tuple(range(2, MAX_TARGETS + 2))
    with pytest.raises(ParseError, match=f"node 1 has {MAX_TARGETS + 1} targets, more than {MAX_TARGETS}") as error:
        parse(targets_text(nodes, {1: list(range(2, MAX_TARGETS + 3))}))
    assert "\n" not in str(error.value)


def test_max_edges_in_all_parse_and_one_more_is_refused():
    per_node = MAX_EDGES // MAX_NODES
    ring = {i: [(i + k - 1) % MAX_NODES + 1 for k in range(1, per_node + 1)] for i in range(1, MAX_NODES + 1)}
    assert len(list(parse(targets_text(MAX_NODES, ring)).diagram.edges())) == MAX_EDGES
    ring[1].append(ring[1][-1] + 1)
    with pytest.raises(ParseError, match=f"{MAX_EDGES + 1:,} edges, more than {MAX_EDGES:,}"):
        parse(targets_text(MAX_NODES, ring))


def test_the_reported_every_node_to_every_node_list_is_refused_in_one_line():
    # The 120-node list (67 KB) in which every node targets every other: it used to score out of memory.
    everyone = {i: [j for j in range(1, 121) if j != i] for i in range(1, 121)}
    with pytest.raises(ParseError, match="more than") as error:
        parse(targets_text(120, everyone))
    assert "\n" not in str(error.value)


def parse_quietly(text: str) -> None:
    try:
        parse(text)
    except ParseError:
        pass


Q, S, B = '"', "'", "\\"
# Junk lines of about 2 * n characters: unclosed quotes and escapes.
UNCLOSED = {
    "double": lambda n: Q + (B + Q) * n,
    "single": lambda n: S + (B + S) * n,
    "both": lambda n: Q + S + (B + Q + B + S) * (n // 2),
    "words": lambda n: ("x " + B + Q + B + S) * (n // 3),
}


@pytest.mark.parametrize("junk", UNCLOSED.values(), ids=UNCLOSED.keys())
def test_long_unclosed_strings_are_read_in_linear_time(junk):
    # Each unclosed quote used to be scanned to the end of its line again: minutes for 200 KB. Now
    # 8x the junk costs about 8x the time (about 10 ms and 85 ms here), measured in one run.
    # A quote left open ends at the line break and is skipped: node 1's label still reads.
    def text(n: int) -> str:
        return line(1, label='"Conv') + "\n" + junk(n) + " \n" + line(2)

    assert 190_000 < len(text(99_000)) <= MAX_TEXT_CHARS
    small, large = text(99_000 // 8), text(99_000)
    assert_linear(lambda: parse_quietly(small), lambda: parse_quietly(large), 8)
    result = parse(large)
    assert [(n.id, n.label) for n in result.diagram.nodes] == [(1, "Conv"), (2, None)]


@pytest.mark.parametrize("where", ["id", "target"])
def test_parse_time_is_linear_in_a_long_quoted_non_number(where):
    def text(digits: int) -> str:
        junk = '"' + "1" * digits + 'x"'
        return (line(junk) if where == "id" else line(1, targets=f"[{junk}]")) + "\n" + line(2)

    small, large = text(5_000), text(40_000)  # about 1 ms and 6 ms here
    assert_linear(lambda: parse_quietly(small), lambda: parse_quietly(large), 8, tries=5)
    assert [n.id for n in parse(large).diagram.nodes] == ([2] if where == "id" else [1, 2])


def test_absurd_coordinates_are_clamped_with_warning():
    result = parse(line(1, x="1e999", y="-5e9", w="1e999", h="-3"))
    node = result.diagram.nodes[0]
    assert node.x == COORD_RANGE["x"][1]
    assert node.y == COORD_RANGE["y"][0]
    assert node.width == SIZE_RANGE[1]
    assert node.height == SIZE_RANGE[0]
    for name in ("x", "y", "width", "height"):
        assert has_warning(result, f"{name} ", "clamped"), (name, result.warnings)


def test_in_range_values_are_not_clamped():
    result = parse(line(1, x=-1000, y=1200, w=2, h=2000))
    node = result.diagram.nodes[0]
    assert (node.x, node.y, node.width, node.height) == (-1000, 1200, 2, 2000)
    assert result.warnings == []


@pytest.mark.parametrize(
    "text",
    ["", "   ", "no diagram here, sorry", "[1, 2, 3]", "[[a, b], [c]]", '["x", 1, 2, "circle", 3, 4, 5, 6, 7, 8]'],
)
def test_text_without_nodes_raises(text):
    with pytest.raises(ParseError):
        parse(text)


def test_non_text_raises_parse_error():
    with pytest.raises(ParseError):
        parse(12345)  # type: ignore[arg-type]


def test_bytes_are_decoded():
    assert parse(line().encode("utf-8")).diagram.nodes[0].id == 1


def test_model_text_is_never_evaluated(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the parser evaluated model text")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "__import__", forbidden)
    text = line(1, x='__import__("os").system("false")', y=100) + "\n" + line(2)
    result = parse(text)
    assert [n.id for n in result.diagram.nodes] == [2]


# ---------------------------------------------------------------- the seed's robustness line


def test_seed_robustness_line():
    seed = """[3, "120", '300', circle, 60, 60, solid arrow, "(255, 0, 255)", (0,0,0), '[5, 6]']"""
    result = parse("\n".join([seed, NODE_5, NODE_6]))
    node = result.diagram.by_id()[3]
    assert node == Node(
        id=3,
        x=120,
        y=300,
        shape="circle",
        width=60,
        height=60,
        line_style="solid arrow",
        fill=(255, 0, 255),
        line_colour=(0, 0, 0),
        targets=(5, 6),
        label=None,
    )
    assert result.warnings == []
    assert [(e.source.id, e.target.id) for e in result.diagram.edges()] == [(3, 5), (3, 6)]


# ---------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "written, expected",
    [
        ('"Conv 3x3"', "Conv 3x3"),
        ('"He said \\"hi\\""', 'He said "hi"'),
        ("'it\\'s'", "it's"),
        ('"Größe ≥ 5 — 卷积层 🚀"', "Größe ≥ 5 — 卷积层 🚀"),
        ('"back\\\\slash"', "back\\slash"),
        ('"  spaced   out  "', "spaced out"),
        ('"two\\nlines"', "two lines"),
        ("7", "7"),
        ('""', None),
    ],
)
def test_label_field(written, expected):
    node = only(line(label=written))
    assert node.label == expected
    if expected is not None:
        assert parse(serialize(Diagram((node,)))).diagram.nodes[0] == node


@pytest.mark.parametrize("written", ["None", "null"])
def test_unquoted_none_label_means_no_label(written):
    assert only(line(label=written)).label is None


def test_long_label_is_shortened_with_warning():
    result = parse(line(label='"' + "x" * (MAX_LABEL_CHARS + 20) + '"'))
    assert result.diagram.nodes[0].label == "x" * MAX_LABEL_CHARS
    assert has_warning(result, "label shortened")


def test_shortened_label_has_no_trailing_space_and_round_trips():
    result = parse(line(label='"' + "long " * 30 + '"'))
    label = result.diagram.nodes[0].label
    assert len(label) <= MAX_LABEL_CHARS
    assert label == label.strip(), repr(label)
    assert parse(serialize(result.diagram)).diagram == result.diagram


def test_label_with_quotes_and_unicode_round_trips():
    label = 'Ein "Modell" — l\'encodeur ✓ 日本'
    node = Node(1, 100, 100, "round rectangle", 120, 60, "dashed line", (1, 2, 3), (4, 5, 6), (), label)
    text = serialize(Diagram((node,)))
    assert parse(text).diagram.nodes[0].label == label


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_parse_cleanly_and_round_trip(path):
    result = parse(path.read_text(encoding="utf-8"))
    assert result.warnings == []
    assert len(result.diagram.nodes) >= 5
    again = parse(serialize(result.diagram))
    assert again.diagram == result.diagram
    assert again.warnings == []


def test_three_examples_ship():
    assert {p.stem for p in EXAMPLES} >= {"dense_network", "cnn_layers", "ml_pipeline"}


def test_serialize_is_canonical():
    node = Node(1, 10, 20, "circle", 30, 40, "solid line", (1, 2, 3), (4, 5, 6), (2,), "A")
    other = Node(2, 50, 60, "rectangle", 30, 40, "solid arrow", (1, 2, 3), (4, 5, 6))
    text = serialize(Diagram((node, other)))
    assert text == (
        '[\n[1, 10, 20, "circle", 30, 40, "solid line", (1, 2, 3), (4, 5, 6), [2], "A"],\n'
        '[2, 50, 60, "rectangle", 30, 40, "solid arrow", (1, 2, 3), (4, 5, 6), []]\n]'
    )
    assert serialize(parse(text).diagram) == text


# Labels the parser keeps unchanged: printable characters, single spaces between words, none at the ends.
_WORD = st.text(
    st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp")), min_size=1, max_size=12
)
LABELS = st.lists(_WORD, min_size=1, max_size=6).map(" ".join).filter(lambda s: len(s) <= MAX_LABEL_CHARS)
CHANNEL = st.integers(0, 255)
COLOURS = st.tuples(CHANNEL, CHANNEL, CHANNEL)


@st.composite
def diagrams(draw, max_nodes: int = 8) -> Diagram:
    ids = draw(st.lists(st.integers(-(10**9), 10**9), min_size=1, max_size=max_nodes, unique=True))
    nodes = []
    for nid in ids:
        others = [i for i in ids if i != nid]
        targets = draw(st.lists(st.sampled_from(others), unique=True, max_size=4)) if others else []
        nodes.append(
            Node(
                id=nid,
                x=draw(st.integers(*COORD_RANGE["x"])),
                y=draw(st.integers(*COORD_RANGE["y"])),
                shape=draw(st.sampled_from(SHAPES)),
                width=draw(st.integers(*SIZE_RANGE)),
                height=draw(st.integers(*SIZE_RANGE)),
                line_style=draw(st.sampled_from(LINE_STYLES)),
                fill=draw(COLOURS),
                line_colour=draw(COLOURS),
                targets=tuple(targets),
                label=draw(st.none() | LABELS),
            )
        )
    return Diagram(tuple(nodes))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(diagrams())
def test_round_trip_on_generated_diagrams(diagram):
    result = parse(serialize(diagram))
    assert result.diagram == diagram
    assert result.warnings == []


@settings(max_examples=60, deadline=None)
@given(diagrams(max_nodes=4))
def test_round_trip_of_as_lists(diagram):
    assert Diagram.from_lists(diagram.as_lists()) == diagram
