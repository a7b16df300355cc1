"""JSONL export and import of the collected data, for backups and training sets.

One JSON object per line, each with a ``type``: a ``header`` first, then
``user``, ``request``, ``candidate``, ``post`` and ``rating`` records, in that
order so every reference points backwards. Requests and candidates carry the
``uid`` they got at creation, so importing the same file twice (or into a
database that already holds some of it) adds nothing new; a rating already
present is replaced only by a more recently updated one. Image bytes are
included (base64) only on request; otherwise the image files are backed up by
copying the data dir.

Every line is validated before anything is written, to the standard the rest
of the project relies on: ``nodes_json`` must be a node list that
``ml.parser`` reads unchanged (the Spec/Download buttons and retraining rebuild
the diagram from it), scores and latents finite, a latent exactly
``LATENT_SIZE`` long, timestamps in the database's own UTC format (ratings
are merged by comparing them as text), ids and enums in range. A line longer
than ``MAX_LINE_CHARS`` is refused before it is read whole. The first bad
line stops the import with its line number and field; nothing is written.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import IO, Any

import numpy as np

from ml.diagram import Diagram
from ml.parser import MAX_TEXT_CHARS, ParseError, parse

from .db import SCORE_COLUMNS, Database, blob_to_latent, latent_to_blob, to_json, utc_now
from .images import ImageStore
from .models import RATING_MAX, RATING_MIN, REQUEST_STATUSES
from .schema import LATEST_VERSION

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
RECORD_ORDER = ("user", "request", "candidate", "post", "rating")

_STR, _INT, _NUM, _DICT, _LIST = str, int, (int, float), dict, list
_NONE = type(None)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FLOAT32_MAX = float(np.finfo(np.float32).max)

# Longest accepted line, in characters. A candidate line exported with --images
# carries its PNG in base64: at most ~2.5 MB for the 1000x600 canvas, plus a
# node list of at most ml.parser.MAX_TEXT_CHARS.
MAX_LINE_CHARS = 4_000_000
# Length of every stored latent: the autoencoder's (ml/scoring/nets.py
# ConvAutoencoder, models/scorers/ae.json "latent": 32). The k-NN and the
# retrain expect this length for every candidate.
LATENT_SIZE = 32
# Longest user id, model version name; uids are uuid4 hex (storage.db.new_uid).
MAX_NAME_CHARS = 100
_UID = re.compile(r"[0-9a-f]{32}")
_UID_FIELDS = ("uid", "request_uid", "candidate_uid", "remix_of_uid")
_SNOWFLAKE_FIELDS = ("message_id", "channel_id", "guild_id")
_TIMESTAMP_FIELDS = ("created", "updated", "finished")
_NAME_FIELDS = {("user", "id"), ("request", "user_id"), ("rating", "user_id"), ("candidate", "latent_model_version")}

# Field name -> accepted JSON types. Every listed field is required (it may be
# null where NoneType is accepted); unknown fields are ignored so later
# exporters can add some.
_FIELDS: dict[str, dict[str, Any]] = {
    "header": {"format": _INT},
    "user": {"id": _STR, "name": (_STR, _NONE), "created": _STR},
    "request": {
        "uid": _STR,
        "user_id": _STR,
        "guild_id": (_INT, _NONE),
        "channel_id": (_INT, _NONE),
        "text": _STR,
        "created": _STR,
        "status": _STR,
        "error": (_STR, _NONE),
        "finished": (_STR, _NONE),
    },
    "candidate": {
        "uid": _STR,
        "request_uid": _STR,
        "rank": _INT,
        "model_text": _STR,
        "nodes_json": _STR,
        "image_sha256": (_STR, _NONE),
        "scores": _DICT,
        "latent": (_LIST, _NONE),
        "latent_model_version": (_STR, _NONE),
    },
    "post": {"message_id": _INT, "channel_id": _INT, "candidate_uid": _STR, "created": _STR},
    "rating": {
        "user_id": _STR,
        "candidate_uid": _STR,
        "value": _INT,
        "created": _STR,
        "updated": _STR,
    },
}


class ImportFormatError(ValueError):
    """A line of an import file is not a valid record; nothing was imported."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


# ---------------------------------------------------------------------- export


