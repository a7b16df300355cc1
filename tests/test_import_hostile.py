"""``diagrambot db import`` on hostile files: one clear line naming line and field, nothing written."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from pathlib import Path

import numpy as np
import pytest

from storage import Database
from storage.commands import add_parser
from storage.transfer import LATENT_SIZE, MAX_LINE_CHARS, ImportFormatError, parse_jsonl, read_lines

PNG = b"\x89PNG\r\n\x1a\n" + b"hostile test picture"
NODES = [
    [1, 100, 300, "circle", 40, 40, "solid arrow", [255, 255, 255], [0, 0, 0], [2], "conv"],
    [2, 300, 300, "rectangle", 80, 40, "solid line", [200, 200, 255], [0, 0, 0], []],
]


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="diagrambot")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> list[str]:
    """The lines of a valid ``db export --images`` of one request, candidate, post and rating."""
    folder = tmp_path_factory.mktemp("source")

    async def populate() -> None:
        async with await Database.open(folder / "src.sqlite3", folder / "data") as db:
            request = await db.create_request("u1", "a CNN", guild_id=3, channel_id=4)
            latent = np.linspace(-1, 1, LATENT_SIZE, dtype=np.float32)
            candidate = await db.add_candidate(
                request, 0, "text", json.dumps(NODES), PNG, {"readability": 0.9}, latent, "ae-1"
            )
            await db.set_request_status(request, "done")
            await db.add_post(1001, 4, candidate)
            await db.set_rating("u1", candidate, 4)

    asyncio.run(populate())
    out = folder / "export.jsonl"
    assert (
        cli(
            "db",
            "export",
            "--db",
            str(folder / "src.sqlite3"),
            "--data-dir",
            str(folder / "data"),
            "--out",
            str(out),
            "--images",
        )
        == 0
    )
    return out.read_text().splitlines()


@pytest.fixture
def target(tmp_path) -> tuple[Path, Path]:
    """A database that already holds a user, to show a failed import leaves it as it was."""
    db_path, data = tmp_path / "target.sqlite3", tmp_path / "target-data"

    async def create() -> None:
        async with await Database.open(db_path, data) as db:
            await db.upsert_user("existing", "Eve")

    asyncio.run(create())
    return db_path, data


def state(db_path: Path, data: Path) -> tuple:
    """Row counts and image files: what an import would change."""

    async def counts() -> dict:
        async with await Database.open(db_path, data) as db:
            stats = await db.stats()
        return {k: stats[k] for k in ("users", "requests", "candidates", "posts", "ratings")}

    files = sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file()) if data.exists() else []
    return asyncio.run(counts()), files


def import_fails(tmp_path: Path, target, text: str, capsys) -> str:
    """Import ``text``; assert exit 2, one error line, no traceback, target unchanged; return the line."""
    db_path, data = target
    before = state(db_path, data)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(text, encoding="utf-8", errors="surrogatepass")
    capsys.readouterr()
    assert cli("db", "import", "--db", str(db_path), "--data-dir", str(data), str(bad)) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "nothing was imported" in lines[0]
    assert state(db_path, data) == before
    return lines[0]


def mutated(lines: list[str], kind: str, change) -> tuple[str, int]:
    """The export with the first ``kind`` record changed by ``change(record)``; and its line number."""
    out = list(lines)
    for index, line in enumerate(out):
        record = json.loads(line)
        if record["type"] == kind:
            change(record)
            out[index] = json.dumps(record)
            return "\n".join(out) + "\n", index + 1
    raise AssertionError(f"no {kind} record")


def setter(field: str, value):
    return lambda record: record.__setitem__(field, value)


NAN_LATENT = [0.0] * (LATENT_SIZE - 1) + [float("nan")]
HEXAGON = json.dumps([[1, 100, 300, "hexagon", 40, 40, "solid arrow", [255, 255, 255], [0, 0, 0], []]])
OFF_CANVAS = json.dumps([[1, 99999, 300, "circle", 40, 40, "solid arrow", [255, 255, 255], [0, 0, 0], []]])


@pytest.mark.parametrize(
    "kind, change, field",
    [
        ("candidate", setter("nodes_json", "not json"), "nodes_json"),
        ("candidate", setter("nodes_json", '[{"id": "c"}]'), "nodes_json"),
        ("candidate", setter("nodes_json", "[]"), "nodes_json"),
        ("candidate", setter("nodes_json", HEXAGON), "nodes_json"),
        ("candidate", setter("nodes_json", OFF_CANVAS), "nodes_json"),
        ("candidate", setter("nodes_json", "[" * 100_000), "nodes_json"),
        ("candidate", setter("scores", {"readability": float("nan")}), "scores"),
        ("candidate", setter("scores", {"final_score": float("inf")}), "scores"),
        ("candidate", setter("scores", {"final_score": "high"}), "scores"),
        ("candidate", setter("latent", [0.1, 0.2, 0.3]), "latent"),
        ("candidate", setter("latent", NAN_LATENT), "latent"),
        ("candidate", setter("rank", -1), "rank"),
        ("candidate", setter("latent_model_version", ""), "latent_model_version"),
        ("rating", setter("updated", "zzzz"), "updated"),
        ("rating", setter("created", "2025-01-31 12:00:00"), "created"),
        ("rating", setter("user_id", ""), "user_id"),
        ("request", setter("finished", "2025-01-31T12:00:00Z"), "finished"),
        ("request", setter("uid", "x"), "uid"),
        ("request", setter("text", "\ud800"), "text"),
        ("post", setter("message_id", 0), "message_id"),
        ("post", setter("channel_id", -5), "channel_id"),
    ],
)
def test_a_bad_field_fails_naming_line_and_field_and_writes_nothing(
    export, tmp_path, target, capsys, kind, change, field
) -> None:
    text, number = mutated(export, kind, change)
    message = import_fails(tmp_path, target, text, capsys)
    assert f"line {number}: {kind} field '{field}'" in message

    # The file failed because of its one change: the export it came from imports whole.
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(export) + "\n")
    db_path, data = target
    assert cli("db", "import", "--db", str(db_path), "--data-dir", str(data), str(good)) == 0
    counts, files = state(db_path, data)
    assert counts == {"users": 2, "requests": 1, "candidates": 1, "posts": 1, "ratings": 1}
    assert len(files) == 1


def test_a_line_of_100000_brackets_is_one_clear_error(tmp_path, target, capsys) -> None:
    message = import_fails(tmp_path, target, "[" * 100_000 + "\n", capsys)
    assert "line 1: not valid JSON (nested too deeply)" in message


def test_an_integer_too_long_to_convert_is_one_clear_error(tmp_path, target, capsys) -> None:
    message = import_fails(tmp_path, target, '{"type": "header", "format": ' + "1" * 5000 + "}\n", capsys)
    assert "line 1: not valid JSON" in message


def test_a_line_over_the_limit_is_refused_with_its_number(export, tmp_path, target, capsys) -> None:
    user = {"type": "user", "id": "u9", "name": None, "created": "2025-01-31T12:00:00.000000+00:00"}
    skeleton = json.dumps({**user, "pad": ""})
    at_limit = json.dumps({**user, "pad": "x" * (MAX_LINE_CHARS - len(skeleton))})
    over = json.dumps({**user, "pad": "x" * (MAX_LINE_CHARS - len(skeleton) + 1)})
    assert len(at_limit) == MAX_LINE_CHARS and len(over) == MAX_LINE_CHARS + 1
    assert [n for n, _ in parse_jsonl([export[0], at_limit])] == [1, 2]
    message = import_fails(tmp_path, target, "\n".join([export[0], over, *export[1:]]) + "\n", capsys)
    assert f"line 2: line is longer than {MAX_LINE_CHARS:,} characters" in message


def test_a_long_line_is_not_read_whole() -> None:
    stream = io.StringIO('{"type": "header", "format": 1}\n' + "x" * (3 * MAX_LINE_CHARS) + "\n")
    with pytest.raises(ImportFormatError, match="line 2: line is longer"):
        parse_jsonl(read_lines(stream))
    assert stream.tell() < 2 * MAX_LINE_CHARS


def test_a_dangling_reference_writes_no_image_either(export, tmp_path, target, capsys) -> None:
    """The candidate (with its PNG) refers to a request the file and the database lack."""
    without_request = [line for line in export if json.loads(line)["type"] != "request"]
    message = import_fails(tmp_path, target, "\n".join(without_request) + "\n", capsys)
    assert "unknown request uid" in message
