"""Repository behaviour: ratings under concurrency, images, crash safety, bookkeeping."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from storage import Database, NotFoundError

REPO_ROOT = Path(__file__).resolve().parents[1]
PNG_A = b"\x89PNG\r\n\x1a\n" + b"picture A"
PNG_B = b"\x89PNG\r\n\x1a\n" + b"picture B"


@pytest.fixture
async def db(tmp_path: Path):
    database = await Database.open(tmp_path / "db.sqlite3", tmp_path / "data")
    yield database
    await database.close()


async def make_candidate(db: Database, image: bytes | None = None, text: str = "a CNN") -> int:
    request_id = await db.create_request("author", text)
    return await db.add_candidate(request_id, 0, "model text", "[]", image_png=image)


def image_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "images").rglob("*") if p.is_file())


# ---------------------------------------------------------------- ratings


def replay(actions: list[tuple[str, str, int | None]]) -> dict[str, int]:
    """The rating each user should end with, applying actions in the given order."""
    state: dict[str, int] = {}
    for kind, user, value in actions:
        if kind == "set":
            state[user] = value
        elif value is None or state.get(user) == value:
            state.pop(user, None)
    return state


async def test_concurrent_rating_actions_leave_each_users_last_action(db: Database) -> None:
    candidate = await make_candidate(db)
    await db.add_post(message_id=9001, channel_id=1, candidate_id=candidate)
    rng = random.Random(20240601)
    users = ["u1", "u2", "u3", "u4"]
    actions: list[tuple[str, str, int | None]] = []
    for _ in range(100):
        user = rng.choice(users)
        if rng.random() < 0.6:
            actions.append(("set", user, rng.randint(1, 5)))
        else:  # a reaction removal (with its emoji's value) or a "clear my rating"
            actions.append(("remove", user, rng.choice([None, rng.randint(1, 5)])))
    delays = [rng.randint(0, 5) for _ in actions]
    executed: list[tuple[str, str, int | None]] = []

    async def react(action: tuple[str, str, int | None], delay: int) -> None:
        for _ in range(delay):  # jitter: tasks reach the database out of list order
            await asyncio.sleep(0)
        kind, user, value = action
        cid = await db.candidate_for_message(9001)  # what the bot does per reaction
        assert cid == candidate
        if kind == "set":
            await db.set_rating(user, cid, value)
        else:
            await db.remove_rating(user, cid, value)
        # No await between the commit and this append, and the write lock is
        # held until the commit returns, so `executed` is the commit order.
        executed.append(action)

    await asyncio.gather(*(react(a, d) for a, d in zip(actions, delays)))

    assert Counter(executed) == Counter(actions)
    assert executed != actions, "the jitter should have reordered the writes"
    expected = replay(executed)
    assert expected != replay(actions), "with this seed the order decides the outcome"
    stored = {r.user_id: r.value for r in await db.ratings_for_candidate(candidate)}
    assert stored == expected
    assert await db.rating_count() == len(expected)


async def test_two_connections_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    """A second process (training, CLI) writing at the same time waits instead of failing."""
    first = await Database.open(tmp_path / "db.sqlite3")
    second = await Database.open(tmp_path / "db.sqlite3")
    try:
        candidates = [await make_candidate(first) for _ in range(5)]
        await asyncio.gather(
            *(first.set_rating(f"a{i}", c, 1 + i % 5) for i in range(20) for c in candidates),
            *(second.set_rating(f"b{i}", c, 1 + i % 5) for i in range(20) for c in candidates),
        )
        assert await first.rating_count() == 200
        assert await second.rating_count() == 200
    finally:
        await first.close()
        await second.close()


async def test_remove_rating_with_stale_value_keeps_newer_rating(db: Database) -> None:
    candidate = await make_candidate(db)
    await db.set_rating("u1", candidate, 2)
    await db.set_rating("u1", candidate, 4)  # user switched emoji: 2 -> 4
    assert await db.remove_rating("u1", candidate, value=2) is False  # old emoji removed
    assert (await db.get_rating("u1", candidate)).value == 4
    assert await db.remove_rating("u1", candidate, value=4) is True
    assert await db.get_rating("u1", candidate) is None
    await db.set_rating("u1", candidate, 5)
    assert await db.remove_rating("u1", candidate) is True  # no value: remove whatever is there
    assert await db.rating_count() == 0


async def test_set_rating_upserts_one_row_and_updates_timestamp(db: Database) -> None:
    candidate = await make_candidate(db)
    await db.set_rating(42, candidate, 3)
    first = await db.get_rating("42", candidate)
    await db.set_rating(42, candidate, 5)
    second = await db.get_rating(42, candidate)
    assert (second.value, second.created) == (5, first.created)
    assert second.updated > first.updated
    assert await db.rating_count() == 1
    assert (await db.get_user(42)) is not None  # rater recorded on first rating


@pytest.mark.parametrize("value", [0, 6, 2.5, True, "3"])
async def test_set_rating_rejects_values_outside_one_to_five(db: Database, value) -> None:
    candidate = await make_candidate(db)
    with pytest.raises(ValueError):
        await db.set_rating("u1", candidate, value)
    assert await db.rating_count() == 0


async def test_ratings_for_user_carry_exact_latents(db: Database) -> None:
    request_id = await db.create_request("author", "an RNN")
    latent = np.random.default_rng(0).standard_normal(32).astype(np.float32)
    rated = await db.add_candidate(request_id, 0, "m", "[]", latent=latent, latent_model_version="ae-3")
    unrated = await db.add_candidate(request_id, 1, "m", "[]")
    await db.set_rating("u1", rated, 5)
    await db.set_rating("u2", unrated, 1)
    [mine] = await db.ratings_for_user("u1")
    assert (mine.candidate_id, mine.value, mine.latent_model_version) == (rated, 5, "ae-3")
    assert mine.latent.dtype == np.float32
    np.testing.assert_array_equal(mine.latent, latent)
    assert {(r.user_id, r.candidate_id) for r in await db.all_ratings()} == {("u1", rated), ("u2", unrated)}


async def test_ranking_gets_the_users_newest_ratings_bounded_with_latents_of_one_version_only(db: Database) -> None:
    request_id = await db.create_request("author", "an RNN")
    ids = []
    for rank in range(5):
        version = "ae-new" if rank % 2 == 0 else "ae-old"
        ids.append(
            await db.add_candidate(request_id, rank, "m", "[]", latent=np.full(4, rank), latent_model_version=version)
        )
    for cid in ids:
        await db.set_rating("u1", cid, 3)
    await db.set_rating("u2", ids[0], 1)
    await db.set_rating("u1", ids[1], 4)  # re-rated: now u1's newest

    newest = await db.ratings_for_ranking("u1", "ae-new", limit=3)
    assert [r.candidate_id for r in newest] == [ids[1], ids[4], ids[3]]
    assert [r.value for r in newest] == [4, 3, 3]
    # Only latents the serving autoencoder made come back; the others are ratings without one.
    assert [None if r.latent is None else r.latent[0] for r in newest] == [None, 4.0, None]
    assert [r.latent_model_version for r in newest] == [None, "ae-new", None]
    assert all(r.latent is None for r in await db.ratings_for_ranking("u1", None, limit=10))
    with pytest.raises(ValueError, match="limit"):
        await db.ratings_for_ranking("u1", "ae-new", limit=0)

    others = await db.recent_ratings_with_latents("ae-new", limit=10, exclude_user="u1")
    assert [(user, r.candidate_id, r.value) for user, r in others] == [("u2", ids[0], 1)]
    everyone = await db.recent_ratings_with_latents("ae-new", limit=2)
    assert [(user, r.candidate_id) for user, r in everyone] == [("u2", ids[0]), ("u1", ids[4])]


# ---------------------------------------------------------------- re-embedding


async def test_staged_latents_replace_the_old_ones_with_the_autoencoder_in_one_commit(db: Database) -> None:
    request_id = await db.create_request("author", "a CNN")
    old = await db.add_model_version("ae", "models/ae-old", activate=True)
    new = await db.add_model_version("ae", "models/ae-new")
    ids = [
        await db.add_candidate(request_id, rank, "m", "[]", latent=np.zeros(4), latent_model_version="ae-old")
        for rank in range(3)
    ]
    assert [c.id for c in await db.unstaged_candidates("ae-new", 2)] == ids[:2]
    assert [c.id for c in await db.unstaged_candidates("ae-new", 2, after=ids[1])] == [ids[2]]
    assert await db.stage_latents("ae-new", [(ids[0], np.ones(4)), (ids[1], None), (999, np.ones(4))]) == 2
    assert [c.id for c in await db.unstaged_candidates("ae-new", 10)] == [ids[2]]

    # One candidate has no staged latent: the commit changes nothing, not even the active version.
    assert await db.commit_latents("ae-new", activate=new) is None
    assert (await db.active_model("ae")).id == old
    assert {c.latent_model_version for c in await db.all_candidates()} == {"ae-old"}

    await db.stage_latents("ae-new", [(ids[2], np.full(4, 2.0))])
    assert await db.commit_latents("ae-new", activate=new) == 3
    assert (await db.active_model("ae")).id == new
    after = {c.id: c for c in await db.all_candidates()}
    assert {c.latent_model_version for c in after.values()} == {"ae-new"}
    assert after[ids[0]].latent.tolist() == [1.0] * 4 and after[ids[1]].latent is None
    assert after[ids[2]].latent.tolist() == [2.0] * 4
    assert await db.unstaged_candidates("ae-new", 10) == []

    await db.stage_latents("ae-next", [(ids[0], np.ones(4))])  # a killed job's leftovers
    assert await db.clear_latent_staging() == 1
    assert len(await db.unstaged_candidates("ae-next", 10)) == 3


# ---------------------------------------------------------------- requests and candidates


async def test_rated_candidates_join_each_rating_with_its_texts(db: Database) -> None:
    first = await db.create_request("author", "a CNN")
    second = await db.create_request("author", "an MLP")
    a = await db.add_candidate(first, 0, "text a", "[]")
    b = await db.add_candidate(first, 1, "text b", "[]")
    c = await db.add_candidate(second, 0, "text c", "[]")
    await db.set_rating("u2", b, 2)
    await db.set_rating("u1", a, 5)
    await db.set_rating("u1", c, 1)
    rows = await db.rated_candidates()
    assert [(r.user_id, r.request_id, r.request_text, r.candidate_id, r.model_text, r.value) for r in rows] == [
        ("u1", first, "a CNN", a, "text a", 5),
        ("u1", second, "an MLP", c, "text c", 1),
        ("u2", first, "a CNN", b, "text b", 2),
    ]


async def test_request_lifecycle(db: Database) -> None:
    request_id = await db.create_request(7, "a transformer", guild_id=11, channel_id=22)
    request = await db.get_request(request_id)
    assert (request.user_id, request.status, request.finished) == ("7", "queued", None)
    await db.set_request_status(request_id, "running")
    await db.set_request_status(request_id, "failed", error="model timed out")
    request = await db.get_request(request_id)
    assert (request.status, request.error) == ("failed", "model timed out")
    assert request.finished is not None and request.finished >= request.created
    with pytest.raises(ValueError):
        await db.set_request_status(request_id, "lost")
    with pytest.raises(NotFoundError):
        await db.set_request_status(999, "done")
    second = await db.create_request(7, "an MLP")
    assert [r.id for r in await db.recent_requests(5)] == [second, request_id]


async def test_candidate_scores_and_latent_updates(db: Database) -> None:
    request_id = await db.create_request("author", "a GAN")
    cid = await db.add_candidate(
        request_id,
        1,
        "gen text",
        '[{"id":"g"}]',
        scores={"readability": 0.8, "cnn_score": 0.6, "overlap": 0},
    )
    candidate = await db.get_candidate(cid)
    assert (candidate.readability, candidate.cnn_score, candidate.user_score) == (0.8, 0.6, None)
    assert candidate.scores == {"readability": 0.8, "cnn_score": 0.6, "overlap": 0}
    assert candidate.latent is None and candidate.image_path is None
    await db.update_scores(cid, {"user_score": 4.5, "final_score": 0.9})
    candidate = await db.get_candidate(cid)
    assert (candidate.user_score, candidate.final_score, candidate.readability) == (4.5, 0.9, 0.8)
    assert candidate.scores["overlap"] == 0
    await db.set_latent(cid, np.ones(8), "ae-2")
    candidate = await db.get_candidate(cid)
    assert candidate.latent_model_version == "ae-2"
    np.testing.assert_array_equal(candidate.latent, np.ones(8, dtype=np.float32))
    with pytest.raises(ValueError):
        await db.set_latent(cid, np.ones((2, 2)), "ae-2")
    with pytest.raises(NotFoundError):
        await db.set_latent(999, np.ones(8), "ae-2")


async def test_iter_candidates_pages_and_filters_stale_latents(db: Database) -> None:
    request_id = await db.create_request("author", "many")
    ids = []
    for rank in range(7):
        version = "ae-2" if rank % 3 == 0 else "ae-1"
        ids.append(
            await db.add_candidate(request_id, rank, "m", "[]", latent=np.zeros(4), latent_model_version=version)
        )
    ids.append(await db.add_candidate(request_id, 7, "m", "[]"))  # no latent yet
    assert [c.id async for c in db.iter_candidates(batch_size=3)] == ids
    stale = [c.rank async for c in db.iter_candidates(batch_size=2, stale_for_version="ae-2")]
    assert stale == [1, 2, 4, 5, 7]
    assert [c.id for c in await db.all_candidates()] == ids
    assert [c.rank for c in await db.candidates_for_request(request_id)] == list(range(8))


async def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await db.add_candidate(12345, 0, "m", "[]")
    with pytest.raises(sqlite3.IntegrityError):
        await db.set_rating("u1", 12345, 3)
    assert await db.rating_count() == 0
    # The failed transactions were rolled back: the connection still works.
    candidate = await make_candidate(db)
    await db.set_rating("u1", candidate, 3)
    assert await db.rating_count() == 1


async def test_posts_map_messages_to_candidates(db: Database) -> None:
    candidate = await make_candidate(db)
    await db.add_post(111, 5, candidate)
    await db.add_post(111, 5, candidate)  # a retried send is harmless
    assert await db.candidate_for_message(111) == candidate
    assert await db.candidate_for_message(222) is None
    assert (await db.get_post(111)).channel_id == 5


# ---------------------------------------------------------------- images


async def test_same_image_content_is_stored_once(db: Database, tmp_path: Path) -> None:
    first = await db.get_candidate(await make_candidate(db, PNG_A, "one"))
    second = await db.get_candidate(await make_candidate(db, PNG_A, "two"))
    assert first.image_sha256 == second.image_sha256
    assert first.image_path == second.image_path
    assert image_files(tmp_path / "data") == [db.image_file(first)]
    assert db.image_file(first).read_bytes() == PNG_A


async def test_deleting_request_removes_rows_and_its_files(db: Database, tmp_path: Path) -> None:
    request_id = await db.create_request("author", "to delete")
    c1 = await db.add_candidate(request_id, 0, "m", "[]", image_png=PNG_A)
    c2 = await db.add_candidate(request_id, 1, "m", "[]", image_png=PNG_B)
    await db.add_post(1, 1, c1)
    await db.set_rating("u1", c2, 4)
    assert len(image_files(tmp_path / "data")) == 2

    assert await db.delete_request(request_id) is True
    assert image_files(tmp_path / "data") == []
    assert await db.get_request(request_id) is None
    assert await db.get_candidate(c1) is None and await db.get_candidate(c2) is None
    assert await db.candidate_for_message(1) is None
    assert await db.rating_count() == 0
    assert await db.delete_request(request_id) is False


async def test_shared_image_survives_deleting_one_of_its_candidates(db: Database, tmp_path: Path) -> None:
    keep = await db.get_candidate(await make_candidate(db, PNG_A, "keeps the image"))
    gone = await db.get_candidate(await make_candidate(db, PNG_A, "deleted"))
    await db.delete_request(gone.request_id)
    assert db.image_file(keep).read_bytes() == PNG_A
    await db.delete_request(keep.request_id)
    assert image_files(tmp_path / "data") == []


async def test_image_store_leaves_no_temporary_files(db: Database, tmp_path: Path) -> None:
    for i in range(3):
        await make_candidate(db, PNG_A + bytes([i]))
    names = [p.name for p in image_files(tmp_path / "data")]
    assert len(names) == 3 and all(not n.startswith(".tmp") and n.endswith(".png") for n in names)


# ---------------------------------------------------------------- models and jobs


async def test_only_one_model_version_is_active_per_kind(db: Database) -> None:
    v1 = await db.add_model_version("cnn", "models/cnn-1.pt", {"acc": 0.7}, activate=True)
    v2 = await db.add_model_version("cnn", "models/cnn-2.pt", {"acc": 0.8}, activate=True)
    ae = await db.add_model_version("ae", "models/ae-1.pt", activate=True)
    v3 = await db.add_model_version("cnn", "models/cnn-3.pt")
    assert (await db.active_model("cnn")).id == v2
    assert (await db.active_model("cnn")).metrics == {"acc": 0.8}
    await db.activate_model_version(v1)
    assert [v.id for v in await db.model_versions("cnn") if v.active] == [v1]
    assert (await db.active_model("ae")).id == ae  # other kinds untouched
    assert v3 not in [v.id for v in await db.model_versions() if v.active]
    assert await db.active_model("generator") is None
    with pytest.raises(NotFoundError):
        await db.activate_model_version(999)
    assert (await db.active_model("cnn")).id == v1


async def test_a_dead_jobs_row_can_be_marked_interrupted_but_a_finished_one_is_left(db: Database) -> None:
    dead = await db.start_job("ae", owner="host:123")
    done = await db.start_job("cnn")
    assert [(j.id, j.owner) for j in await db.running_jobs()] == [(dead, "host:123"), (done, None)]
    await db.finish_job(done, "ok", "fine")
    assert await db.interrupt_job(dead, "interrupted: its process died")
    assert not await db.interrupt_job(done, "interrupted: too late")
    jobs = {j.id: j for j in await db.recent_jobs()}
    assert (jobs[dead].status, jobs[dead].log) == ("interrupted", "interrupted: its process died")
    assert jobs[dead].finished and (jobs[done].status, jobs[done].log) == ("ok", "fine")
    assert await db.running_jobs() == []
    version = await db.add_model_version("ae", "models/ae-1", job_id=dead)
    assert (await db.model_versions("ae"))[0].job_id == dead and version


async def test_job_runs(db: Database) -> None:
    job = await db.start_job("retrain")
    assert (await db.running_job("retrain")).id == job
    assert await db.running_job("reembed") is None
    await db.finish_job(job, "ok", log="3 epochs")
    assert await db.running_job("retrain") is None
    [run] = await db.recent_jobs(5)
    assert (run.status, run.log) == ("ok", "3 epochs") and run.finished is not None
    with pytest.raises(ValueError):
        await db.finish_job(job, "running")
    stats = await db.stats()
    assert stats["jobs_by_status"] == {"ok": 1}


async def test_stats_counts(db: Database) -> None:
    c1 = await make_candidate(db, PNG_A)
    c2 = await make_candidate(db)
    await db.upsert_user("lurker", "Lurker")
    await db.add_post(1, 1, c1)
    await db.set_rating("u1", c1, 5)
    await db.set_rating("u1", c2, 3)
    await db.set_rating("u2", c1, 1)
    stats = await db.stats()
    assert {k: stats[k] for k in ("requests", "candidates", "posts", "ratings", "raters", "users")} == {
        "requests": 2,
        "candidates": 2,
        "posts": 1,
        "ratings": 3,
        "raters": 2,
        "users": 4,
    }
    assert stats["requests_by_status"] == {"queued": 2}


async def test_stats_and_histogram_for_one_server_count_only_its_requests(db: Database) -> None:
    home = await db.create_request("ann", "home", guild_id=1)
    away = await db.create_request("bob", "away", guild_id=2)
    await db.create_request("cli", "no server")
    h1 = await db.add_candidate(home, 0, "m", "[]")
    h2 = await db.add_candidate(home, 1, "m", "[]")
    a1 = await db.add_candidate(away, 0, "m", "[]")
    await db.add_post(10, 5, h1)
    await db.add_post(11, 6, a1)
    await db.set_rating("cat", h1, 5)  # cat never asked here, but rated a diagram of this server
    await db.set_rating("ann", h2, 4)
    await db.set_rating("bob", a1, 2)
    await db.set_request_status(home, "done")
    await db.add_model_version("cnn", "models/cnn-1", activate=True)
    home_stats = await db.stats(guild_id=1)
    assert {k: home_stats[k] for k in ("users", "requests", "candidates", "posts", "ratings", "raters")} == {
        "users": 2,
        "requests": 1,
        "candidates": 2,
        "posts": 1,
        "ratings": 2,
        "raters": 2,
    }
    assert home_stats["requests_by_status"] == {"done": 1}
    assert home_stats["active_models"] == {"cnn": 1}  # the bot's own, the same for every server
    assert (await db.stats(guild_id=3))["requests"] == 0
    everything = await db.stats()
    assert (everything["requests"], everything["ratings"], everything["users"]) == (3, 3, 4)
    assert await db.rating_histogram(guild_id=1) == {1: 0, 2: 0, 3: 0, 4: 1, 5: 1}
    assert await db.rating_histogram() == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}


# ---------------------------------------------------------------- crash safety

CRASH_WRITER = textwrap.dedent(
    """
    import asyncio, os, sqlite3, sys, time
    from storage import Database

    path = sys.argv[1]

    async def committed():
        async with await Database.open(path) as db:
            request_id = await db.create_request("writer", "committed")
            for rank in range(5):
                cid = await db.add_candidate(request_id, rank, "m", "[]")
                await db.set_rating("writer", cid, 3)

    asyncio.run(committed())
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = 4")  # tiny cache: dirty pages spill into the WAL
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO requests (uid, user_id, text, created) "
                 "VALUES ('doomed', 'writer', 'uncommitted', 'now')")
    request_id = conn.execute("SELECT id FROM requests WHERE uid = 'doomed'").fetchone()[0]
    for i in range(2000):
        conn.execute("INSERT INTO candidates (uid, request_id, rank, model_text, nodes_json) "
                     "VALUES (?, ?, ?, ?, '[]')", (f"doomed-{i}", request_id, i, "x" * 500))
    conn.execute("UPDATE ratings SET value = 1")
    print("ready", os.path.getsize(path + "-wal"), flush=True)
    time.sleep(60)
    """
)


def run_writer(script: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True, env=env)


async def test_writer_killed_mid_transaction_leaves_consistent_database(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    writer = run_writer(CRASH_WRITER, str(path))
    try:
        line = await asyncio.wait_for(asyncio.to_thread(writer.stdout.readline), timeout=30)
        assert line.startswith("ready"), line
        # The uncommitted transaction really reached the disk (spilled into the WAL).
        assert int(line.split()[1]) > 200_000
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert writer.returncode == -signal.SIGKILL

    async with await Database.open(path) as db:
        assert await db.integrity_check() == "ok"
        requests = await db.recent_requests(10)
        assert [r.text for r in requests] == ["committed"]
        assert len(await db.all_candidates()) == 5
        assert {r.value for r in await db.all_ratings()} == {3}
        await db.set_rating("after", (await db.all_candidates())[0].id, 5)  # still writable
        assert await db.rating_count() == 6


LOOP_WRITER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("INSERT OR IGNORE INTO users (id, created) VALUES ('loop', 'now')")
    n = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute("INSERT INTO requests (uid, user_id, text, created) "
                           "VALUES (?, 'loop', 'r', 'now')", (f"r{n}",))
        for rank in range(3):
            conn.execute("INSERT INTO candidates (uid, request_id, rank, model_text, nodes_json) "
                         "VALUES (?, ?, ?, 'm', '[]')", (f"c{n}-{rank}", cur.lastrowid, rank))
        conn.execute("COMMIT")
        n += 1
        print(n, flush=True)
    """
)


