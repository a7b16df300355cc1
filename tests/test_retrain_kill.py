"""Kills during a retrain: one consistent set of active models, no orphan process, no mixed latents.

The real `python -m training.retrain --kind ae` (the job that touches latents) runs through the real
job runner, tiny (2 synthetic diagrams, 0 epochs: the new autoencoder validates equal, so it is
always swapped in) and SIGKILLs itself at a named checkpoint (env DIAGRAMBOT_KILL_AT). Then the
process that runs the job (the bot's side) is SIGKILLed while the job holds mid-re-embedding: its
child must die with it, and the next start-up must clear the job it left "running".
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeService, running_bot

from ml.parser import serialize
from ml.scoring import nets
from ml.scoring.ranking import ScoringSettings, resolve_path
from storage import Database
from training import jobs
from training.synthetic import generate, reference_diagram

ROOT = Path(__file__).resolve().parent.parent
POINTS = (
    "started",
    "opened",
    "trained",
    "saved",
    "registered",
    "staging",
    "reembedding",
    "reembedded",
    "committed",
    "reported",
)
AFTER_COMMIT = {"committed", "reported"}
CANDIDATES = 5
TINY = ["--bases", "2", "--per-base", "2", "--epochs", "0", "--seed", "0", "--reembed-batch", "2"]


def shipped_tag() -> str:
    meta = json.loads(resolve_path(ScoringSettings().ae).with_suffix(".json").read_text())
    return nets.latent_version(meta)


async def seeded(db_path: Path, data_dir: Path) -> Database:
    """Candidates with latents of the shipped autoencoder (the one serving), all rated by ann."""
    db = await Database.open(db_path, data_dir)
    request = await db.create_request("ann", "a small network")
    for rank, example in enumerate(generate(CANDIDATES, "train", seed=2)):
        diagram = reference_diagram(example)
        candidate = await db.add_candidate(
            request,
            rank,
            serialize(diagram),
            json.dumps(diagram.as_lists()),
            latent=np.full(32, rank, np.float32),
            latent_model_version=shipped_tag(),
        )
        await db.set_rating("ann", candidate, 1 + rank % 5)
    return db


def alive(pid: int) -> bool:
    """Whether process pid runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def processes_mentioning(marker: str) -> list[int]:
    """Live processes whose command line contains marker."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return [pid for pid in found if alive(pid)]


async def assert_consistent(db: Database) -> str:
    """One active set: the active (or shipped) autoencoder loads, and every candidate's latent,
    and every latent ranking gets, comes from it. Returns its latent tag."""
    active = await db.active_model("ae")
    tag = shipped_tag() if active is None else nets.latent_version(nets.load(active.path)[1])
    candidates = await db.all_candidates()
    assert len(candidates) == CANDIDATES
    assert {c.latent_model_version for c in candidates} == {tag}
    assert all(c.latent is not None and c.latent.shape == (32,) for c in candidates)
    ranked = await db.ratings_for_ranking("ann", tag, 1000)
    assert len(ranked) == CANDIDATES and all(r.latent is not None for r in ranked)
    assert await db.running_jobs() == []
    return tag


# One job runner per scenario, in its own process (the runner allows one ae job per process): it
# runs the real job once per entry of `points` ("" = no kill) and prints each outcome.
RUNNER = textwrap.dedent("""
    import asyncio, json, os, sys
    sys.path.insert(0, {root!r})
    from storage import Database
    from training import jobs

    async def main(db_path, data_dir, command, points):
        db = await Database.open(db_path, data_dir)
        try:
            for point in points:
                os.environ[jobs.KILL_AT_ENV] = point
                outcome = await jobs.run_retrain(db, "ae", command, timeout_s=240)
                print(json.dumps({{**outcome.summary(), "log": outcome.log[-3000:]}}), flush=True)
        finally:
            await db.close()

    asyncio.run(main(*json.loads(sys.argv[1])))
