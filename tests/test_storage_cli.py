"""``diagrambot db`` subcommands, driven through argparse and the handler."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import Database
from storage.commands import add_parser
from storage.transfer import _FIELDS, ImportFormatError, parse_jsonl

PNG = b"\x89PNG\r\n\x1a\n" + b"exported picture"
# Node lists as the bot stores them: json.dumps(diagram.as_lists()) of a parsed diagram.
NODES = json.dumps(
    [
        [1, 100, 300, "circle", 40, 40, "solid arrow", [255, 255, 255], [0, 0, 0], [2], "conv"],
        [2, 300, 300, "rectangle", 80, 40, "solid line", [200, 200, 255], [0, 0, 0], []],
    ]
)
OTHER_NODES = json.dumps([[1, 500, 300, "round rectangle", 120, 60, "dashed line", [255, 0, 0], [0, 0, 255], []]])
T = "2025-01-31T12:00:00.000000+00:00"


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="diagrambot")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def populate(db_path: Path, data_dir: Path) -> None:
    async def go() -> None:
        async with await Database.open(db_path, data_dir) as db:
            await db.upsert_user("u1", "Ada")
            request = await db.create_request("u1", "a CNN with two conv layers", guild_id=3, channel_id=4)
            latent = np.random.default_rng(1).standard_normal(32).astype(np.float32)
            c1 = await db.add_candidate(
                request,
                0,
                "conv conv fc",
                NODES,
                PNG,
                {"readability": 0.9, "cnn_score": 0.4, "note": 3},
                latent,
                "ae-1",
            )
            c2 = await db.add_candidate(request, 1, "conv fc", OTHER_NODES, None, {})
            await db.set_request_status(request, "done")
            await db.create_request("u2", "failed one", remix_of=request)  # made with Remix
            await db.add_post(1001, 4, c1)
            await db.set_rating("u1", c1, 5)
            await db.set_rating("u2", c1, 2)
            await db.set_rating("u2", c2, 3)

    asyncio.run(go())


async def snapshot(db_path: Path, data_dir: Path) -> dict:
    """Everything an export should carry, keyed by stable ids rather than row ids."""
    async with await Database.open(db_path, data_dir) as db:
        candidates = await db.all_candidates()
        uid = {c.id: c.uid for c in candidates}
        requests = {r.id: r for r in await db.recent_requests(100)}
        return {
            "users": sorted([(u, (await db.get_user(u)).name) for u in ("u1", "u2")]),
            "requests": sorted(
                (
                    r.uid,
                    r.user_id,
                    r.text,
                    r.status,
                    r.created,
                    r.guild_id,
                    requests[r.remix_of].uid if r.remix_of else None,
                )
                for r in requests.values()
            ),
            "candidates": sorted(
                (
                    c.uid,
                    requests[c.request_id].uid,
                    c.rank,
                    c.model_text,
                    c.nodes_json,
                    c.image_sha256,
                    c.readability,
                    c.cnn_score,
                    json.dumps(c.scores, sort_keys=True),
                    None if c.latent is None else c.latent.tobytes(),
                    c.latent_model_version,
                )
                for c in candidates
            ),
            "posts": [(1001, uid[await db.candidate_for_message(1001)])],
            "ratings": sorted((r.user_id, uid[r.candidate_id], r.value, r.updated) for r in await db.all_ratings()),
            "images": sorted(db.image_file(c).read_bytes() for c in candidates if c.image_path is not None),
        }


def test_export_import_round_trip_is_exact_and_idempotent(tmp_path: Path, capsys) -> None:
    src, src_data = tmp_path / "src.sqlite3", tmp_path / "src-data"
    dst, dst_data = tmp_path / "dst.sqlite3", tmp_path / "dst-data"
    out = tmp_path / "backup.jsonl"
    populate(src, src_data)

    assert cli("db", "export", "--db", str(src), "--data-dir", str(src_data), "--out", str(out), "--images") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["exported"] == {"header": 1, "user": 2, "request": 2, "candidate": 2, "post": 1, "rating": 3}
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["type"] for r in lines][:1] == ["header"]
    assert {r["request_text"] for r in lines if r["type"] == "candidate"} == {"a CNN with two conv layers"}

    assert cli("db", "import", "--db", str(dst), "--data-dir", str(dst_data), str(out)) == 0
    first = json.loads(capsys.readouterr().out)["imported"]
    assert first["added"] == {"user": 2, "request": 2, "candidate": 2, "post": 1, "rating": 3}
    expected = asyncio.run(snapshot(src, src_data))
    assert asyncio.run(snapshot(dst, dst_data)) == expected

    assert cli("db", "import", "--db", str(dst), "--data-dir", str(dst_data), str(out)) == 0
    second = json.loads(capsys.readouterr().out)["imported"]
    assert second["added"] == {"user": 0, "request": 0, "candidate": 0, "post": 0, "rating": 0}
    assert asyncio.run(snapshot(dst, dst_data)) == expected


def test_import_keeps_the_newer_of_two_ratings(tmp_path: Path, capsys) -> None:
    db_path, data = tmp_path / "db.sqlite3", tmp_path / "data"
    populate(db_path, data)
    assert cli("db", "export", "--db", str(db_path), "--out", str(tmp_path / "old.jsonl")) == 0

    async def rerate() -> None:
        async with await Database.open(db_path, data) as db:
            c1 = (await db.all_candidates())[0].id
            await db.set_rating("u1", c1, 1)

    asyncio.run(rerate())
    assert cli("db", "import", "--db", str(db_path), "--data-dir", str(data), str(tmp_path / "old.jsonl")) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["imported"]["added"]["rating"] == 0

    async def check() -> int:
        async with await Database.open(db_path, data) as db:
            return (await db.get_rating("u1", (await db.all_candidates())[0].id)).value

    assert asyncio.run(check()) == 1


def test_export_to_stdout_and_stats(tmp_path: Path, capsys) -> None:
    db_path, data = tmp_path / "db.sqlite3", tmp_path / "data"
    populate(db_path, data)
    assert cli("db", "export", "--db", str(db_path), "--data-dir", str(data), "--out", "-") == 0
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert sum(r["type"] == "rating" for r in records) == 3
    assert "image_png_b64" not in next(r for r in records if r["type"] == "candidate")
    assert json.loads(captured.err)["exported"]["candidate"] == 2

    assert cli("db", "stats", "--db", str(db_path), "--data-dir", str(data)) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    stats = json.loads(out[0])
    assert (stats["requests"], stats["candidates"], stats["ratings"], stats["raters"], stats["posts"]) == (
        2,
        2,
        3,
        2,
        1,
    )
    assert stats["requests_by_status"] == {"done": 1, "queued": 1}


def test_vacuum_keeps_data(tmp_path: Path, capsys) -> None:
    db_path, data = tmp_path / "db.sqlite3", tmp_path / "data"
    populate(db_path, data)
    before = asyncio.run(snapshot(db_path, data))
    assert cli("db", "vacuum", "--db", str(db_path), "--data-dir", str(data)) == 0
    assert json.loads(capsys.readouterr().out)["vacuumed"] == str(db_path)
    assert asyncio.run(snapshot(db_path, data)) == before


def test_malformed_import_line_exits_2_with_one_clear_line(tmp_path: Path, capsys) -> None:
    db_path, data = tmp_path / "db.sqlite3", tmp_path / "data"
    populate(db_path, data)
    good = tmp_path / "good.jsonl"
    assert cli("db", "export", "--db", str(db_path), "--out", str(good)) == 0
    capsys.readouterr()
    lines = good.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines[:3] + ['{"type": "rating", "user_id": "u9"'] + lines[3:]) + "\n")

    target = tmp_path / "target.sqlite3"
    assert cli("db", "import", "--db", str(target), "--data-dir", str(data), str(bad)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "line 4" in err[0] and "not valid JSON" in err[0]
    assert "Traceback" not in captured.err
    assert not target.exists()  # validation happens before the database is touched


def test_import_with_unknown_reference_imports_nothing(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"type": "user", "id": "u1", "name": None, "created": T})
        + "\n"
        + json.dumps(
            {"type": "rating", "user_id": "u1", "candidate_uid": "f" * 32, "value": 3, "created": T, "updated": T}
        )
        + "\n"
    )
    db_path = tmp_path / "db.sqlite3"
    assert cli("db", "import", "--db", str(db_path), "--data-dir", str(tmp_path), str(bad)) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and f"unknown candidate uid '{'f' * 32}'" in err

    async def users() -> list:
        async with await Database.open(db_path) as db:
            return [await db.get_user("u1")]

    assert asyncio.run(users()) == [None]  # the user on line 1 was rolled back too


@pytest.mark.parametrize(
    "argv, message",
    [
        (("db", "stats", "--db", "{tmp}/missing.sqlite3"), "database not found"),
        (("db", "export", "--db", "{tmp}/missing.sqlite3", "--out", "{tmp}/x.jsonl"), "database not found"),
        (("db", "import", "--db", "{tmp}/db.sqlite3", "{tmp}/missing.jsonl"), "missing.jsonl"),
        (("db", "stats", "--db", "{tmp}/garbage.sqlite3"), "not a database"),
    ],
)
def test_bad_paths_exit_2_without_traceback(tmp_path: Path, capsys, argv, message) -> None:
    (tmp_path / "garbage.sqlite3").write_bytes(b"this is not sqlite" * 100)
    assert cli(*(a.format(tmp=tmp_path) for a in argv)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "missing.sqlite3").exists()
    assert not (tmp_path / "x.jsonl").exists()


@pytest.mark.parametrize(
    "record, message",
    [
        (
            {"type": "rating", "user_id": "u", "candidate_uid": "c" * 32, "value": 9, "created": T, "updated": T},
            "outside 1..5",
        ),
        (
            {"type": "rating", "user_id": "u", "candidate_uid": "c" * 32, "value": True, "created": T, "updated": T},
            "wrong type",
        ),
        ({"type": "post", "message_id": 1, "channel_id": 2, "created": T}, "lacks 'candidate_uid'"),
        ({"type": "vote"}, "unknown record type"),
        ([1, 2], "expected a JSON object"),
        ({"type": "header", "format": 99}, "unsupported export format"),
    ],
)
def test_validation_messages(record, message) -> None:
    with pytest.raises(ImportFormatError, match=message):
        parse_jsonl([json.dumps(record)])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
FIELD_NAMES = sorted({name for fields in _FIELDS.values() for name in fields} | {"image_png_b64"})
RECORDS = st.fixed_dictionaries(
    {"type": st.sampled_from(sorted(_FIELDS) + ["other"])},
    optional={name: JSON_VALUES for name in FIELD_NAMES},
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), RECORDS.map(json.dumps)), max_size=4))
def test_parse_rejects_junk_only_with_format_errors(lines) -> None:
    """Whatever the file holds, the importer fails with ImportFormatError (exit 2), never a crash."""
    try:
        parse_jsonl(lines)
    except ImportFormatError:
        pass
