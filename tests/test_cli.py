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
    assert capsys.readouterr().err == ""      # a clean example has no warnings


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
    assert {"node_overlap", "inside_canvas", "edge_crossings", "edge_clearance", "spacing", "contrast",
            "alignment", "symmetry"} <= set(report["metrics"])
    assert all(0 <= v <= 1 for v in report["metrics"].values())


def test_score_reads_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("```\n" + SEED + "[3, 1, 1, circle, 5, 5, solid, (0,0,0), (0,0,0), []]\n```"))
    assert main(["score", "-"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0 <= report["score"] <= 5
    assert any("duplicate" in w for w in report["warnings"])


@pytest.mark.parametrize("text", ["just some chatter, no diagram", "", "[" * 10000,
                                  "\n".join(f"[{i}, 1, 1, circle, 5, 5, solid, (0,0,0), (0,0,0), []]"
                                            for i in range(1000))])
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
