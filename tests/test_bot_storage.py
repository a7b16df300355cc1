"""The repository methods added for the bot (storage/db.py)."""

from __future__ import annotations

import numpy as np
import pytest

from storage import Database


@pytest.fixture
async def db(tmp_path):
    database = await Database.open(tmp_path / "db.sqlite3")
    yield database
    await database.close()


async def test_all_ratings_with_latents_gives_every_rater_and_latent(db):
    request = await db.create_request("u1", "two nodes")
    with_latent = await db.add_candidate(
        request, 1, "t", "[]", latent=np.array([1.0, 2.0]), latent_model_version="ae-1"
    )
    without = await db.add_candidate(request, 2, "t", "[]")
    await db.set_rating("u2", with_latent, 5)
    await db.set_rating("u1", with_latent, 2)
    await db.set_rating("u1", without, 4)
    rows = await db.all_ratings_with_latents()
    assert [(user, r.candidate_id, r.value) for user, r in rows] == [
        ("u1", with_latent, 2),
        ("u1", without, 4),
        ("u2", with_latent, 5),
    ]
    assert rows[0][1].latent.tolist() == [1.0, 2.0] and rows[0][1].latent_model_version == "ae-1"
    assert rows[1][1].latent is None

    # A re-rating and a re-embedding show in the next call: nothing is cached or stale.
    await db.set_rating("u1", with_latent, 3)
    await db.set_latent(with_latent, np.array([0.5, 0.25]), "ae-2")
    again = await db.all_ratings_with_latents()
    assert [(user, r.candidate_id, r.value) for user, r in again] == [
        ("u1", with_latent, 3),
        ("u1", without, 4),
        ("u2", with_latent, 5),
    ]
    assert again[0][1].latent.tolist() == [0.5, 0.25] and again[0][1].latent_model_version == "ae-2"
    assert again[0][1].updated > rows[0][1].updated
    assert again[2][1].latent.tolist() == [0.5, 0.25]  # every rater sees the candidate's new latent


async def test_all_ratings_with_latents_is_empty_without_ratings(db):
    assert await db.all_ratings_with_latents() == []


async def test_rating_histogram_counts_each_value_including_zeros(db):
    request = await db.create_request("u1", "two nodes")
    candidate = await db.add_candidate(request, 1, "t", "[]")
    assert await db.rating_histogram() == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}
    for user, value in (("a", 5), ("b", 5), ("c", 2)):
        await db.set_rating(user, candidate, value)
    assert await db.rating_histogram() == {1: 0, 2: 1, 3: 0, 4: 0, 5: 2}


async def test_fail_unfinished_requests_closes_only_queued_and_running(db):
    queued = await db.create_request("u", "a")
    running = await db.create_request("u", "b")
    await db.set_request_status(running, "running")
    done = await db.create_request("u", "c")
    await db.set_request_status(done, "done")
    failed = await db.fail_unfinished_requests("restarted")
    assert [(r.id, r.status, r.text) for r in failed] == [(queued, "failed", "a"), (running, "failed", "b")]
    for request_id in (queued, running):
        request = await db.get_request(request_id)
        assert (request.status, request.error) == ("failed", "restarted") and request.finished
    assert (await db.get_request(done)).status == "done"
    assert await db.fail_unfinished_requests("again") == []


async def test_deactivate_models_leaves_a_kind_without_an_active_version(db):
    first = await db.add_model_version("cnn", "a", activate=True)
    await db.add_model_version("ae", "b", activate=True)
    assert await db.deactivate_models("cnn") == 1
    assert await db.active_model("cnn") is None and (await db.active_model("ae")).path == "b"
    assert await db.deactivate_models("cnn") == 0
    await db.activate_model_version(first)
    assert (await db.active_model("cnn")).id == first