""")
SCENARIOS = {point: [point] for point in POINTS} | {"reembedding, then a clean run": ["reembedding", ""]}


def start_runner(db_path: Path, data_dir: Path, points: list[str]) -> subprocess.Popen:
    """The job runner process for a seeded database (its script is written beside it)."""
    argv = [str(db_path), str(data_dir), jobs.retrain_command("ae", db_path, data_dir) + TINY, points]
    script = db_path.parent / "runner.py"
    script.write_text(RUNNER.format(root=str(ROOT)))
    return subprocess.Popen(
        [sys.executable, str(script), json.dumps(argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


async def close(opening) -> None:
    await (await opening).close()


@pytest.fixture(scope="module")
def killed(tmp_path_factory) -> dict[str, tuple[Path, list[dict]]]:
    """Every scenario's folder and outcomes. They run a few at a time: each job is mostly its
    process importing torch, so this keeps the module's time near a quarter of running them in turn."""
    waiting = list(SCENARIOS.items())
    running: dict[str, tuple[Path, subprocess.Popen]] = {}
    results = {}
    while waiting or running:
        while waiting and len(running) < max(2, min(4, os.cpu_count() or 1)):
            name, points = waiting.pop(0)
            folder = tmp_path_factory.mktemp("killed")
            asyncio.run(close(seeded(folder / "db.sqlite3", folder / "data")))
            running[name] = folder, start_runner(folder / "db.sqlite3", folder / "data", points)
        for name, (folder, process) in list(running.items()):
            if process.poll() is None:
                continue
            out, err = process.communicate()
            assert process.returncode == 0, err[-3000:]
            results[name] = folder, [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            del running[name]
        time.sleep(0.1)
    return results


@pytest.mark.parametrize("point", POINTS)
async def test_a_job_killed_at_any_point_leaves_one_consistent_model_set(killed, point):
    folder, (outcome,) = killed[point]
    assert outcome["status"] == "failed" and "exited with code -9" in outcome["message"], outcome["log"]
    assert processes_mentioning(str(folder)) == []
    async with await Database.open(folder / "db.sqlite3", folder / "data") as db:
        tag = await assert_consistent(db)
        (job,) = await db.recent_jobs()
        assert job.id == outcome["job_id"] and job.status == "failed" and job.finished
        active = await db.active_model("ae")
        if point in AFTER_COMMIT:  # the swap committed: it stays, with its latents, and is reported
            assert active is not None and active.job_id == job.id
            assert outcome["activated"] == {"ae": active.id} and tag != shipped_tag()
        else:  # nothing committed: the shipped autoencoder and its latents serve
            assert active is None and outcome["activated"] == {} and tag == shipped_tag()
            assert all(c.latent[0] == c.rank for c in await db.all_candidates())  # untouched
    # Killed half-way through re-embedding (one page of 2 staged), or with all 5 staged: staged only.
    assert staged_rows(folder / "db.sqlite3") == {"reembedding": 2, "reembedded": CANDIDATES}.get(point, 0)


async def test_a_killed_jobs_leftovers_do_not_get_in_the_next_ones_way(killed):
    folder, (first, second) = killed["reembedding, then a clean run"]
    assert first["status"] == "failed" and second["status"] == "swapped", second["log"]
    async with await Database.open(folder / "db.sqlite3", folder / "data") as db:
        assert await assert_consistent(db) != shipped_tag()
        assert (await db.active_model("ae")).id == second["version_id"]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def staged_rows(db_path: Path) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM latent_staging").fetchone()[0]


async def test_killing_the_bot_mid_retrain_kills_the_job_and_the_next_start_clears_it(tmp_path, monkeypatch):
    db_path, data_dir = tmp_path / "bot.sqlite3", tmp_path / "data"  # where running_bot looks
    await close(seeded(db_path, data_dir))
    monkeypatch.setenv(jobs.HOLD_AT_ENV, "reembedding")  # the job stops there, half re-embedded
    runner = start_runner(db_path, data_dir, [""])
    try:
        deadline = time.monotonic() + 240  # a hang guard
        while not (children_of(runner.pid) and staged_rows(db_path)):
            assert runner.poll() is None, runner.communicate()
            assert time.monotonic() < deadline, "the job never reached re-embedding"
            await asyncio.sleep(0.2)
        (child,) = children_of(runner.pid)
        runner.kill()  # the bot dies, SIGKILL: no clean-up runs
        runner.wait()
        deadline = time.monotonic() + 10  # a hang guard: PR_SET_PDEATHSIG ends it at once
        while processes_mentioning(str(tmp_path)):
            assert time.monotonic() < deadline, f"the job's process {child} outlived the bot"
            await asyncio.sleep(0.1)
    finally:
        if runner.poll() is None:
            runner.kill()
    async with running_bot(tmp_path, FakeService()) as bot:  # the next start-up
        (job,) = await bot.db.recent_jobs()
        assert job.status == "interrupted" and "stopped before finishing" in job.log
        assert await bot.db.running_job("ae") is None
        assert await bot.db.active_model("ae") is None
        assert await assert_consistent(bot.db) == shipped_tag()


WATCHED = textwrap.dedent("""
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import sys, time; sys.path.insert(0, {root!r}); "
                              "from training.jobs import watch_parent; watch_parent(0.05); "
                              "print('watching', flush=True); time.sleep(120)"], stdout=subprocess.PIPE)
    child.stdout.readline()
    print(child.pid, flush=True)
    time.sleep(120)
""")


def test_without_pdeathsig_a_job_process_still_exits_when_its_parent_dies(tmp_path):
    """The fallback: a child started without PR_SET_PDEATHSIG (e.g. through a wrapper) watches its parent."""
    parent = subprocess.Popen([sys.executable, "-c", WATCHED.format(root=str(ROOT))], stdout=subprocess.PIPE)
    try:
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 5  # a hang guard: the child looks every 0.05 s
        while alive(child):
            assert time.monotonic() < deadline, "the child outlived its parent"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()