async def export_jsonl(db: Database, write: Callable[[str], Any], *, include_images: bool = False) -> dict[str, int]:
    """Write every record as one JSON line through ``write``; return counts per type.

    Reads inside one transaction, so the export is a consistent snapshot even
    while the bot keeps writing through another connection.
    """
    counts: Counter[str] = Counter()

    def emit(record: dict[str, Any]) -> None:
        write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
        counts[record["type"]] += 1

    async with db._lock:
        conn = db._conn
        await conn.execute("BEGIN")
        try:
            emit({"type": "header", "format": FORMAT_VERSION, "schema_version": LATEST_VERSION, "exported": utc_now()})
            async with conn.execute("SELECT * FROM users ORDER BY id") as cur:
                async for r in cur:
                    emit({"type": "user", "id": r["id"], "name": r["name"], "created": r["created"]})
            async with conn.execute(
                """SELECT r.*, p.uid AS remix_of_uid FROM requests r
                   LEFT JOIN requests p ON p.id = r.remix_of ORDER BY r.id"""
            ) as cur:
                async for r in cur:
                    emit(
                        {"type": "request", **{k: r[k] for k in _FIELDS["request"]}, "remix_of_uid": r["remix_of_uid"]}
                    )
            async with conn.execute(
                """SELECT c.*, r.uid AS request_uid, r.text AS request_text
                   FROM candidates c JOIN requests r ON r.id = c.request_id ORDER BY c.id"""
            ) as cur:
                async for r in cur:
                    emit(_candidate_record(r, db.images, include_images, counts))
            async with conn.execute(
                """SELECT p.*, c.uid AS candidate_uid FROM posts p
                   JOIN candidates c ON c.id = p.candidate_id ORDER BY p.message_id"""
            ) as cur:
                async for r in cur:
                    emit(
                        {
                            "type": "post",
                            "message_id": r["message_id"],
                            "channel_id": r["channel_id"],
                            "candidate_uid": r["candidate_uid"],
                            "created": r["created"],
                        }
                    )
            async with conn.execute(
                """SELECT g.*, c.uid AS candidate_uid FROM ratings g
                   JOIN candidates c ON c.id = g.candidate_id ORDER BY c.id, g.user_id"""
            ) as cur:
                async for r in cur:
                    emit(
                        {
                            "type": "rating",
                            "user_id": r["user_id"],
                            "candidate_uid": r["candidate_uid"],
                            "value": r["value"],
                            "created": r["created"],
                            "updated": r["updated"],
                        }
                    )
        finally:
            await conn.execute("COMMIT")
    return dict(counts)


def _candidate_record(r: Any, images: ImageStore, include_images: bool, counts: Counter[str]) -> dict[str, Any]:
    latent = blob_to_latent(r["latent"])
    record = {
        "type": "candidate",
        "uid": r["uid"],
        "request_uid": r["request_uid"],
        "request_text": r["request_text"],  # convenience for training sets
        "rank": r["rank"],
        "model_text": r["model_text"],
        "nodes_json": r["nodes_json"],
        "image_path": r["image_path"],
        "image_sha256": r["image_sha256"],
        "scores": json.loads(r["scores_json"]),
        # float32 -> Python float -> float32 is exact, so a list loses nothing.
        "latent": None if latent is None else latent.tolist(),
        "latent_model_version": r["latent_model_version"],
    }
    if include_images and r["image_sha256"]:
        png = images.read(r["image_sha256"])
        if png is None:
            counts["missing_images"] += 1
        else:
            record["image_png_b64"] = base64.b64encode(png).decode("ascii")
    return record


# ---------------------------------------------------------------------- import


def read_lines(stream: IO[str]) -> Iterator[str]:
    """The stream's lines, each cut at ``MAX_LINE_CHARS`` + 2 so a huge line is never read whole.

    A longer line comes out as its first piece, which ``parse_jsonl`` rejects
    with the line's number; the rest is never read.
    """
    return iter(lambda: stream.readline(MAX_LINE_CHARS + 2), "")


def parse_jsonl(lines: Iterable[str]) -> list[tuple[int, dict[str, Any]]]:
    """Parse and validate every line before anything is written; blank lines are skipped."""
    records = []
    for number, line in enumerate(lines, start=1):
        if len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
            raise ImportFormatError(number, f"line is longer than {MAX_LINE_CHARS:,} characters")
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(number, f"not valid JSON ({exc.msg})") from None
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            raise ImportFormatError(number, f"not valid JSON ({exc})") from None
        except RecursionError:
            raise ImportFormatError(number, "not valid JSON (nested too deeply)") from None
        _validate(number, record)
        records.append((number, record))
    return records


