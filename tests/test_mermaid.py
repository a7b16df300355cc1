"""Mermaid export: every line checked against the forms it may take, labels decoded back, and
(where Node and the npm packages are at hand) Mermaid's own parser and renderer run on the text."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

import pytest

from ml.commands import read_diagram
from ml.diagram import Diagram, Node
from ml.mermaid import mermaid_text
from training.layouts import dense_network

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.txt"))
TRICKY_LABELS = [
    'Say "hi" [now] (ok) {x}',
    "a < b && c > d",
    "&lt; is not <",
    "line one\nline two",
    "한국어 레이어",
    "🙂 emoji 🚀",
    "cost: 100% #1 $$x$$ `code`",
    "#35; and #quot; typed",
    "fa:fa-car %%{init: {}}%% <b>bold</b>",
    "style x:#fff;",
    "\ufb02\u00b0\u00b035\u00b6\u00df",
    "*a* _b_ = c! d? it's +1, x --> y -.- z / 2.5",
]
# Where mermaid and jsdom are installed, for the test that runs Mermaid itself: the checkout, where
# `make setup` runs `npm ci` (package.json and package-lock.json pin both) whenever node is present.
MERMAID_DIR = Path(os.environ.get("DIAGRAMBOT_MERMAID_DIR", ROOT))

HEADER = re.compile(r"flowchart (LR|TB)")
NODE = re.compile(r'    (\w+)(?:\["([^"]*)"\]|\(\("([^"]*)"\)\)|\("([^"]*)"\))')
EDGE = re.compile(r"    (\w+) (-->|---|-\.-) (\w+)")
STYLE = re.compile(r"    style (\w+) fill:(#[0-9a-f]{6}),stroke:(#[0-9a-f]{6}),color:(#[0-9a-f]{6})")
ESCAPE = re.compile(r"#quot;|#(\d+);|<br>")
# What Mermaid could read as more than text: none of it may appear unescaped inside a label.
SPECIAL = set('"#%&:;<>$`{}|~^@\\')
# The invisible word joiner the export puts between "$$", "ﬂ°" and "¶ß", which Mermaid would read as markup.
JOINED = re.compile("(?<=\\$)\u2060(?=\\$)|(?<=\ufb02)\u2060(?=\u00b0)|(?<=\u00b6)\u2060(?=\u00df)")


def decode(escaped: str) -> str:
    """A label as Mermaid shows it: entity codes and <br> decoded, without the word joiners."""
    assert not set(ESCAPE.sub("", escaped)) & SPECIAL, escaped
    text = ESCAPE.sub(
        lambda m: '"' if m.group() == "#quot;" else "\n" if m.group() == "<br>" else chr(int(m.group(1))), escaped
    )
    return JOINED.sub("", text)


def read_back(text: str) -> tuple[str, dict, list, dict]:
    """(direction, {name: (shape, label)}, [(source, arrow, target)], {name: (fill, stroke, text)}); every
    line must be one of the forms the export writes."""
    assert text.endswith("\n")
    header, *lines = text[:-1].split("\n")
    direction = HEADER.fullmatch(header).group(1)
    nodes, edges, styles = {}, [], {}
    for line in lines:
        if match := NODE.fullmatch(line):
            name, square, circle, rounded = match.groups()
            shape, label = next(
                (s, lab)
                for s, lab in (("rectangle", square), ("circle", circle), ("round rectangle", rounded))
                if lab is not None
            )
            assert name not in nodes
            nodes[name] = (shape, decode(label))
        elif match := EDGE.fullmatch(line):
            edges.append(match.groups())
        elif match := STYLE.fullmatch(line):
            styles[match.group(1)] = match.groups()[1:]
        else:
            pytest.fail(f"not a node, edge or style line: {line!r}")
    assert all(a in nodes and b in nodes for a, _, b in edges)
    assert set(styles) <= set(nodes)
    return direction, nodes, edges, styles


def node(nid, x, y, shape="rectangle", style="solid arrow", fill=(255, 255, 255), targets=(), label=None) -> Node:
    return Node(nid, x, y, shape, 100, 60, style, fill, (0, 0, 0), tuple(targets), label)


TRICKY = Diagram(
    tuple(
        node(i, 80 * i, 300, label=label, targets=[i + 1] if i < len(TRICKY_LABELS) else [])
        for i, label in enumerate(TRICKY_LABELS, start=1)
    )
)
# A 2-3-1 network drawn top to bottom: layers are rows.
VERTICAL_DENSE = Diagram(
    (
        node(1, 400, 100, "circle", targets=[3, 4, 5]),
        node(2, 600, 100, "circle", targets=[3, 4, 5]),
        node(3, 300, 300, "circle", targets=[6]),
        node(4, 500, 300, "circle", targets=[6]),
        node(5, 700, 300, "circle", targets=[6]),
        node(6, 500, 500, "circle"),
    )
)


def example(name: str) -> Diagram:
    return read_diagram(str(ROOT / "examples" / f"{name}.txt")).diagram


# ---------------------------------------------------------------- the text


def test_cnn_example_is_one_node_per_box_left_to_right():
    direction, nodes, edges, styles = read_back(mermaid_text(example("cnn_layers")))
    assert direction == "LR"
    assert [label for _, label in nodes.values()] == [
        "Input 28x28x1",
        "Conv 3x3, 32",
        "MaxPool 2x2",
        "Conv 3x3, 64",
        "MaxPool 2x2",
        "FC 128",
        "Output 10",
    ]
    assert {shape for shape, _ in nodes.values()} == {"rectangle"}
    assert edges == [(f"n{i}", "-->", f"n{i + 1}") for i in range(1, 7)]
    assert styles["n1"] == ("#c6dbef", "#282828", "#000000") and styles["n7"][0] == "#c7e9c0"


def test_pipeline_example_keeps_shapes_and_every_edge():
    diagram = example("ml_pipeline")
    direction, nodes, edges, _ = read_back(mermaid_text(diagram))
    assert direction == "LR"
    assert (len(nodes), len(edges)) == (10, 10)
    assert nodes["n1"] == ("rectangle", "Raw CSV")
    assert nodes["n2"] == ("circle", "User DB")
    assert nodes["n8"] == ("round rectangle", "Random forest")
    assert sorted(edges) == sorted((f"n{n.id}", "-->", f"n{t}") for n in diagram.nodes for t in n.targets)


def test_dense_example_is_one_node_per_layer():
    direction, nodes, edges, styles = read_back(mermaid_text(example("dense_network")))
    assert direction == "LR"
    assert [label for _, label in nodes.values()] == ["Input · 2", "Hidden · 3", "Hidden · 5", "Output · 1"]
    names = list(nodes)
    assert edges == [(a, "-->", b) for a, b in zip(names, names[1:])]
    assert styles[names[0]][0] == "#c6dbef" and styles[names[-1]][0] == "#c7e9c0"  # input blue, output green


def test_a_large_dense_network_stays_three_lines_of_layers():
    diagram = dense_network([784, 128, 10], style="dashed line")  # drawn with "… 784" boxes
    assert len(diagram.nodes) > 10
    _, nodes, edges, _ = read_back(mermaid_text(diagram))
    assert [label for _, label in nodes.values()] == ["Input · 784", "Hidden · 128", "Output · 10"]
    assert [arrow for _, arrow, _ in edges] == ["-.-", "-.-"]


def test_a_dense_network_drawn_downwards_reads_top_to_bottom():
    direction, nodes, edges, _ = read_back(mermaid_text(VERTICAL_DENSE))
    assert direction == "TB"
    assert [label for _, label in nodes.values()] == ["Input · 2", "Hidden · 3", "Output · 1"]
    assert len(edges) == 2


def test_a_skip_connection_is_not_a_dense_network():
    # One more edge, from an input straight to the output: the layers no longer tell the wiring.
    nodes = tuple(replace(n, targets=n.targets + (11,)) if n.id == 1 else n for n in example("dense_network").nodes)
    _, shown, edges, _ = read_back(mermaid_text(Diagram(nodes)))
    assert len(shown) == 11 and len(edges) == 27
    assert shown["n11"] == ("circle", "11")  # an unlabelled node shows its node No.


def test_a_column_of_steps_reads_top_to_bottom():
    steps = Diagram(
        (
            node(1, 500, 100, targets=[2], label="Load"),
            node(2, 520, 300, targets=[3], label="Train"),
            node(3, 500, 500, label="Deploy"),
        )
    )
    assert read_back(mermaid_text(steps))[0] == "TB"


def test_line_styles_become_mermaid_links():
    diagram = Diagram(
        (
            node(1, 100, 300, style="solid arrow", targets=[2]),
            node(2, 300, 300, style="solid line", targets=[3]),
            node(3, 500, 300, style="dashed line", targets=[1], label="x"),
        )
    )
    _, _, edges, _ = read_back(mermaid_text(diagram))
    assert edges == [("n1", "-->", "n2"), ("n2", "---", "n3"), ("n3", "-.-", "n1")]


def test_tricky_labels_decode_back_exactly():
    _, nodes, _, _ = read_back(mermaid_text(TRICKY))
    assert [label for _, label in nodes.values()] == TRICKY_LABELS


def test_text_colour_is_readable_on_the_fill():
    diagram = Diagram((node(1, 100, 300, fill=(20, 20, 80), label="dark"), node(2, 300, 300, label="light")))
    _, _, _, styles = read_back(mermaid_text(diagram))
    assert styles["n1"] == ("#141450", "#000000", "#ffffff") and styles["n2"][2] == "#000000"


def test_blank_and_control_character_labels_fall_back_to_the_node_number():
    diagram = Diagram((node(1, 100, 300, label="\x00\x07", targets=[2]), node(2, 300, 300, label="ok\x00!")))
    _, nodes, _, _ = read_back(mermaid_text(diagram))
    assert nodes == {"n1": ("rectangle", "1"), "n2": ("rectangle", "ok!")}


# ---------------------------------------------------------------- Mermaid itself


def _cannot(reason: str) -> NoReturn:
    """Skip, with the reason; where Mermaid must run (DIAGRAMBOT_REQUIRE_MERMAID=1, as in CI), fail."""
    if os.environ.get("DIAGRAMBOT_REQUIRE_MERMAID"):
        pytest.fail(f"Mermaid itself must run here (DIAGRAMBOT_REQUIRE_MERMAID), but {reason}")
    pytest.skip(reason)


def run_mermaid(texts: list[str], tmp_path: Path) -> list[dict]:
    """What Mermaid's parser and renderer make of each text (tests/mermaid_check.mjs), or skip."""
    if shutil.which("node") is None:
        _cannot("node is not installed")
    if not all((MERMAID_DIR / "node_modules" / package).is_dir() for package in ("mermaid", "jsdom")):
        _cannot(f"no mermaid and jsdom in {MERMAID_DIR}/node_modules (run `npm ci` there, or `make setup`)")
    source = tmp_path / "texts.json"
    source.write_text(json.dumps(texts), encoding="utf-8")
    script = (Path(__file__).parent / "mermaid_check.mjs").read_text(encoding="utf-8")
    done = subprocess.run(
        ["node", "--input-type=module", "-e", script, str(source)],
        cwd=MERMAID_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


MERMAID_SHAPES = {"rectangle": "square", "round rectangle": "round", "circle": "circle"}
MERMAID_LINKS = {"-->": ("arrow_point", "normal"), "---": ("arrow_open", "normal"), "-.-": ("arrow_open", "dotted")}


def test_mermaid_reads_every_export_as_written(tmp_path):
    diagrams = [example(p.stem) for p in EXAMPLES] + [TRICKY, VERTICAL_DENSE, dense_network([784, 128, 10])]
    texts = [mermaid_text(d) for d in diagrams]
    results = run_mermaid(texts, tmp_path)
    assert len(results) == len(texts)
    for text, result in zip(texts, results):
        _, nodes, edges, _ = read_back(text)
        seen = {n["id"]: (n["type"], n["label"]) for n in result["nodes"]}
        # The renderer's own text, entity codes decoded, less the invisible word joiners.
        assert {name: (kind, JOINED.sub("", label)) for name, (kind, label) in seen.items()} == {
            name: (MERMAID_SHAPES[shape], label) for name, (shape, label) in nodes.items()
        }
        assert [(e["start"], e["end"], e["type"], e["stroke"]) for e in result["edges"]] == [
            (a, b, *MERMAID_LINKS[arrow]) for a, arrow, b in edges
        ]
    tricky = {n["id"]: JOINED.sub("", n["label"]) for n in results[len(EXAMPLES)]["nodes"]}
    assert list(tricky.values()) == TRICKY_LABELS
