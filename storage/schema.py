"""Database schema as forward-only migrations keyed on ``PRAGMA user_version``.

Each entry of ``MIGRATIONS`` moves the schema from version ``i`` to ``i + 1``.
Steps are never edited once released: a change is a new step appended at the
end, so any older database file can be brought up to date in order.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    # v1: the data the bot produces and collects.
    Migration(
        "core tables: users, requests, candidates, posts, ratings",
        (
            """CREATE TABLE users (
                id      TEXT PRIMARY KEY,           -- Discord user id (or 'cli', ...)
                name    TEXT,
                created TEXT NOT NULL
            )""",
            """CREATE TABLE requests (
                id         INTEGER PRIMARY KEY,
                uid        TEXT NOT NULL UNIQUE,    -- stable id across export/import
                user_id    TEXT NOT NULL REFERENCES users(id),
                guild_id   INTEGER,
                channel_id INTEGER,
                text       TEXT NOT NULL,
                created    TEXT NOT NULL,
                status     TEXT NOT NULL DEFAULT 'queued'
                           CHECK (status IN ('queued', 'running', 'done', 'failed')),
                error      TEXT,
                finished   TEXT
            )""",
            """CREATE TABLE candidates (
                id                   INTEGER PRIMARY KEY,
                uid                  TEXT NOT NULL UNIQUE,
                request_id           INTEGER NOT NULL
                                     REFERENCES requests(id) ON DELETE CASCADE,
                rank                 INTEGER NOT NULL,
                model_text           TEXT NOT NULL,
                nodes_json           TEXT NOT NULL,
                image_path           TEXT,          -- relative to the data dir
                image_sha256         TEXT,
                readability          REAL,
                cnn_score            REAL,
                user_score           REAL,
                final_score          REAL,
                scores_json          TEXT NOT NULL DEFAULT '{}',
                latent               BLOB,          -- little-endian float32
                latent_model_version TEXT
            )""",
            """CREATE TABLE posts (
                message_id   INTEGER PRIMARY KEY,   -- Discord message id
                channel_id   INTEGER NOT NULL,
                candidate_id INTEGER NOT NULL
                             REFERENCES candidates(id) ON DELETE CASCADE,
                created      TEXT NOT NULL
            )""",
            """CREATE TABLE ratings (
                user_id      TEXT NOT NULL REFERENCES users(id),
                candidate_id INTEGER NOT NULL
                             REFERENCES candidates(id) ON DELETE CASCADE,
                value        INTEGER NOT NULL CHECK (value BETWEEN 1 AND 5),
                created      TEXT NOT NULL,
                updated      TEXT NOT NULL,
                PRIMARY KEY (user_id, candidate_id)
            ) WITHOUT ROWID""",
        ),
    ),
    # v2: training bookkeeping.
    Migration(
        "model_versions and job_runs",
        (
            """CREATE TABLE model_versions (
                id           INTEGER PRIMARY KEY,
                kind         TEXT NOT NULL,         -- cnn | ae | generator | ...
                path         TEXT NOT NULL,
                metrics_json TEXT NOT NULL DEFAULT '{}',
                created      TEXT NOT NULL,
                active       INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1))
            )""",
            """CREATE TABLE job_runs (
                id       INTEGER PRIMARY KEY,
                kind     TEXT NOT NULL,
                started  TEXT NOT NULL,
                finished TEXT,
                status   TEXT NOT NULL DEFAULT 'running'
                         CHECK (status IN ('running', 'ok', 'failed')),
                log      TEXT
            )""",
        ),
    ),
    # v3: lookups the bot and training do often; one active model per kind.
    Migration(
        "secondary indexes; at most one active model version per kind",
        (
            "CREATE INDEX candidates_by_request ON candidates(request_id, rank)",
            "CREATE INDEX candidates_by_image ON candidates(image_sha256)",
            "CREATE INDEX posts_by_candidate ON posts(candidate_id)",
            "CREATE INDEX ratings_by_candidate ON ratings(candidate_id)",
            "CREATE INDEX requests_by_created ON requests(created)",
            "CREATE INDEX job_runs_by_kind ON job_runs(kind, status)",
            """CREATE UNIQUE INDEX model_versions_one_active
               ON model_versions(kind) WHERE active = 1""",
        ),
    ),
    # v4: the retrain lifecycle survives kills. A job names the process that runs it (so a
    # restart can tell a dead job from a live one) and may end 'interrupted'; a model version
    # names the job that made it; re-embedding writes to latent_staging, and the staged latents
    # replace the candidates' in the same transaction that activates their autoencoder; ranking
    # reads a user's most recent ratings through an index.
    Migration(
        "interrupted jobs and their owner; model_versions.job_id; latent_staging; ratings by recency",
        (
            """CREATE TABLE job_runs_v4 (
                id       INTEGER PRIMARY KEY,
                kind     TEXT NOT NULL,
                started  TEXT NOT NULL,
                finished TEXT,
                status   TEXT NOT NULL DEFAULT 'running'
                         CHECK (status IN ('running', 'ok', 'failed', 'interrupted')),
                log      TEXT,
                owner    TEXT                   -- 'host:pid' of the process running the job
            )""",
            """INSERT INTO job_runs_v4 (id, kind, started, finished, status, log)
               SELECT id, kind, started, finished, status, log FROM job_runs""",
            "DROP TABLE job_runs",
            "ALTER TABLE job_runs_v4 RENAME TO job_runs",
            "CREATE INDEX job_runs_by_kind ON job_runs(kind, status)",
            "ALTER TABLE model_versions ADD COLUMN job_id INTEGER",  # the job that trained it
            """CREATE TABLE latent_staging (
                candidate_id INTEGER PRIMARY KEY
                             REFERENCES candidates(id) ON DELETE CASCADE,
                version      TEXT NOT NULL,     -- the autoencoder version that made it
                latent       BLOB               -- NULL: the candidate could not be embedded
            )""",
            "CREATE INDEX ratings_by_user_updated ON ratings(user_id, updated)",
            "CREATE INDEX ratings_by_updated ON ratings(updated)",
        ),
    ),
    # v5: a request made with Remix names the request it edited.
    Migration(
        "requests.remix_of",
        ("ALTER TABLE requests ADD COLUMN remix_of INTEGER REFERENCES requests(id) ON DELETE SET NULL",),
    ),
)

LATEST_VERSION = len(MIGRATIONS)


class SchemaTooNewError(RuntimeError):
    """The file was written by a newer version of this code; refuse to touch it."""


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST_VERSION) -> int:
    """Apply the missing steps up to ``target`` in one transaction; return the version.

    ``conn`` must be in autocommit mode (``isolation_level=None``). The version
    is read after ``BEGIN IMMEDIATE`` so two processes opening the same file at
    once cannot both run a step. ``target`` below ``LATEST_VERSION`` exists so
    tests can build databases as older releases left them.
    """
    if not 0 <= target <= LATEST_VERSION:
        raise ValueError(f"target version {target} outside 0..{LATEST_VERSION}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = schema_version(conn)
        if current > LATEST_VERSION:
            raise SchemaTooNewError(f"database schema is version {current}, this code knows up to {LATEST_VERSION}")
        for version in range(current + 1, target + 1):
            step = MIGRATIONS[version - 1]
            log.info("migrating database to v%d: %s", version, step.description)
            for statement in step.statements:
                conn.execute(statement)
        if target > current:
            # user_version is part of the database header, so it commits atomically
            # with the steps above.
            conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
        return max(current, target)
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
