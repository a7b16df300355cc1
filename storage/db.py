"""Async repository over one SQLite file: the only place the bot and training touch SQL.

One ``Database`` wraps one aiosqlite connection. Every operation takes the
same ``asyncio.Lock``: writes must not interleave on a shared connection (a
second ``BEGIN`` inside an open transaction fails, and a reader would see
another coroutine's uncommitted rows), and the lock is FIFO, so writes commit
in the order they were issued. Other processes (training, the ``db`` CLI)
open their own ``Database``; WAL lets them read while the bot writes, and
``busy_timeout`` makes writers queue instead of failing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import numpy as np

from ml.scores import STORED

from .images import ImageStore
from .models import (
    JOB_STATUSES,
    RATING_MAX,
    RATING_MIN,
    REQUEST_STATUSES,
    JobRun,
    ModelVersion,
    Post,
    RatedCandidate,
    Rating,
    Request,
    StoredCandidate,
    User,
    UserRating,
)
from .schema import migrate

log = logging.getLogger(__name__)

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
# Score keys that have their own column (queried and sorted on); every key,
# these included, is also kept in scores_json.
SCORE_COLUMNS = tuple(str(name) for name in STORED)


class NotFoundError(LookupError):
    """The row an update refers to does not exist."""


def is_busy(error: BaseException) -> bool:
    """SQLITE_BUSY / SQLITE_LOCKED: another connection held the lock past busy_timeout."""
    if not isinstance(error, sqlite3.OperationalError):
        return False
    name = getattr(error, "sqlite_errorname", "")
    text = str(error).lower()
    return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text or "busy" in text


def utc_now() -> str:
    """The one timestamp format of the database: UTC ISO-8601 with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def new_uid() -> str:
    """Stable identity for rows that must survive export/import into another file."""
    return uuid.uuid4().hex


def latent_to_blob(latent: np.ndarray | Iterable[float] | None) -> bytes | None:
    if latent is None:
        return None
    array = np.asarray(latent, dtype="<f4")
    if array.ndim != 1:
        raise ValueError(f"latent must be a 1-D vector, got shape {array.shape}")
    return array.tobytes()


def blob_to_latent(blob: bytes | None) -> np.ndarray | None:
    # frombuffer gives a read-only view, which suits the frozen records.
    return None if blob is None else np.frombuffer(blob, dtype="<f4")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_json_default)


def _inserted_id(cursor: aiosqlite.Cursor) -> int:
    """Row id of the row the INSERT on ``cursor`` just added (sqlite always sets it then)."""
    row_id = cursor.lastrowid
    if row_id is None:
        raise RuntimeError("INSERT did not report the id of the new row")
    return row_id


def _score(value: Any) -> float | None:
    return None if value is None else float(value)