def _validate(number: int, record: Any) -> None:
    def fail(message: str) -> None:
        raise ImportFormatError(number, message)

    if not isinstance(record, dict):
        fail("expected a JSON object")
    kind = record.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        fail(f"unknown record type {kind!r}")
    for name, types in _FIELDS[kind].items():
        if name not in record:
            fail(f"{kind} record lacks {name!r}")
        value = record[name]
        accepted = types if isinstance(types, tuple) else (types,)
        if isinstance(value, bool) or not isinstance(value, accepted):
            fail(f"{kind} field {name!r} has the wrong type ({type(value).__name__})")
        if value is not None:
            problem = _field_problem(kind, name, value)
            if problem:
                fail(f"{kind} field {name!r} {problem}")
    if kind == "header" and record["format"] != FORMAT_VERSION:
        fail(f"unsupported export format {record['format']} (this code reads {FORMAT_VERSION})")
    if kind == "request" and record["status"] not in REQUEST_STATUSES:
        fail(f"request status {record['status']!r} not in {REQUEST_STATUSES}")
    remix_of = record.get("remix_of_uid")  # optional: exports before the Remix button lack it
    if kind == "request" and remix_of is not None:
        if not isinstance(remix_of, str):
            fail(f"request field 'remix_of_uid' has the wrong type ({type(remix_of).__name__})")
        problem = _field_problem(kind, "remix_of_uid", remix_of)
        if problem:
            fail(f"request field 'remix_of_uid' {problem}")
    if kind == "rating" and not RATING_MIN <= record["value"] <= RATING_MAX:
        fail(f"rating value {record['value']} outside {RATING_MIN}..{RATING_MAX}")
    if kind == "candidate":
        sha = record["image_sha256"]
        png_b64 = record.get("image_png_b64")
        if png_b64 is not None:
            try:
                png = base64.b64decode(png_b64, validate=True)
            except (binascii.Error, TypeError, ValueError):
                fail("candidate field 'image_png_b64' is not base64")
            if ImageStore.digest(png) != sha:
                fail("candidate image bytes do not match image_sha256")


def _field_problem(kind: str, name: str, value: Any) -> str:
    """What is wrong with one non-null field value of a well-typed record, or ''."""
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        return "does not fit in 64 bits"
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode (lone surrogate)"
    if name in _UID_FIELDS and not _UID.fullmatch(value):
        return "is not a uid (32 lowercase hex digits)"
    if name in _SNOWFLAKE_FIELDS and value <= 0:
        return "must be a positive id"
    if name in _TIMESTAMP_FIELDS and not _is_timestamp(value):
        return "is not a UTC timestamp like 2025-01-31T12:00:00.000000+00:00"
    if (kind, name) in _NAME_FIELDS and not (0 < len(value) <= MAX_NAME_CHARS and value.isprintable()):
        return f"must be 1 to {MAX_NAME_CHARS} printable characters"
    if name == "rank" and value < 0:
        return "must not be negative"
    if name == "nodes_json":
        return _nodes_problem(value)
    if name == "scores":
        for key, score in value.items():
            if score is not None and not _is_finite(score):
                return f"has {key!r} = {score!r}, not a finite number or null"
    if name == "latent":
        if len(value) != LATENT_SIZE:
            return f"must hold {LATENT_SIZE} numbers, got {len(value)}"
        if not all(_is_finite(x) and abs(x) <= _FLOAT32_MAX for x in value):
            return "must be a list of finite float32 numbers"
    if name == "image_sha256":
        try:
            ImageStore.relative_path(value)
        except ValueError as exc:
            return f"is {exc}"
    return ""


