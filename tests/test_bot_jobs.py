"""training.jobs.run_retrain: the one retrain path, run against small fake retrain scripts.

Each script is a real subprocess that follows (or breaks) the training.retrain contract and
really changes the model versions in the database, so the lock, the timeout, the log and the
"the old model stays active" guarantee are all exercised for real.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import textwrap
import time
from pathlib import Path

import pytest

from storage import Database
from training import jobs
from bot.fakes import fake_retrain
from training.jobs import JobOutcome, retrain_command, run_retrain

def command(db: Database, tmp_path: Path, mode: str, kind: str = "cnn") -> list[str]:
    return retrain_command(kind, db.path, db.images.data_dir, base=fake_retrain(tmp_path, mode))


@pytest.fixture
async def db(tmp_path):
    database = await Database.open(tmp_path / "jobs.sqlite3", tmp_path / "data")
    await database.add_model_version("cnn", "models/scorers/cnn-old", {"mae": 0.5}, activate=True)
    yield database
    await database.close()


async def active_cnn(db) -> str:
    return (await db.active_model("cnn")).path


async def test_a_swapping_job_activates_the_new_version_and_is_recorded(db, tmp_path):
    outcome = await run_retrain(db, "cnn", command(db, tmp_path, "swap"))
    assert outcome.status == "swapped" and outcome.swapped and outcome.ok
    assert outcome.metrics == {"mae": 0.1}
    assert (await db.active_model("cnn")).id == outcome.version_id
    assert (await active_cnn(db)).endswith("cnn-new")
    job, = await db.recent_jobs()
    assert (job.id, job.kind, job.status) == (outcome.job_id, "cnn", "ok") and job.finished
    assert "training cnn" in job.log and "epoch 1 loss" in job.log     # stdout and stderr kept


async def test_a_kept_job_is_ok_and_leaves_the_old_model_active(db, tmp_path):
    outcome = await run_retrain(db, "cnn", command(db, tmp_path, "kept"))
    assert outcome.status == "kept" and outcome.ok and not outcome.swapped
    assert await active_cnn(db) == "models/scorers/cnn-old"
    assert (await db.recent_jobs())[0].status == "ok"


@pytest.mark.parametrize("mode, why", [
    ("fail", "exited with code 1"),
    ("garbage", "unreadable result"),
    ("crash-after-activating", "exited with code 3"),
])
async def test_a_failing_job_keeps_the_old_model_and_is_recorded_failed(db, tmp_path, mode, why):
    outcome = await run_retrain(db, "cnn", command(db, tmp_path, mode))
    assert outcome.status == "failed" and not outcome.ok and why in outcome.message
    assert await active_cnn(db) == "models/scorers/cnn-old"
    job, = await db.recent_jobs()
    assert job.status == "failed" and why in job.log
    if mode == "fail":
        assert "out of memory" in job.log
    if mode == "crash-after-activating":
        assert "restored cnn version" in job.log


async def test_a_failed_first_version_is_deactivated_so_the_shipped_default_serves(tmp_path):
    async with await Database.open(tmp_path / "fresh.sqlite3", tmp_path / "data") as fresh:
        outcome = await run_retrain(fresh, "ae", command(fresh, tmp_path, "crash-after-activating", "ae"))
        assert outcome.status == "failed"
        assert await fresh.active_model("ae") is None and len(await fresh.model_versions("ae")) == 1
        assert "deactivated ae version" in (await fresh.recent_jobs())[0].log


@pytest.mark.parametrize("mode", ["hang", "hang-after-activating"])
async def test_a_job_past_its_timeout_is_stopped_and_the_old_model_stays(db, tmp_path, mode):
    start = time.perf_counter()
    outcome = await run_retrain(db, "cnn", command(db, tmp_path, mode), timeout_s=1.5)
    assert time.perf_counter() - start < 8
    assert outcome.status == "failed" and "timed out after 1.5 s" in outcome.message
    assert await active_cnn(db) == "models/scorers/cnn-old"
    job, = await db.recent_jobs()
    assert job.status == "failed" and "timed out" in job.log and "training cnn" in job.log


async def test_a_second_run_of_a_conflicting_kind_is_refused_while_one_runs(db, tmp_path):
    first = asyncio.create_task(run_retrain(db, "cnn", command(db, tmp_path, "hang"), timeout_s=30))
    for _ in range(100):                       # until the first has recorded its job
        if await db.running_job("cnn"):
            break
        await asyncio.sleep(0.02)
    for kind in ("cnn", "all"):
        refused = await run_retrain(db, kind, command(db, tmp_path, "swap", kind))
        assert refused.status == "busy" and refused.job_id is None and "already running" in refused.message
    first.cancel()                             # shutdown: the subprocess is stopped, the job failed
    with pytest.raises(asyncio.CancelledError):
        await first
    job, = await db.recent_jobs()
    assert job.status == "failed" and "cancelled" in job.log
    assert await active_cnn(db) == "models/scorers/cnn-old"


async def test_a_job_running_in_another_process_blocks_and_a_stale_one_does_not(db, tmp_path):
    other = await db.start_job("all")          # as another process (e.g. `diagrambot retrain`) would
    refused = await run_retrain(db, "ae", command(db, tmp_path, "swap", "ae"))
    assert refused.status == "busy" and f"job {other}" in refused.message

    with sqlite3.connect(db.path) as conn:     # that process died long ago without finishing
        conn.execute("UPDATE job_runs SET started = '2000-01-01T00:00:00.000000+00:00' WHERE id = ?", (other,))
    outcome = await run_retrain(db, "ae", command(db, tmp_path, "swap", "ae"))
    assert outcome.status == "swapped"
    stale = [j for j in await db.recent_jobs() if j.id == other][0]
    assert stale.status == "failed" and "abandoned" in stale.log


async def test_the_default_command_is_the_training_retrain_module(tmp_path):
    assert retrain_command("ae", "d.sqlite3", "data") == [
        sys.executable, "-m", "training.retrain", "--kind", "ae", "--db", "d.sqlite3", "--data-dir", "data"]
    assert retrain_command("orpo", "d", "x", base=["nice", "python", "r.py"]) == [
        "nice", "python", "r.py", "--kind", "orpo", "--db", "d", "--data-dir", "x"]


async def test_an_unknown_kind_is_an_error(db):
    with pytest.raises(ValueError, match="kind must be one of"):
        await run_retrain(db, "gpt")


def test_the_cli_runs_the_same_job_and_reports_json(tmp_path, capsys):
    def config(mode: str) -> str:
        path = tmp_path / f"config-{mode}.toml"
        path.write_text(textwrap.dedent(f"""
            [storage]
            db_path = "{tmp_path / 'cli.sqlite3'}"
            data_dir = "{tmp_path / 'data'}"
            [schedule]
            retrain_command = {json.dumps(fake_retrain(tmp_path, mode))}
        """))
        return str(path)

    parser = argparse.ArgumentParser()
    jobs.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["retrain", "--kind", "cnn", "--config", config("swap")])
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "swapped" and summary["kind"] == "cnn" and summary["job_id"] == 1

    args = parser.parse_args(["retrain", "--config", config("fail")])   # kind from [schedule]: all
    assert args.func(args) == 1
    out, err = capsys.readouterr()
    summary = json.loads(out.strip())
    assert (summary["status"], summary["kind"]) == ("failed", "all") and "exited with code 1" in err


def test_outcome_summary_has_no_log():
    outcome = JobOutcome("cnn", "failed", 3, message="m", log="x" * 1000)
    assert "log" not in outcome.summary() and "xxx" not in repr(outcome)