def _request(row: sqlite3.Row) -> Request:
    return Request(
        id=row["id"],
        uid=row["uid"],
        user_id=row["user_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        text=row["text"],
        created=row["created"],
        status=row["status"],
        error=row["error"],
        finished=row["finished"],
        remix_of=row["remix_of"],
    )


def _candidate(row: sqlite3.Row) -> StoredCandidate:
    return StoredCandidate(
        id=row["id"],
        uid=row["uid"],
        request_id=row["request_id"],
        rank=row["rank"],
        model_text=row["model_text"],
        nodes_json=row["nodes_json"],
        image_path=row["image_path"],
        image_sha256=row["image_sha256"],
        **{name: row[name] for name in SCORE_COLUMNS},
        scores=json.loads(row["scores_json"]),
        latent=blob_to_latent(row["latent"]),
        latent_model_version=row["latent_model_version"],
    )


def _rating(row: sqlite3.Row) -> Rating:
    return Rating(
        user_id=row["user_id"],
        candidate_id=row["candidate_id"],
        value=row["value"],
        created=row["created"],
        updated=row["updated"],
    )


def _user_rating(row: sqlite3.Row) -> UserRating:
    """A rating with its candidate's latent, node list and request (a row of a rating query joining candidates)."""
    return UserRating(
        candidate_id=row["candidate_id"],
        value=row["value"],
        updated=row["updated"],
        latent=blob_to_latent(row["latent"]),
        latent_model_version=row["latent_model_version"],
        nodes_json=row["nodes_json"],
        request_id=row["request_id"],
    )


def _model_version(row: sqlite3.Row) -> ModelVersion:
    return ModelVersion(
        id=row["id"],
        kind=row["kind"],
        path=row["path"],
        metrics=json.loads(row["metrics_json"]),
        created=row["created"],
        active=bool(row["active"]),
        job_id=row["job_id"],
    )


def _job(row: sqlite3.Row) -> JobRun:
    return JobRun(
        id=row["id"],
        kind=row["kind"],
        started=row["started"],
        finished=row["finished"],
        status=row["status"],
        log=row["log"],
        owner=row["owner"],
    )


def _check_rating_value(value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not RATING_MIN <= value <= RATING_MAX:
        raise ValueError(f"rating must be an int in {RATING_MIN}..{RATING_MAX}, got {value!r}")


def _prepare_file(path: Path, busy_timeout_s: float) -> int:
    """Switch the file to WAL and migrate it, on a short-lived stdlib connection.

    Runs in a worker thread before the async connection opens, so the schema
    code is the same synchronous code the migration tests drive.
    """
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise RuntimeError(f"could not enable WAL on {path} (journal_mode={mode})")
        return migrate(conn)
    finally:
        conn.close()


class Database:
    """The repository. Create with ``await Database.open(path)``; close when done."""

    def __init__(self, conn: aiosqlite.Connection, path: Path, images: ImageStore) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._closed = False
        self.path = path
        self.images = images

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        data_dir: str | os.PathLike[str] | None = None,
        *,
        synchronous: str = "NORMAL",
        busy_timeout_ms: int = 5000,
    ) -> Database:
        """Open (creating if needed) and migrate the database at ``path``.

        ``data_dir`` holds the image files and defaults to the database's folder.
        ``synchronous=NORMAL`` under WAL never corrupts the file; a power cut
        may lose the last commits, a process crash loses nothing committed.
        """
        sync = synchronous.upper()
        if sync not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}")
        path = Path(path)
        if str(path) == ":memory:":
            raise ValueError("Database needs a file: WAL and the image store live beside it")
        path.parent.mkdir(parents=True, exist_ok=True)
        version = await asyncio.to_thread(_prepare_file, path, busy_timeout_ms / 1000)
        conn = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
        try:
            conn.row_factory = sqlite3.Row
            # fetchall, not execute: a pragma that returns a row would otherwise
            # leave a statement open, which blocks VACUUM later.
            await conn.execute_fetchall(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await conn.execute_fetchall("PRAGMA foreign_keys = ON")
            await conn.execute_fetchall(f"PRAGMA synchronous = {sync}")
        except BaseException:
            await conn.close()
            raise
        log.info("opened %s (schema v%d, synchronous=%s)", path, version, sync)
        images = ImageStore(Path(data_dir) if data_dir is not None else path.parent)
        return cls(conn, path, images)

    async def close(self) -> None:
        """Close after in-flight operations finish; closing twice is harmless."""
        async with self._lock:
            if not self._closed:
                self._closed = True
                await self._conn.close()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ plumbing

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction; the caller must hold ``self._lock``.

        ``BEGIN IMMEDIATE`` takes the file's write lock up front, so a busy
        file makes us wait (busy_timeout) at the start rather than fail midway.
        """
        conn = self._conn
        try:
            await conn.execute("BEGIN IMMEDIATE")
            yield conn
            await conn.execute("COMMIT")
        except BaseException:
            # Always queue a ROLLBACK, even when ``in_transaction`` says there is
            # none: if this task was cancelled, the statement it awaited (BEGIN
            # included) still runs later on aiosqlite's thread. Statements run in
            # queue order, so the ROLLBACK follows it and precedes the next
            # holder of the lock.
            try:
                await conn.execute("ROLLBACK")
            except sqlite3.OperationalError:
                pass  # nothing was open (BEGIN failed, or COMMIT went through)
            raise

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock, self._begin() as conn:
            yield conn

    async def _fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        async with self._lock:
            return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def _fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        rows = await self._fetchall(sql, params)
        return rows[0] if rows else None

    async def _scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        row = await self._fetchone(sql, params)
        return None if row is None else row[0]

    @staticmethod
    async def _ensure_user(conn: aiosqlite.Connection, user_id: str, now: str) -> None:
        await conn.execute(
            "INSERT INTO users (id, name, created) VALUES (?, NULL, ?) ON CONFLICT (id) DO NOTHING",
            (user_id, now),
        )

    # ------------------------------------------------------------------ users

    async def upsert_user(self, user_id: str | int, name: str | None = None) -> None:
        """Record a user; a later call with a name updates it, ``None`` keeps the old one."""
        async with self._transaction() as conn:
            await conn.execute(
                """INSERT INTO users (id, name, created) VALUES (?, ?, ?)
                   ON CONFLICT (id) DO UPDATE SET name = coalesce(excluded.name, users.name)""",
                (str(user_id), name, utc_now()),
            )

    async def get_user(self, user_id: str | int) -> User | None:
        row = await self._fetchone("SELECT * FROM users WHERE id = ?", (str(user_id),))
        return None if row is None else User(row["id"], row["name"], row["created"])

    # ------------------------------------------------------------------ requests

    async def create_request(
        self,
        user_id: str | int,
        text: str,
        guild_id: int | None = None,
        channel_id: int | None = None,
        remix_of: int | None = None,
    ) -> int:
        """Queue a request; the user row is created if this is their first.

        ``remix_of`` links a request made with the Remix button to the one it edited."""
        now = utc_now()
        async with self._transaction() as conn:
            await self._ensure_user(conn, str(user_id), now)
            cursor = await conn.execute(
                """INSERT INTO requests (uid, user_id, guild_id, channel_id, text, created, status,
                                         remix_of)
                   VALUES (?, ?, ?, ?, ?, ?, 'queued', ?)""",
                (new_uid(), str(user_id), guild_id, channel_id, text, now, remix_of),
            )
            return _inserted_id(cursor)

    async def set_request_status(self, request_id: int, status: str, error: str | None = None) -> None:
        """Move a request along queued -> running -> done|failed; terminal states stamp ``finished``."""
        if status not in REQUEST_STATUSES:
            raise ValueError(f"status must be one of {REQUEST_STATUSES}, got {status!r}")
        finished = utc_now() if status in ("done", "failed") else None
        async with self._transaction() as conn:
            cursor = await conn.execute(
                "UPDATE requests SET status = ?, error = ?, finished = ? WHERE id = ?",
                (status, error, finished, request_id),
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"request {request_id} does not exist")

    async def get_request(self, request_id: int) -> Request | None:
        row = await self._fetchone("SELECT * FROM requests WHERE id = ?", (request_id,))
        return None if row is None else _request(row)

    async def recent_requests(self, limit: int = 20) -> list[Request]:
        rows = await self._fetchall("SELECT * FROM requests ORDER BY id DESC LIMIT ?", (limit,))
        return [_request(r) for r in rows]

    async def fail_unfinished_requests(self, error: str) -> list[Request]:
        """Mark every queued or running request failed; returns them (so their users can be told).

        The bot's queue lives in memory, so after a restart these requests will
        never finish: this keeps their status honest instead of "running" forever.
        """
        async with self._transaction() as conn:
            rows = await conn.execute_fetchall(
                """UPDATE requests SET status = 'failed', error = ?, finished = ?
                   WHERE status IN ('queued', 'running') RETURNING *""",
                (error, utc_now()),
            )
            return sorted((_request(r) for r in rows), key=lambda r: r.id)

    async def delete_request(self, request_id: int) -> bool:
        """Delete a request with its candidates, posts and ratings, and images no one else uses.

        Files are removed after the commit (a failed delete never loses an image
        still referenced) and before the lock is released (a concurrent
        ``add_candidate`` of the same picture cannot see the file vanish).
        """
        async with self._lock:
            async with self._begin() as conn:
                hashes = [
                    row[0]
                    for row in await conn.execute_fetchall(
                        """SELECT DISTINCT image_sha256 FROM candidates
                           WHERE request_id = ? AND image_sha256 IS NOT NULL""",
                        (request_id,),
                    )
                ]
                cursor = await conn.execute("DELETE FROM requests WHERE id = ?", (request_id,))
                deleted = cursor.rowcount > 0
                orphans = []
                for sha in hashes:
                    still_used = await conn.execute_fetchall(
                        "SELECT 1 FROM candidates WHERE image_sha256 = ? LIMIT 1", (sha,)
                    )
                    if not still_used:
                        orphans.append(sha)
            for sha in orphans:
                try:
                    await asyncio.to_thread(self.images.delete, sha)
                except OSError as exc:  # the row is gone either way; leave a note
                    log.warning("could not delete image %s: %s", sha, exc)
        return deleted

    # ------------------------------------------------------------------ candidates

    async def add_candidate(
        self,
        request_id: int,
        rank: int,
        model_text: str,
        nodes_json: str,
        image_png: bytes | None = None,
        scores: Mapping[str, Any] | None = None,
        latent: np.ndarray | None = None,
        latent_model_version: str | None = None,
    ) -> int:
        """Store one generated diagram; the PNG goes to the image store, its hash to the row.

        ``scores`` keys named like the score columns (readability, cnn_score,
        user_score, final_score) fill those columns; all keys go to scores_json.
        """
        scores = dict(scores or {})
        blob = latent_to_blob(latent)
        async with self._lock:
            sha = relative = None
            if image_png is not None:
                sha, relative = await asyncio.to_thread(self.images.put, image_png)
            async with self._begin() as conn:
                cursor = await conn.execute(
                    """INSERT INTO candidates (uid, request_id, rank, model_text, nodes_json,
                           image_path, image_sha256, readability, cnn_score, user_score,
                           final_score, scores_json, latent, latent_model_version)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (
                        new_uid(),
                        request_id,
                        rank,
                        model_text,
                        nodes_json,
                        relative,
                        sha,
                        *(_score(scores.get(k)) for k in SCORE_COLUMNS),
                        to_json(scores),
                        blob,
                        latent_model_version,
                    ),
                )
                return _inserted_id(cursor)

    async def update_scores(self, candidate_id: int, scores: Mapping[str, Any]) -> None:
        """Merge new scores (e.g. user_score after new ratings) into a candidate."""
        async with self._transaction() as conn:
            rows = list(await conn.execute_fetchall("SELECT scores_json FROM candidates WHERE id = ?", (candidate_id,)))
            if not rows:
                raise NotFoundError(f"candidate {candidate_id} does not exist")
            merged = {**json.loads(rows[0][0]), **scores}
            columns = [k for k in SCORE_COLUMNS if k in scores]
            assignments = "".join(f", {k} = ?" for k in columns)
            await conn.execute(
                f"UPDATE candidates SET scores_json = ?{assignments} WHERE id = ?",
                (to_json(merged), *(_score(scores[k]) for k in columns), candidate_id),
            )

    async def get_candidate(self, candidate_id: int) -> StoredCandidate | None:
        row = await self._fetchone("SELECT * FROM candidates WHERE id = ?", (candidate_id,))
        return None if row is None else _candidate(row)

    async def candidates_for_request(self, request_id: int) -> list[StoredCandidate]:
        rows = await self._fetchall("SELECT * FROM candidates WHERE request_id = ? ORDER BY rank, id", (request_id,))
        return [_candidate(r) for r in rows]

    async def set_latent(self, candidate_id: int, latent: np.ndarray, version: str) -> None:
        """Set one candidate's latent (tools, tests); a re-embedding stages and commits instead."""
        async with self._transaction() as conn:
            cursor = await conn.execute(
                "UPDATE candidates SET latent = ?, latent_model_version = ? WHERE id = ?",
                (latent_to_blob(latent), version, candidate_id),
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"candidate {candidate_id} does not exist")

    # Re-embedding after an autoencoder change: the new latents are staged (committed a page
    # at a time, invisible to ranking), then ``commit_latents`` swaps them in together with the
    # autoencoder's activation. A job killed on the way leaves only staged rows, which the
    # next job clears: the candidates never hold latents of two autoencoders.

    async def clear_latent_staging(self) -> int:
        """Drop staged latents (a killed job's leftovers); returns how many rows went."""
        async with self._transaction() as conn:
            cursor = await conn.execute("DELETE FROM latent_staging")
            return cursor.rowcount

    async def unstaged_candidates(self, version: str, limit: int, after: int = 0) -> list[StoredCandidate]:
        """Up to ``limit`` candidates with ids above ``after``, in id order, whose latent is
        not from ``version`` and not staged for it (a page of a re-embedding pass)."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        rows = await self._fetchall(
            """SELECT c.* FROM candidates c
               WHERE c.id > ? AND c.latent_model_version IS NOT ?
                 AND NOT EXISTS (SELECT 1 FROM latent_staging s
                                 WHERE s.candidate_id = c.id AND s.version = ?)
               ORDER BY c.id LIMIT ?""",
            (after, version, version, limit),
        )
        return [_candidate(r) for r in rows]

    async def stage_latents(self, version: str, latents: Iterable[tuple[int, np.ndarray | None]]) -> int:
        """Stage ``(candidate_id, latent)`` pairs made by autoencoder ``version``, in one transaction.

        A latent of ``None`` stages "no latent" (the candidate could not be embedded); a
        candidate deleted meanwhile is skipped. Returns how many were staged.
        """
        rows = [(cid, version, latent_to_blob(latent), cid) for cid, latent in latents]
        async with self._transaction() as conn:
            staged = 0
            for row in rows:
                cursor = await conn.execute(
                    """INSERT OR REPLACE INTO latent_staging (candidate_id, version, latent)
                       SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM candidates WHERE id = ?)""",
                    row,
                )
                staged += cursor.rowcount
            return staged

    async def commit_latents(self, version: str, activate: int | None = None) -> int | None:
        """Swap the latents staged for ``version`` in, activating model version ``activate`` with them.

        One transaction: either every candidate ends with a latent from ``version`` (and the
        autoencoder is active), or nothing changes. Returns how many candidates got a new
        latent, or None when a candidate has neither (it arrived after staging): stage it
        and call again.
        """
        async with self._transaction() as conn:
            missing = await conn.execute_fetchall(
                """SELECT 1 FROM candidates c
                   WHERE c.latent_model_version IS NOT ?
                     AND NOT EXISTS (SELECT 1 FROM latent_staging s
                                     WHERE s.candidate_id = c.id AND s.version = ?)
                   LIMIT 1""",
                (version, version),
            )
            if missing:
                return None
            if activate is not None:
                await self._activate(conn, activate)
            cursor = await conn.execute(
                """UPDATE candidates SET (latent, latent_model_version) =
                       (SELECT s.latent, s.version FROM latent_staging s
                        WHERE s.candidate_id = candidates.id)
                   WHERE id IN (SELECT candidate_id FROM latent_staging WHERE version = ?)""",
                (version,),
            )
            await conn.execute("DELETE FROM latent_staging")
            return cursor.rowcount

    async def iter_candidates(
        self, batch_size: int = 256, *, stale_for_version: str | None = None
    ) -> AsyncIterator[StoredCandidate]:
        """Yield all candidates in id order, one locked page at a time.

        Paging keeps the bot responsive during a long re-embedding pass. With
        ``stale_for_version``, only candidates whose latent was not made by
        that autoencoder version are yielded.
        """
        after = 0
        where = "id > ?"
        extra: tuple[Any, ...] = ()
        if stale_for_version is not None:
            where += " AND latent_model_version IS NOT ?"
            extra = (stale_for_version,)
        while True:
            rows = await self._fetchall(
                f"SELECT * FROM candidates WHERE {where} ORDER BY id LIMIT ?",
                (after, *extra, batch_size),
            )
            for row in rows:
                yield _candidate(row)
            if len(rows) < batch_size:
                return
            after = rows[-1]["id"]

    async def all_candidates(self) -> list[StoredCandidate]:
        return [c async for c in self.iter_candidates()]

    def image_file(self, candidate: StoredCandidate) -> Path | None:
        """Absolute path of a candidate's PNG, or None if it has none."""
        return None if candidate.image_path is None else self.images.path(candidate.image_path)

    # ------------------------------------------------------------------ posts

    async def add_post(self, message_id: int, channel_id: int, candidate_id: int) -> None:
        """Remember which candidate a Discord message shows; re-adding is a no-op."""
        async with self._transaction() as conn:
            await conn.execute(
                """INSERT INTO posts (message_id, channel_id, candidate_id, created)
                   VALUES (?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING""",
                (message_id, channel_id, candidate_id, utc_now()),
            )

    async def candidate_for_message(self, message_id: int) -> int | None:
        return await self._scalar("SELECT candidate_id FROM posts WHERE message_id = ?", (message_id,))

    async def get_post(self, message_id: int) -> Post | None:
        row = await self._fetchone("SELECT * FROM posts WHERE message_id = ?", (message_id,))
        if row is None:
            return None
        return Post(row["message_id"], row["channel_id"], row["candidate_id"], row["created"])

    # ------------------------------------------------------------------ ratings

    async def set_rating(self, user_id: str | int, candidate_id: int, value: int) -> None:
        """Insert or replace a user's rating of a candidate (one row per pair)."""
        _check_rating_value(value)
        now = utc_now()
        async with self._transaction() as conn:
            await self._ensure_user(conn, str(user_id), now)
            await conn.execute(
                """INSERT INTO ratings (user_id, candidate_id, value, created, updated)
                   VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (user_id, candidate_id)
                   DO UPDATE SET value = excluded.value, updated = excluded.updated""",
                (str(user_id), candidate_id, value, now, now),
            )

    async def remove_rating(self, user_id: str | int, candidate_id: int, value: int | None = None) -> bool:
        """Delete a rating; return whether one was deleted.

        With ``value``, delete only if the stored value equals it: when a user
        switches from 2 to 4 stars, Discord reports the removal of the old
        reaction after the new one, and that must not erase the 4.
        """
        sql = "DELETE FROM ratings WHERE user_id = ? AND candidate_id = ?"
        params: tuple[Any, ...] = (str(user_id), candidate_id)
        if value is not None:
            sql += " AND value = ?"
            params += (value,)
        async with self._transaction() as conn:
            cursor = await conn.execute(sql, params)
            return cursor.rowcount > 0

    async def get_rating(self, user_id: str | int, candidate_id: int) -> Rating | None:
        row = await self._fetchone(
            "SELECT * FROM ratings WHERE user_id = ? AND candidate_id = ?",
            (str(user_id), candidate_id),
        )
        return None if row is None else _rating(row)

    async def ratings_for_user(self, user_id: str | int) -> list[UserRating]:
        """A user's ratings with the rated candidates' latents: the k-NN's training set."""
        rows = await self._fetchall(
            """SELECT r.candidate_id, r.value, r.updated, c.latent, c.latent_model_version, c.nodes_json,
                      c.request_id
               FROM ratings r JOIN candidates c ON c.id = r.candidate_id
               WHERE r.user_id = ? ORDER BY r.candidate_id""",
            (str(user_id),),
        )
        return [_user_rating(r) for r in rows]

    async def ratings_for_candidate(self, candidate_id: int) -> list[Rating]:
        rows = await self._fetchall("SELECT * FROM ratings WHERE candidate_id = ? ORDER BY user_id", (candidate_id,))
        return [_rating(r) for r in rows]

    async def all_ratings(self) -> list[Rating]:
        rows = await self._fetchall("SELECT * FROM ratings ORDER BY candidate_id, user_id")
        return [_rating(r) for r in rows]

    async def rating_count(self) -> int:
        return int(await self._scalar("SELECT count(*) FROM ratings"))

    async def ratings_for_ranking(self, user_id: str | int, latent_version: str | None, limit: int) -> list[UserRating]:
        """The user's ``limit`` most recent ratings (newest first): the input of their k-NN.

        A rating carries its candidate's latent only when autoencoder ``latent_version``
        (the one serving) made it, so the k-NN never mixes two embedding spaces; with
        ``latent_version`` None no rating carries one. Work is bounded by ``limit``.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        rows = await self._fetchall(
            """SELECT r.candidate_id, r.value, r.updated, c.latent_model_version, c.nodes_json, c.request_id,
                      CASE WHEN c.latent_model_version = ? THEN c.latent END AS latent
               FROM ratings r JOIN candidates c ON c.id = r.candidate_id
               WHERE r.user_id = ? ORDER BY r.updated DESC, r.candidate_id DESC LIMIT ?""",
            (latent_version, str(user_id), limit),
        )
        return [
            UserRating(
                candidate_id=r["candidate_id"],
                value=r["value"],
                updated=r["updated"],
                latent=blob_to_latent(r["latent"]),
                latent_model_version=r["latent_model_version"] if r["latent"] is not None else None,
                nodes_json=r["nodes_json"],
                request_id=r["request_id"],
            )
            for r in rows
        ]

    async def recent_ratings_with_latents(
        self, latent_version: str, limit: int, exclude_user: str | int | None = None
    ) -> list[tuple[str, UserRating]]:
        """The ``limit`` most recent ratings whose candidate has a latent from ``latent_version``.

        The k-NN's fallback for a user who has rated too little; ``exclude_user``'s own
        ratings are left out (the caller has them already).
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        rows = await self._fetchall(
            """SELECT r.user_id, r.candidate_id, r.value, r.updated, c.latent,
                      c.latent_model_version, c.nodes_json, c.request_id
               FROM ratings r JOIN candidates c ON c.id = r.candidate_id
               WHERE c.latent_model_version = ? AND c.latent IS NOT NULL AND r.user_id IS NOT ?
               ORDER BY r.updated DESC, r.candidate_id DESC LIMIT ?""",
            (latent_version, None if exclude_user is None else str(exclude_user), limit),
        )
        return [(r["user_id"], _user_rating(r)) for r in rows]

    async def all_ratings_with_latents(self) -> list[tuple[str, UserRating]]:
        """Every rating as ``(user_id, rating with the rated candidate's latent)``.

        Unbounded, for offline tools and exports; the bot ranks with
        ``ratings_for_ranking`` and ``recent_ratings_with_latents`` instead.
        """
        rows = await self._fetchall(
            """SELECT r.user_id, r.candidate_id, r.value, r.updated, c.latent,
                      c.latent_model_version, c.nodes_json, c.request_id
               FROM ratings r JOIN candidates c ON c.id = r.candidate_id
               ORDER BY r.user_id, r.candidate_id"""
        )
        return [(r["user_id"], _user_rating(r)) for r in rows]

    async def rated_candidates(self) -> list[RatedCandidate]:
        """Every rating with the rated candidate's model text and its request's text.

        Ordered by user, request and candidate: the input of preference-pair building.
        """
        rows = await self._fetchall(
            """SELECT r.user_id, c.request_id, q.text AS request_text, r.candidate_id,
                      c.model_text, r.value
               FROM ratings r
               JOIN candidates c ON c.id = r.candidate_id
               JOIN requests q ON q.id = c.request_id
               ORDER BY r.user_id, c.request_id, r.candidate_id"""
        )
        return [
            RatedCandidate(
                user_id=r["user_id"],
                request_id=r["request_id"],
                request_text=r["request_text"],
                candidate_id=r["candidate_id"],
                model_text=r["model_text"],
                value=r["value"],
            )
            for r in rows
        ]

    async def rating_histogram(self, guild_id: int | None = None) -> dict[int, int]:
        """How many ratings of each value (1..5, zeros included): the bot's /stats chart.

        With ``guild_id``, only ratings of diagrams drawn for that server's requests.
        """
        if guild_id is None:
            rows = await self._fetchall("SELECT value, count(*) FROM ratings GROUP BY value")
        else:
            rows = await self._fetchall(
                """SELECT g.value, count(*) FROM ratings g
                   JOIN candidates c ON c.id = g.candidate_id
                   JOIN requests q ON q.id = c.request_id
                   WHERE q.guild_id = ? GROUP BY g.value""",
                (int(guild_id),),
            )
        counts = {value: 0 for value in range(RATING_MIN, RATING_MAX + 1)}
        counts.update({int(r[0]): int(r[1]) for r in rows})
        return counts

    # ------------------------------------------------------------------ model versions

    async def add_model_version(
        self,
        kind: str,
        path: str,
        metrics: Mapping[str, Any] | None = None,
        activate: bool = False,
        job_id: int | None = None,
    ) -> int:
        """Register a trained model file (made by job ``job_id``); optionally make it the active one of its kind."""
        async with self._transaction() as conn:
            if activate:
                await conn.execute("UPDATE model_versions SET active = 0 WHERE kind = ? AND active = 1", (kind,))
            cursor = await conn.execute(
                """INSERT INTO model_versions (kind, path, metrics_json, created, active, job_id)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (kind, str(path), to_json(dict(metrics or {})), utc_now(), int(activate), job_id),
            )
            return _inserted_id(cursor)

    @staticmethod
    async def _activate(conn: aiosqlite.Connection, version_id: int) -> None:
        rows = list(await conn.execute_fetchall("SELECT kind FROM model_versions WHERE id = ?", (version_id,)))
        if not rows:
            raise NotFoundError(f"model version {version_id} does not exist")
        await conn.execute("UPDATE model_versions SET active = 0 WHERE kind = ? AND active = 1", (rows[0][0],))
        await conn.execute("UPDATE model_versions SET active = 1 WHERE id = ?", (version_id,))

    async def activate_model_version(self, version_id: int) -> None:
        """Make one version active and the others of its kind inactive, atomically."""
        async with self._transaction() as conn:
            await self._activate(conn, version_id)

    async def deactivate_models(self, kind: str) -> int:
        """Leave ``kind`` with no active version (back to the shipped defaults); returns how many changed.

        A failed retrain that activated the first version of its kind is undone this way.
        """
        async with self._transaction() as conn:
            cursor = await conn.execute("UPDATE model_versions SET active = 0 WHERE kind = ? AND active = 1", (kind,))
            return cursor.rowcount

    async def active_model(self, kind: str) -> ModelVersion | None:
        row = await self._fetchone("SELECT * FROM model_versions WHERE kind = ? AND active = 1", (kind,))
        return None if row is None else _model_version(row)

    async def model_versions(self, kind: str | None = None) -> list[ModelVersion]:
        if kind is None:
            rows = await self._fetchall("SELECT * FROM model_versions ORDER BY id")
        else:
            rows = await self._fetchall("SELECT * FROM model_versions WHERE kind = ? ORDER BY id", (kind,))
        return [_model_version(r) for r in rows]

    # ------------------------------------------------------------------ job runs

    async def start_job(self, kind: str, owner: str | None = None) -> int:
        """Record that a job (e.g. the nightly retrain) started in process ``owner``; returns its id."""
        async with self._transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO job_runs (kind, started, status, owner) VALUES (?, ?, 'running', ?)",
                (kind, utc_now(), owner),
            )
            return _inserted_id(cursor)

    async def finish_job(self, job_id: int, status: str, log: str | None = None) -> None:
        """Close a job as ok, failed or interrupted, stamping ``finished``."""
        if status not in JOB_STATUSES or status == "running":
            raise ValueError(f"finish status must be 'ok', 'failed' or 'interrupted', got {status!r}")
        async with self._transaction() as conn:
            cursor = await conn.execute(
                "UPDATE job_runs SET status = ?, finished = ?, log = ? WHERE id = ?",
                (status, utc_now(), log, job_id),
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"job {job_id} does not exist")

    async def recent_jobs(self, limit: int = 20, kind: str | None = None) -> list[JobRun]:
        if kind is None:
            rows = await self._fetchall("SELECT * FROM job_runs ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = await self._fetchall("SELECT * FROM job_runs WHERE kind = ? ORDER BY id DESC LIMIT ?", (kind, limit))
        return [_job(r) for r in rows]

    async def interrupt_job(self, job_id: int, log: str) -> bool:
        """Mark a job whose process died 'interrupted', unless it finished meanwhile; returns whether it was."""
        async with self._transaction() as conn:
            cursor = await conn.execute(
                """UPDATE job_runs SET status = 'interrupted', finished = ?, log = ?
                   WHERE id = ? AND status = 'running'""",
                (utc_now(), log, job_id),
            )
            return cursor.rowcount > 0

    async def running_jobs(self) -> list[JobRun]:
        """Every job still marked running, oldest first (a start-up checks which are dead)."""
        rows = await self._fetchall("SELECT * FROM job_runs WHERE status = 'running' ORDER BY id")
        return [_job(r) for r in rows]

    async def running_job(self, kind: str) -> JobRun | None:
        """The latest still-running job of ``kind``, so a scheduler can skip a duplicate."""
        row = await self._fetchone(
            "SELECT * FROM job_runs WHERE kind = ? AND status = 'running' ORDER BY id DESC LIMIT 1",
            (kind,),
        )
        return None if row is None else _job(row)

    # ------------------------------------------------------------------ maintenance

    async def stats(self, guild_id: int | None = None) -> dict[str, Any]:
        """Counts for ``diagrambot db stats`` and the bot's status command.

        With ``guild_id``, the data counts (users, requests, candidates, posts, ratings,
        raters) cover only that server's requests, their diagrams and the ratings of those,
        so a server's administrators see their server and no other; models, jobs and the
        schema version describe the bot and stay global.
        """
        if guild_id is None:
            requests, candidates = "requests", "candidates"
            users_sql = "SELECT count(*) FROM users"
            params: tuple[Any, ...] = ()
        else:
            requests = "(SELECT * FROM requests WHERE guild_id = ?)"
            candidates = "(SELECT c.* FROM candidates c JOIN requests q ON q.id = c.request_id WHERE q.guild_id = ?)"
            users_sql = (
                f"SELECT count(*) FROM (SELECT user_id FROM {requests}"
                f" UNION SELECT g.user_id FROM ratings g JOIN {candidates} c"
                " ON c.id = g.candidate_id)"
            )
            params = (int(guild_id),)
        posts = f"posts p JOIN {candidates} c ON c.id = p.candidate_id"
        ratings = f"ratings g JOIN {candidates} c ON c.id = g.candidate_id"
        async with self._lock:
            conn = self._conn

            async def count(sql: str, args: tuple[Any, ...] = ()) -> int:
                return int(list(await conn.execute_fetchall(sql, args))[0][0])

            async def by_status(table: str, args: tuple[Any, ...] = ()) -> dict[str, int]:
                rows = await conn.execute_fetchall(
                    f"SELECT status, count(*) FROM {table} GROUP BY status ORDER BY status", args
                )
                return {r[0]: r[1] for r in rows}

            active = await conn.execute_fetchall("SELECT kind, id FROM model_versions WHERE active = 1 ORDER BY kind")
            return {
                "schema_version": await count("PRAGMA user_version"),
                "users": await count(users_sql, params * users_sql.count("?")),
                "requests": await count(f"SELECT count(*) FROM {requests}", params),
                "requests_by_status": await by_status(requests, params),
                "candidates": await count(f"SELECT count(*) FROM {candidates}", params),
                "posts": await count(f"SELECT count(*) FROM {posts}", params),
                "ratings": await count(f"SELECT count(*) FROM {ratings}", params),
                "raters": await count(f"SELECT count(DISTINCT g.user_id) FROM {ratings}", params),
                "model_versions": await count("SELECT count(*) FROM model_versions"),
                "active_models": {r[0]: r[1] for r in active},
                "jobs_by_status": await by_status("job_runs"),
            }

    async def integrity_check(self) -> str:
        """``"ok"`` when SQLite finds the file sound."""
        rows = await self._fetchall("PRAGMA integrity_check")
        return "; ".join(str(r[0]) for r in rows)

    async def vacuum(self) -> None:
        """Fold the WAL into the main file and rebuild it compactly (offline maintenance)."""
        async with self._lock:
            await self._conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
            await self._conn.execute_fetchall("VACUUM")
            await self._conn.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    async def schema_version(self) -> int:
        return int(await self._scalar("PRAGMA user_version"))


__all__ = [
    "Database",
    "NotFoundError",
    "utc_now",
]
