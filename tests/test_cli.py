"""`diagrambot render | score | demo`, in-process, plus one run of the installed console script."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from diagrambot.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.txt"))
DENSE = ROOT / "examples" / "dense_network.txt"
SEED = """[3, "120", '300', circle, 60, 60, solid arrow, "(255, 0, 255)", (0,0,0), '[5, 6]']
[5, 500, 300, circle, 60, 60, solid arrow, (255, 255, 255), (0, 0, 0), []]
[6, 700, 300, circle, 60, 60, solid arrow, (255, 255, 255), (0, 0, 0), []]
"""


def assert_one_clear_error(capsys, code: int) -> str:
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0], captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("diagrambot ")
    assert captured.out == ""
    return lines[0]


# ---------------------------------------------------------------- render


def test_render_writes_png_and_svg(tmp_path, capsys):
    png, svg = tmp_path / "out.png", tmp_path / "sub" / "out.svg"
    assert main(["render", str(DENSE), "-o", str(png), "--svg", str(svg)]) == 0
    with Image.open(png) as image:
        assert image.format == "PNG"
        assert image.size == (1000, 600)
    root = ET.parse(svg).getroot()
    nodes = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
    assert len(nodes) == 11
    assert capsys.readouterr().err == ""  # a clean example has no warnings


def test_render_scale(tmp_path):
    png = tmp_path / "half.png"
    assert main(["render", str(DENSE), "-o", str(png), "--scale", "0.5"]) == 0
    with Image.open(png) as image:
        assert image.size == (500, 300)


def test_render_svg_only(tmp_path):
    svg = tmp_path / "only.svg"
    assert main(["render", str(DENSE), "--svg", str(svg)]) == 0
    assert svg.read_text(encoding="utf-8").startswith("<svg")
    assert list(tmp_path.iterdir()) == [svg]


def test_render_from_stdin_reports_warnings(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(SEED + '[7, 100, 100, "circle", 40'))
    png = tmp_path / "seed.png"
    assert main(["render", "-", "-o", str(png)]) == 0
    with Image.open(png) as image:
        assert image.convert("RGB").getpixel((120, 300)) == (255, 0, 255)
    err = capsys.readouterr().err
    assert "warning:" in err and "cut off" in err


def test_render_without_outputs_fails_cleanly(capsys):
    line = assert_one_clear_error(capsys, main(["render", str(DENSE)]))
    assert "-o" in line


def test_render_without_outputs_names_drawio_and_mermaid(capsys):
    line = assert_one_clear_error(capsys, main(["render", str(DENSE)]))
    assert "--drawio" in line and "--mermaid" in line


def test_render_writes_drawio_and_mermaid(tmp_path, capsys):
    drawio, mermaid = tmp_path / "d" / "net.drawio", tmp_path / "net.mmd"
    assert main(["render", str(DENSE), "--drawio", str(drawio), "--mermaid", str(mermaid)]) == 0
    assert capsys.readouterr().err == ""
    assert sorted(tmp_path.rglob("*.*")) == sorted([drawio, mermaid])
    vertices = [c for c in ET.parse(drawio).getroot().iter("mxCell") if c.get("vertex") == "1"]
    assert len(vertices) == 11
    assert mermaid.read_text(encoding="utf-8").startswith("flowchart LR\n")


@pytest.mark.parametrize(
    "flag, name",
    [("--drawio", "out.xml.txt"), ("--drawio", "out"), ("--mermaid", "out.md"), ("--mermaid", "out.mmd.svg")],
)
def test_render_refuses_a_wrong_drawio_or_mermaid_suffix_before_writing(tmp_path, capsys, flag, name):
    line = assert_one_clear_error(
        capsys,
        main(
            [
                "render",
                str(DENSE),
                "-o",
                str(tmp_path / "a.png"),
                "--svg",
                str(tmp_path / "a.svg"),
                flag,
                str(tmp_path / name),
            ]
        ),
    )
    assert (".drawio" if flag == "--drawio" else ".mmd") in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("scale", ["0", "100", "nan"])
def test_render_bad_scale_fails_cleanly(tmp_path, capsys, scale):
    assert_one_clear_error(capsys, main(["render", str(DENSE), "-o", str(tmp_path / "x.png"), "--scale", scale]))


@pytest.mark.parametrize("name", ["out", "out.xyz"])
def test_render_to_unknown_image_extension_fails_cleanly(tmp_path, capsys, name):
    assert_one_clear_error(capsys, main(["render", str(DENSE), "-o", str(tmp_path / name)]))


# ---------------------------------------------------------------- score


def test_score_prints_one_json_object(capsys):
    assert main(["score", str(DENSE)]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    report = json.loads(out)
    assert set(report) == {"score", "metrics", "warnings"}
    assert 4.5 <= report["score"] <= 5
    assert report["warnings"] == []
    assert {
        "node_overlap",
        "inside_canvas",
        "edge_crossings",
        "edge_clearance",
        "spacing",
        "contrast",
        "alignment",
        "symmetry",
    } <= set(report["metrics"])
    assert all(0 <= v <= 1 for v in report["metrics"].values())


def test_score_reads_stdin(capsys, monkeypatch):
    monkeypatch.setattr(
        sys, "stdin", io.StringIO("```\n" + SEED + "[3, 1, 1, circle, 5, 5, solid, (0,0,0), (0,0,0), []]\n```")
    )
    assert main(["score", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0 <= report["score"] <= 5
    assert any("duplicate" in w for w in report["warnings"])


@pytest.mark.parametrize(
    "text",
    [
        "just some chatter, no diagram",
        "",
        "[" * 10000,
        "\n".join(f"[{i}, 1, 1, circle, 5, 5, solid, (0,0,0), (0,0,0), []]" for i in range(1000)),
    ],
)
@pytest.mark.parametrize("command", ["score", "render"])
def test_bad_text_fails_cleanly(tmp_path, capsys, text, command):
    path = tmp_path / "bad.txt"
    path.write_text(text, encoding="utf-8")
    args = [command, str(path)] + (["-o", str(tmp_path / "x.png")] if command == "render" else [])
    line = assert_one_clear_error(capsys, main(args))
    assert str(path) in line
    assert not (tmp_path / "x.png").exists()


def test_binary_garbage_fails_cleanly(tmp_path, capsys):
    path = tmp_path / "bin.txt"
    path.write_bytes(bytes(range(256)) * 10)
    assert_one_clear_error(capsys, main(["score", str(path)]))


@pytest.mark.parametrize("command", ["score", "render"])
def test_missing_file_fails_cleanly(tmp_path, capsys, command):
    missing = tmp_path / "nope.txt"
    args = [command, str(missing)] + (["-o", str(tmp_path / "x.png")] if command == "render" else [])
    line = assert_one_clear_error(capsys, main(args))
    assert "nope.txt" in line


def test_directory_as_file_fails_cleanly(tmp_path, capsys):
    assert_one_clear_error(capsys, main(["score", str(tmp_path)]))


def test_a_line_break_in_a_file_name_still_gives_one_line(tmp_path, capsys):
    line = assert_one_clear_error(capsys, main(["score", str(tmp_path / "two\nlines.txt")]))
    assert "two lines.txt" in line


@pytest.mark.parametrize(
    "error, code, message",
    [
        (RuntimeError("boom\nsecond line"), 1, "internal error: RuntimeError: boom second line (run with -v"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
)
def test_an_unexpected_error_is_one_line_and_a_non_zero_exit(capsys, monkeypatch, error, code, message):
    from ml import commands

    def fail(args):
        raise error

    monkeypatch.setattr(commands, "run_score", fail)
    assert main(["score", str(DENSE)]) == code
    captured = capsys.readouterr()
    assert captured.err.startswith(f"diagrambot score: {message}")
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


# ---------------------------------------------------------------- generate: config and --ratings, checked first

REQUEST = "a network with 2 inputs and 1 output"
NODES = [
    [1, 100, 200, "circle", 60, 60, "solid arrow", [255, 255, 255], [0, 0, 0], [2], "입력"],
    [2, 300, 200, "rectangle", 60, 60, "solid line", [255, 0, 0], [0, 0, 0], []],
]
GOOD_RATING = json.dumps({"user_id": 7, "value": 4, "nodes": NODES}, ensure_ascii=False)


def with_node(index: int, value) -> str:
    """A rating line whose first node has `value` in field `index` (JSON text, so NaN and Infinity stay)."""
    row = list(NODES[0])
    row[index] = "@"
    return json.dumps({"user_id": 7, "value": 4, "nodes": [row, NODES[1]]}).replace('"@"', value)


def ratings_file(tmp_path, *lines: str) -> Path:
    path = tmp_path / "ratings.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_generate_with_a_mistyped_config_is_one_clear_error(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text('[pipeline]\ncandidates = "x"\n', encoding="utf-8")
    out = tmp_path / "out"
    line = assert_one_clear_error(capsys, main(["generate", REQUEST, "--config", str(config), "--out", str(out)]))
    assert line == 'diagrambot generate: config: [pipeline] candidates must be an integer, got "x"'
    assert not out.exists()


def test_generate_refuses_bad_ratings_before_loading_a_model(tmp_path, capsys, monkeypatch):
    import ml.service

    def no_model(settings):
        raise AssertionError("the model must not load for a bad ratings file")

    monkeypatch.setattr(ml.service, "DiagramService", no_model)
    ratings, out = ratings_file(tmp_path, GOOD_RATING, with_node(1, "Infinity")), tmp_path / "out"
    line = assert_one_clear_error(capsys, main(["generate", REQUEST, "--ratings", str(ratings), "--out", str(out)]))
    assert line == f"diagrambot generate: {ratings}: line 2: not a rating (Infinity is not a number)"
    assert not out.exists()


@pytest.mark.parametrize(
    "line, reason",
    [
        (with_node(1, "Infinity"), "Infinity is not a number"),
        (with_node(2, "-Infinity"), "-Infinity is not a number"),
        (with_node(1, "1e999"), "1e999 is too large a number"),
        (with_node(1, "5000"), "node 1: x must be a number from -1000 to 2000, got 5000"),
        (with_node(4, '"wide"'), 'node 1: width must be a number from 2 to 2000, got "wide"'),
        (with_node(0, "true"), "node 1: id must be a whole number from 0 to 1000000000, got true"),
        (with_node(3, '"triangle"'), "node 1: shape must be one of rectangle, round rectangle, circle"),
        (with_node(7, "[255, 255]"), "node 1: fill colour must be [R, G, B], got [255, 255]"),
        (with_node(8, "[0, 0, 300]"), "node 1: line colour must be a whole number from 0 to 255, got 300"),
        (with_node(9, "[9]"), "nodes: node 1: each target must be another node, listed once"),
        (with_node(9, "[1]"), "nodes: node 1: each target must be another node, listed once"),
        (with_node(9, "[2, 2]"), "nodes: node 1: each target must be another node, listed once"),
        (with_node(9, json.dumps([2] * 101)), "node 1: targets must be a list of at most 100 node ids"),
        (with_node(10, '{"a": 1}'), "node 1: the label must be a string of at most 80 characters"),
        (with_node(10, json.dumps("x" * 81)), "the label must be a string of at most 80 characters"),
        (with_node(0, "2"), "two nodes share an id"),
        (
            '{"user_id": 7, "value": NaN, "text": "[1, 1, 1, circle, 5, 5, solid, (0,0,0), (0,0,0), []]"}',
            "NaN is not a number",
        ),
        ('{"user_id": 7, "value": 6, "text": "x"}', "value must be a whole number from 1 to 5, got 6"),
        ('{"user_id": 7, "value": 4.5, "text": "x"}', "value must be a whole number from 1 to 5, got 4.5"),
        ('{"user_id": 7, "value": "5", "text": "x"}', 'value must be a whole number from 1 to 5, got "5"'),
        ('{"user_id": null, "value": 5, "text": "x"}', "user_id must be a string or an integer"),
        ('{"user_id": 7, "value": 5, "text": ["x"]}', "text must be a string"),
        ('{"user_id": 7, "value": 5, "text": "no diagram"}', "no node list found"),
        ('{"user_id": 7, "value": 5}', "give the diagram as either text or nodes"),
        ('{"user_id": 7, "value": 5, "nodes": {}}', "nodes must be a list of 1 to 400 node lists"),
        ('{"user_id": 7, "value": 5, "nodes": [[1, 2]]}', "node 1: expected a list of 10 or 11 fields"),
        ('{"user_id": 7, "value": 5, "nodes": [], "vaule": 5}', "unknown key(s) vaule"),
        ('{"user_id": 7, "value": 5, "nodes": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
        ("[1, 2]", "expected a JSON object"),
        ("{not json", "Expecting property name"),
    ],
)
def test_every_field_of_a_rating_is_checked_with_its_line(tmp_path, line, reason):
    from ml.commands import load_ratings
    from ml.errors import UserError

    path = ratings_file(tmp_path, GOOD_RATING, "", line)
    with pytest.raises(UserError) as caught:
        load_ratings(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}: line 3: not a rating (") and reason in message and "\n" not in message


def test_good_ratings_load_as_user_value_and_diagram(tmp_path):
    from ml.commands import load_ratings

    text = '{"user_id": "u1", "value": 1, "text": "[1, 120, 300, circle, 60, 60, solid arrow, (0,0,0), (0,0,0), []]"}'
    (user, value, diagram), (user2, value2, diagram2) = load_ratings(str(ratings_file(tmp_path, GOOD_RATING, text)))
    assert (user, value) == ("7", 4) and diagram.as_lists() == NODES
    assert (user2, value2) == ("u1", 1) and [n.x for n in diagram2.nodes] == [120]


def test_a_ratings_file_is_bounded_in_lines_bytes_and_edges(tmp_path, monkeypatch):
    from ml import commands
    from ml.errors import UserError

    path = ratings_file(tmp_path, *[GOOD_RATING] * 4)
    monkeypatch.setattr(commands, "MAX_RATINGS", 3)
    with pytest.raises(UserError, match="line 4: more than 3 ratings"):
        commands.load_ratings(str(path))
    monkeypatch.setattr(commands, "MAX_RATINGS_BYTES", 100)
    with pytest.raises(UserError, match="larger than 100 bytes"):
        commands.load_ratings(str(path))
    monkeypatch.setattr(commands, "MAX_RATINGS_BYTES", 1024 * 1024)
    dense = [
        [i, 100, 100, "circle", 10, 10, "solid line", [0, 0, 0], [0, 0, 0], [t for t in range(50) if t != i]]
        for i in range(50)
    ]  # 50 * 49 = 2450 edges
    ratings_file(tmp_path, json.dumps({"user_id": 7, "value": 4, "nodes": dense}))
    with pytest.raises(UserError, match="line 1: not a rating \\(nodes: more than 2000 edges\\)"):
        commands.load_ratings(str(path))
    path.write_bytes(b'{"user_id": 7, "value": 4, "text": "\xff"}\n')
    with pytest.raises(UserError, match=r"not UTF-8 text \(byte 36\)"):
        commands.load_ratings(str(path))


@pytest.mark.parametrize(
    "option, message",
    [(["--top", "0"], "--top must be at least 1"), (["--seed", str(2**40)], "--seed must be between 0 and")],
)
def test_generate_bounds_top_and_seed(tmp_path, capsys, option, message):
    line = assert_one_clear_error(capsys, main(["generate", REQUEST, "--out", str(tmp_path / "out"), *option]))
    assert message in line


# ---------------------------------------------------------------- demo


def test_demo_writes_one_png_per_example_and_scores(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    stems = {p.stem for p in EXAMPLES}
    assert {p.stem for p in out.glob("*.png")} == stems
    for png in out.glob("*.png"):
        with Image.open(png) as image:
            assert image.size == (1000, 600)
    scores = json.loads((out / "scores.json").read_text(encoding="utf-8"))
    assert set(scores) == stems
    for report in scores.values():
        assert set(report) == {"score", "metrics", "warnings"}
        assert 4.5 <= report["score"] <= 5
    assert len(capsys.readouterr().out.strip().splitlines()) == len(stems)


# ---------------------------------------------------------------- the installed console script


def test_console_script_is_installed():
    script = Path(sys.executable).parent / "diagrambot"
    assert script.exists(), f"{script} missing: is the package installed (pip install -e .)?"
    done = subprocess.run([str(script), "score", "-"], input=SEED, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"score", "metrics", "warnings"}
    assert 0 <= report["score"] <= 5