@pytest.mark.parametrize("commits_before_kill", [25, 200])
async def test_writer_killed_at_any_point_leaves_whole_transactions_only(
    tmp_path: Path, commits_before_kill: int
) -> None:
    path = tmp_path / "db.sqlite3"
    await (await Database.open(path)).close()  # schema in place
    writer = run_writer(LOOP_WRITER, str(path))
    try:
        reported = 0
        while reported < commits_before_kill:
            line = await asyncio.wait_for(asyncio.to_thread(writer.stdout.readline), timeout=30)
            reported = int(line)
    finally:
        writer.send_signal(signal.SIGKILL)  # lands somewhere in a later transaction
        writer.wait()

    async with await Database.open(path) as db:
        assert await db.integrity_check() == "ok"
        requests = await db.recent_requests(100_000)
        assert len(requests) >= reported  # every reported commit survived
        for request in requests:  # and no transaction survived in part
            assert len(await db.candidates_for_request(request.id)) == 3


async def test_cancelled_writes_leave_the_connection_usable(db: Database) -> None:
    """A cancelled handler (e.g. a timed-out Discord event) must not leave a transaction open."""
    candidate = await make_candidate(db)
    outcomes = []
    # Cancel after 0..39 loop iterations (before, inside), then after doubling real delays until a
    # write has completed once, however slowly a busy machine schedules the worker thread.
    for steps in range(60):
        task = asyncio.create_task(db.set_rating(f"u{steps}", candidate, 3))
        for _ in range(min(steps, 40)):
            await asyncio.sleep(0)
        if steps >= 40 and "NoneType" not in outcomes:
            await asyncio.sleep(min(0.005 * 2 ** (steps - 40), 10.0))
        task.cancel()
        [outcome] = await asyncio.gather(task, return_exceptions=True)
        outcomes.append(type(outcome).__name__)
        await db.set_rating("witness", candidate, 1 + steps % 5)  # raises if a BEGIN leaked
    assert "CancelledError" in outcomes and "NoneType" in outcomes  # both paths exercised
    assert (await db.get_rating("witness", candidate)).value == 1 + 59 % 5
    assert await db.integrity_check() == "ok"
