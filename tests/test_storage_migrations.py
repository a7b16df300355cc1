"""Schema migrations: from an empty file and from every earlier version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from storage import LATEST_VERSION, Database, SchemaTooNewError
from storage.schema import MIGRATIONS, migrate, schema_version

V3_INDEXES = {
    "candidates_by_request",
    "candidates_by_image",
    "posts_by_candidate",
    "ratings_by_candidate",
    "requests_by_created",
    "job_runs_by_kind",
    "model_versions_one_active",
}


def build_old_database(path: Path, version: int) -> None:
    """A file as release ``version`` left it, with some rows in every table it had."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert migrate(conn, target=version) == version
        if version >= 1:
            latent = np.arange(4, dtype="<f4").tobytes()
            conn.executescript(
                f"""
                BEGIN;
                INSERT INTO users (id, name, created) VALUES ('u1', 'Ada', '2024-01-01T00:00:00+00:00');
                INSERT INTO requests (id, uid, user_id, text, created, status)
                    VALUES (1, 'req-1', 'u1', 'a small CNN', '2024-01-01T00:00:01+00:00', 'done');
                INSERT INTO candidates (id, uid, request_id, rank, model_text, nodes_json,
                                        readability, scores_json, latent, latent_model_version)
                    VALUES (1, 'cand-1', 1, 0, 'conv -> pool', '[]', 0.5, '{{"readability": 0.5}}',
                            X'{latent.hex()}', 'ae-1');
                INSERT INTO posts (message_id, channel_id, candidate_id, created)
                    VALUES (555, 7, 1, '2024-01-01T00:00:02+00:00');
                INSERT INTO ratings (user_id, candidate_id, value, created, updated)
                    VALUES ('u1', 1, 4, '2024-01-01T00:00:03+00:00', '2024-01-01T00:00:03+00:00');
                COMMIT;
                """
            )
        if version >= 2:
            conn.executescript(
                """
                BEGIN;
                INSERT INTO model_versions (id, kind, path, metrics_json, created, active)
                    VALUES (1, 'cnn', 'models/cnn-1.pt', '{"acc": 0.7}', '2024-01-02', 1);
                INSERT INTO job_runs (id, kind, started, finished, status, log)
                    VALUES (1, 'retrain', '2024-01-02', '2024-01-02', 'ok', 'fine');
                COMMIT;
                """
            )
        assert schema_version(conn) == version
    finally:
        conn.close()


def table_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")}


def test_migrations_have_at_least_two_steps() -> None:
    assert LATEST_VERSION == len(MIGRATIONS) >= 2


async def test_open_empty_file_creates_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    async with await Database.open(path) as db:
        assert await db.schema_version() == LATEST_VERSION
        assert await db.integrity_check() == "ok"
    names = table_names(path)
    assert {"users", "requests", "candidates", "posts", "ratings", "model_versions", "job_runs"} <= names
    assert V3_INDEXES <= names
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("old_version", range(LATEST_VERSION))
async def test_migrate_from_each_older_version_keeps_data(tmp_path: Path, old_version: int) -> None:
    path = tmp_path / f"v{old_version}.sqlite3"
    build_old_database(path, old_version)

    async with await Database.open(path) as db:
        assert await db.schema_version() == LATEST_VERSION
        assert await db.integrity_check() == "ok"
        if old_version >= 1:
            request = await db.get_request(1)
            assert (request.uid, request.text, request.status) == ("req-1", "a small CNN", "done")
            [candidate] = await db.candidates_for_request(1)
            assert (candidate.readability, candidate.scores) == (0.5, {"readability": 0.5})
            np.testing.assert_array_equal(candidate.latent, np.arange(4, dtype=np.float32))
            assert await db.candidate_for_message(555) == 1
            assert [(r.user_id, r.value) for r in await db.all_ratings()] == [("u1", 4)]
            assert (await db.get_user("u1")).name == "Ada"
        if old_version >= 2:
            assert (await db.active_model("cnn")).metrics == {"acc": 0.7}
            assert (await db.recent_jobs(1))[0].log == "fine"
        # Every table of the latest schema works after the upgrade.
        candidate_id = await db.add_candidate(await db.create_request("u2", "new"), 0, "m", "[]")
        await db.set_rating("u2", candidate_id, 5)
        version_id = await db.add_model_version("cnn", "models/cnn-2.pt", activate=True)
        assert (await db.active_model("cnn")).id == version_id
        job = await db.start_job("reembed")
        await db.finish_job(job, "ok")
    assert V3_INDEXES <= table_names(path)

    async with await Database.open(path) as db:  # reopening is a no-op
        assert await db.schema_version() == LATEST_VERSION
        assert await db.rating_count() == (2 if old_version >= 1 else 1)


def test_failed_step_rolls_back_whole_migration(tmp_path: Path) -> None:
    path = tmp_path / "clash.sqlite3"
    build_old_database(path, 1)
    with sqlite3.connect(path, isolation_level=None) as conn:
        conn.execute("CREATE TABLE job_runs (x)")  # makes step 2's second statement fail
        with pytest.raises(sqlite3.OperationalError):  # the clash; what proves the rollback follows
            migrate(conn)
        assert schema_version(conn) == 1
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "model_versions" not in tables  # step 2's first statement was undone too
    conn.close()


async def test_refuses_database_from_newer_code(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    build_old_database(path, LATEST_VERSION)
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNewError):
        await Database.open(path)


async def test_v4_rebuilds_job_runs_keeping_its_rows_and_lets_a_job_end_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite3"
    build_old_database(path, 3)
    with sqlite3.connect(path) as conn:  # a job v3 code left running when its process died
        conn.execute("INSERT INTO job_runs (id, kind, started, status) VALUES (2, 'ae', '2024-01-03', 'running')")
    conn.close()
    async with await Database.open(path) as db:
        jobs = {j.id: j for j in await db.recent_jobs()}
        assert (jobs[1].kind, jobs[1].status, jobs[1].log, jobs[1].owner) == ("retrain", "ok", "fine", None)
        assert [j.id for j in await db.running_jobs()] == [2]
        assert await db.interrupt_job(2, "interrupted: its process stopped before finishing")
        assert (await db.recent_jobs(1))[0].status == "interrupted"
        assert (await db.active_model("cnn")).job_id is None
    with sqlite3.connect(path) as conn:
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO job_runs (kind, started, status) VALUES ('ae', 'now', 'lost')")
    conn.close()
    assert {"latent_staging", "ratings_by_user_updated", "ratings_by_updated", "job_runs_by_kind"} <= table_names(path)