def _is_finite(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


def _is_timestamp(text: str) -> bool:
    """True for exactly the format of ``storage.db.utc_now``, the only one that sorts as text."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return False
    return parsed.utcoffset() == timedelta(0) and parsed.isoformat(timespec="microseconds") == text


def _nodes_problem(text: str) -> str:
    """'' when ``text`` is a JSON node list that the parser reads unchanged.

    The bot stores ``json.dumps(diagram.as_lists())`` of a parsed diagram, and
    its readers rebuild it with ``Diagram.from_lists``, which trusts its input;
    so the stored list must be exactly what the parser makes of it.
    """
    if len(text) > MAX_TEXT_CHARS:
        return f"is longer than {MAX_TEXT_CHARS:,} characters"
    try:
        rows = json.loads(text)
    except (ValueError, RecursionError):
        return "is not JSON"
    try:
        result = parse(text)
    except ParseError as exc:
        return f"is not a node list ({exc})"
    try:
        stored = Diagram.from_lists(rows)
    except (TypeError, ValueError, OverflowError):
        return "is not a list of node lists"
    if stored != result.diagram:
        why = result.warnings[0] if result.warnings else "ids, ranges, shapes or targets"
        return f"is not a node list the parser reads unchanged ({why})"
    return ""


async def import_records(db: Database, records: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
    """Apply validated records in one transaction (all or nothing); return counts.

    ``read`` counts records per type; ``added`` counts rows that were new or,
    for ratings, replaced by a newer version.
    """
    read: Counter[str] = Counter(record["type"] for _, record in records)
    added: Counter[str] = Counter()
    request_ids: dict[str, int] = {}
    candidate_ids: dict[str, int] = {}

    async def lookup(table: str, uid: str, cache: dict[str, int], number: int) -> int:
        if uid not in cache:
            rows = list(await conn.execute_fetchall(f"SELECT id FROM {table} WHERE uid = ?", (uid,)))
            if not rows:
                raise ImportFormatError(number, f"refers to unknown {table[:-1]} uid {uid!r}")
            cache[uid] = rows[0][0]
        return cache[uid]

    async def ensure_user(user_id: str, created: str) -> None:
        await conn.execute(
            "INSERT INTO users (id, name, created) VALUES (?, NULL, ?) ON CONFLICT (id) DO NOTHING",
            (user_id, created),
        )

    async with db._lock:
        await _check_references(db._conn, records)
        for _, record in records:  # images first: a committed row must find its file
            if record.get("image_png_b64"):
                db.images.put(base64.b64decode(record["image_png_b64"]))
        async with db._begin() as conn:
            for number, r in records:
                kind = r["type"]
                if kind == "user":
                    cur = await conn.execute(
                        "INSERT INTO users (id, name, created) VALUES (?, ?, ?) "
                        "ON CONFLICT (id) DO UPDATE SET name = coalesce(users.name, excluded.name) "
                        "WHERE users.name IS NULL AND excluded.name IS NOT NULL",
                        (r["id"], r["name"], r["created"]),
                    )
                elif kind == "request":
                    await ensure_user(r["user_id"], r["created"])
                    cur = await conn.execute(
                        """INSERT INTO requests (uid, user_id, guild_id, channel_id, text, created,
                               status, error, finished, remix_of)
                           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,
                                   (SELECT id FROM requests WHERE uid = ?))
                           ON CONFLICT (uid) DO NOTHING""",
                        (*(r[k] for k in _FIELDS["request"]), r.get("remix_of_uid")),
                    )
                elif kind == "candidate":
                    request_id = await lookup("requests", r["request_uid"], request_ids, number)
                    sha = r["image_sha256"]
                    scores = r["scores"]
                    cur = await conn.execute(
                        """INSERT INTO candidates (uid, request_id, rank, model_text, nodes_json,
                               image_path, image_sha256, readability, cnn_score, user_score,
                               final_score, scores_json, latent, latent_model_version)
                           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                           ON CONFLICT (uid) DO NOTHING""",
                        (
                            r["uid"],
                            request_id,
                            r["rank"],
                            r["model_text"],
                            r["nodes_json"],
                            None if sha is None else ImageStore.relative_path(sha),
                            sha,
                            *(_number(scores.get(k)) for k in SCORE_COLUMNS),
                            to_json(scores),
                            latent_to_blob(r["latent"]),
                            r["latent_model_version"],
                        ),
                    )
                elif kind == "post":
                    candidate_id = await lookup("candidates", r["candidate_uid"], candidate_ids, number)
                    cur = await conn.execute(
                        """INSERT INTO posts (message_id, channel_id, candidate_id, created)
                           VALUES (?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING""",
                        (r["message_id"], r["channel_id"], candidate_id, r["created"]),
                    )
                elif kind == "rating":
                    candidate_id = await lookup("candidates", r["candidate_uid"], candidate_ids, number)
                    await ensure_user(r["user_id"], r["created"])
                    cur = await conn.execute(
                        """INSERT INTO ratings (user_id, candidate_id, value, created, updated)
                           VALUES (?, ?, ?, ?, ?)
                           ON CONFLICT (user_id, candidate_id) DO UPDATE
                           SET value = excluded.value, updated = excluded.updated
                           WHERE excluded.updated > ratings.updated""",
                        (r["user_id"], candidate_id, r["value"], r["created"], r["updated"]),
                    )
                else:  # header
                    continue
                added[kind] += max(cur.rowcount, 0)
    read.pop("header", None)
    log.info("imported %s", dict(added))
    return {"read": dict(read), "added": {k: added[k] for k in RECORD_ORDER}}


async def _check_references(conn: Any, records: list[tuple[int, dict[str, Any]]]) -> None:
    """Every uid a record refers to is on an earlier line or already in the database.

    Checked before the image files are written, so a dangling reference writes
    nothing at all; the lookups inside the transaction stay as the last word.
    """
    known: dict[str, set[str]] = {"requests": set(), "candidates": set()}

    async def need(table: str, uid: str, number: int) -> None:
        if uid not in known[table]:
            rows = await conn.execute_fetchall(f"SELECT 1 FROM {table} WHERE uid = ?", (uid,))
            if not rows:
                raise ImportFormatError(number, f"refers to unknown {table[:-1]} uid {uid!r}")
            known[table].add(uid)

    for number, r in records:
        kind = r["type"]
        if kind == "request":
            if r.get("remix_of_uid") is not None:
                await need("requests", r["remix_of_uid"], number)
            known["requests"].add(r["uid"])
        elif kind == "candidate":
            await need("requests", r["request_uid"], number)
            known["candidates"].add(r["uid"])
        elif kind in ("post", "rating"):
            await need("candidates", r["candidate_uid"], number)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
