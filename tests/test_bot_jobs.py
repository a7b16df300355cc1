"""training.jobs.run_retrain: the one retrain path, run against small fake retrain scripts.

Each script is a real subprocess that follows (or breaks) the training.retrain contract and
really changes the model versions in the database, so the lock, the timeout, the log and the
"the old model stays active" guarantee are all exercised for real.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from fakes import TEST_SETTINGS, FakeInteraction, FakeService, fake_retrain, fake_user, running_bot

from bot.retrain import ReloadError, reload_models, retrain_and_reload
from diagrambot.cli import parse_args
from ml.scoring import nets
from ml.service import DiagramService
from storage import Database
from training import jobs
from training.jobs import JobOutcome, retrain_command, run_retrain
from training.settings import ScheduleSettings

ROOT = Path(__file__).resolve().parent.parent


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
    (job,) = await db.recent_jobs()
    assert (job.id, job.kind, job.status) == (outcome.job_id, "cnn", "ok") and job.finished
    assert "training cnn" in job.log and "epoch 1 loss" in job.log  # stdout and stderr kept


async def test_a_kept_job_is_ok_and_leaves_the_old_model_active(db, tmp_path):
    outcome = await run_retrain(db, "cnn", command(db, tmp_path, "kept"))
    assert outcome.status == "kept" and outcome.ok and not outcome.swapped
    assert await active_cnn(db) == "models/scorers/cnn-old"
    assert (await db.recent_jobs())[0].status == "ok"


@pytest.mark.parametrize(
    "mode, why",
    [
        ("fail", "exited with code 1"),
        ("garbage", "unreadable result"),
        ("crash-after-activating", "exited with code 3"),
    ],
)
async def test_a_failing_job_keeps_the_old_model_and_is_recorded_failed(db, tmp_path, mode, why):
    outcome = await run_retrain(db, "cnn", command(db, tmp_path, mode))
    assert outcome.status == "failed" and not outcome.ok and why in outcome.message
    assert await active_cnn(db) == "models/scorers/cnn-old"
    (job,) = await db.recent_jobs()
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
    # The job would sleep for ever: wait_for is only a hang guard (20x the 1.5 s timeout), the
    # outcome and the log say the timeout stopped it.
    outcome = await asyncio.wait_for(run_retrain(db, "cnn", command(db, tmp_path, mode), timeout_s=1.5), 30)
    assert outcome.status == "failed" and "timed out after 1.5 s" in outcome.message
    assert await active_cnn(db) == "models/scorers/cnn-old"
    (job,) = await db.recent_jobs()
    assert job.status == "failed" and "timed out" in job.log and "training cnn" in job.log


async def test_a_second_run_of_a_conflicting_kind_is_refused_while_one_runs(db, tmp_path):
    first = asyncio.create_task(run_retrain(db, "cnn", command(db, tmp_path, "hang"), timeout_s=30))
    for _ in range(100):  # until the first has recorded its job
        if await db.running_job("cnn"):
            break
        await asyncio.sleep(0.02)
    for kind in ("cnn", "all"):
        refused = await run_retrain(db, kind, command(db, tmp_path, "swap", kind))
        assert refused.status == "busy" and refused.job_id is None and "already running" in refused.message
    first.cancel()  # shutdown: the subprocess is stopped, the job failed
    with pytest.raises(asyncio.CancelledError):
        await first
    (job,) = await db.recent_jobs()
    assert job.status == "failed" and "cancelled" in job.log
    assert await active_cnn(db) == "models/scorers/cnn-old"


async def test_a_job_running_in_another_process_blocks_and_a_stale_one_does_not(db, tmp_path):
    other = await db.start_job("all")  # as another process (e.g. `diagrambot retrain`) would
    refused = await run_retrain(db, "ae", command(db, tmp_path, "swap", "ae"))
    assert refused.status == "busy" and f"job {other}" in refused.message

    with sqlite3.connect(db.path) as conn:  # that process died long ago without finishing
        conn.execute("UPDATE job_runs SET started = '2000-01-01T00:00:00.000000+00:00' WHERE id = ?", (other,))
    outcome = await run_retrain(db, "ae", command(db, tmp_path, "swap", "ae"))
    assert outcome.status == "swapped"
    stale = [j for j in await db.recent_jobs() if j.id == other][0]
    assert stale.status == "failed" and "abandoned" in stale.log


async def test_the_default_command_is_the_training_retrain_module(tmp_path):
    assert retrain_command("ae", "d.sqlite3", "data") == [
        sys.executable,
        "-m",
        "training.retrain",
        "--kind",
        "ae",
        "--db",
        "d.sqlite3",
        "--data-dir",
        "data",
    ]
    assert retrain_command("orpo", "d", "x", base=["nice", "python", "r.py"]) == [
        "nice",
        "python",
        "r.py",
        "--kind",
        "orpo",
        "--db",
        "d",
        "--data-dir",
        "x",
    ]


async def test_an_unknown_kind_is_an_error(db):
    with pytest.raises(ValueError, match="kind must be one of"):
        await run_retrain(db, "gpt")


def test_the_cli_runs_the_same_job_and_reports_json(tmp_path, capsys):
    def config(mode: str) -> str:
        path = tmp_path / f"config-{mode}.toml"
        path.write_text(
            textwrap.dedent(f"""
            [storage]
            db_path = "{tmp_path / "cli.sqlite3"}"
            data_dir = "{tmp_path / "data"}"
            [schedule]
            retrain_command = {json.dumps(fake_retrain(tmp_path, mode))}
        """)
        )
        return str(path)

    args = parse_args(["retrain", "--kind", "cnn", "--config", config("swap")])
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "swapped" and summary["kind"] == "cnn" and summary["job_id"] == 1

    args = parse_args(["retrain", "--config", config("fail")])  # kind from [schedule]: all
    assert args.func(args) == 1
    out, err = capsys.readouterr()
    summary = json.loads(out.strip())
    assert (summary["status"], summary["kind"]) == ("failed", "all") and "exited with code 1" in err


def test_outcome_summary_has_no_log():
    outcome = JobOutcome("cnn", "failed", 3, message="m", log="x" * 1000)
    assert "log" not in outcome.summary() and "xxx" not in repr(outcome)


# ---------------------------------------------------------------- kills, stale jobs, commits, reloads


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def owner(pid: int, host: str | None = None) -> str:
    return f"{host or socket.gethostname()}:{pid}"


async def test_a_job_row_far_older_than_the_timeout_is_abandoned_even_if_its_pid_lives(db, tmp_path):
    # The pid was reused by another process (or the row is another host's): the owner looks alive.
    reused = await db.start_job("all", owner=owner(os.getppid()))
    with sqlite3.connect(db.path) as conn:
        conn.execute("UPDATE job_runs SET started = '2000-01-01T00:00:00.000000+00:00' WHERE id = ?", (reused,))
    outcome = await run_retrain(db, "cnn", command(db, tmp_path, "swap"))
    assert outcome.status == "swapped"
    stale = [j for j in await db.recent_jobs() if j.id == reused][0]
    assert stale.status == "failed" and "abandoned" in stale.log


async def test_a_job_whose_process_died_is_interrupted_at_once_instead_of_blocking(db, tmp_path):
    stale = await db.start_job("all", owner=owner(dead_pid()))  # started minutes, not hours, ago
    outcome = await run_retrain(db, "cnn", command(db, tmp_path, "swap"))
    assert outcome.status == "swapped"
    jobs_by_id = {j.id: j for j in await db.recent_jobs()}
    assert jobs_by_id[stale].status == "interrupted" and "stopped before finishing" in jobs_by_id[stale].log
    assert jobs_by_id[outcome.job_id].owner == jobs.process_owner()


async def test_start_up_interrupts_only_the_jobs_whose_process_is_gone(db):
    dead = await db.start_job("ae", owner=owner(dead_pid()))
    legacy = await db.start_job("cnn")  # left by older code: no owner
    mine = await db.start_job("all", owner=jobs.process_owner())  # this pid, but not running here
    live = await db.start_job("orpo", owner=owner(os.getppid()))  # e.g. `diagrambot retrain`
    remote = await db.start_job("cnn", owner=owner(1, host="another-host"))
    interrupted = await jobs.interrupt_stale_jobs(db)
    assert sorted(j.id for j in interrupted) == [dead, legacy, mine]
    assert sorted(j.id for j in await db.running_jobs()) == [live, remote]
    assert {j.status for j in await db.recent_jobs() if j.id in (dead, legacy, mine)} == {"interrupted"}


async def test_the_bot_clears_a_dead_retrain_when_it_starts(tmp_path):
    async with await Database.open(tmp_path / "bot.sqlite3", tmp_path / "data") as old:
        job = await old.start_job("all", owner=owner(dead_pid()))
    async with running_bot(tmp_path, FakeService()) as bot:
        assert (await bot.db.recent_jobs())[0].status == "interrupted"
        assert await bot.db.running_job("all") is None and job


COMMIT_THEN_CRASH = """
import argparse, asyncio, os, sys
sys.path.insert(0, {root!r})
from storage import Database

parser = argparse.ArgumentParser()
parser.add_argument("--kind"); parser.add_argument("--db"); parser.add_argument("--data-dir")
args = parser.parse_args()

async def commit():
    async with await Database.open(args.db, args.data_dir) as db:
        job_id = os.environ.get("DIAGRAMBOT_JOB_ID")
        await db.add_model_version("cnn", "models/cnn-committed", activate=True,
                                   job_id=int(job_id) if job_id else None)

asyncio.run(commit())
os._exit(3)        # dies after its commit, before reporting
"""


def commit_then_crash(folder: Path) -> list[str]:
    script = folder / "commit_then_crash.py"
    script.write_text(COMMIT_THEN_CRASH.format(root=str(ROOT)))
    return [sys.executable, str(script)]


async def test_a_commit_the_job_made_before_dying_stays_active_and_is_served(db, tmp_path):
    service = FakeService()
    schedule = ScheduleSettings(enabled=False, retrain_command=commit_then_crash(tmp_path))
    outcome = await retrain_and_reload(db, service, "cnn", schedule)
    assert outcome.status == "failed" and "exited with code 3" in outcome.message
    active = await db.active_model("cnn")
    assert active.path == "models/cnn-committed" and active.job_id == outcome.job_id
    assert outcome.activated == {"cnn": active.id} and "stays active" in outcome.message
    assert service.reloads == [{"cnn": "models/cnn-committed", "ae": None}]


async def test_a_model_file_that_cannot_be_loaded_is_reported_and_the_old_one_serves(tmp_path, caplog):
    service = DiagramService(TEST_SETTINGS, generator=object())
    shipped_ae = service.scorer.ae_version
    async with await Database.open(tmp_path / "bot.sqlite3", tmp_path / "data") as db:
        broken = nets.save(nets.ConvAutoencoder().eval(), tmp_path / "data" / "models" / "ae-1", "ae", {}, 0)
        broken.write_bytes(broken.read_bytes()[:300])  # a truncated file
        await db.add_model_version("ae", str(broken), activate=True)
    async with running_bot(tmp_path, service) as bot:  # the bot still starts
        assert service.scorer.ae_version == shipped_ae  # on the shipped autoencoder
        assert any(r.levelname == "ERROR" and "ae-1.safetensors" in r.getMessage() for r in caplog.records)
        broken.unlink()  # now missing altogether
        with pytest.raises(ReloadError, match="ae-1.safetensors") as raised:
            await reload_models(bot.db, service)
        assert set(raised.value.result.failed) == {"ae"} and raised.value.result.loaded["cnn"]
        assert service.scorer is not None and service.scorer.ae_version == shipped_ae


@dataclass
class ServingAE(FakeService):
    """The fake service, with a learned scorer whose autoencoder is 'ae-new'."""

    scorer: object = field(
        default_factory=lambda: SimpleNamespace(ae_version="ae-new", personal=SimpleNamespace(min_ratings=3))
    )


async def test_a_request_ranks_with_the_users_own_ratings_and_only_latents_of_the_serving_ae(tmp_path):
    service = ServingAE()
    async with running_bot(tmp_path, service) as bot:
        request = await bot.db.create_request("9", "earlier")
        own = [
            await bot.db.add_candidate(
                request, rank, "m", "[]", latent=np.full(4, rank), latent_model_version="ae-new" if rank else "ae-old"
            )
            for rank in range(4)
        ]
        for cid in own:
            await bot.db.set_rating("7", cid, 4)
        await bot.db.set_rating("8", own[1], 1)  # someone else's
        interaction = FakeInteraction(bot, user=fake_user(7))
        await bot.tree.get_command("diagram").callback(interaction, request="two nodes", top=1)
        await bot.queue.join()
        ratings = service.draws[0]["ratings"]
        assert {r.user_id for r in ratings} == {"7"}  # 3 usable own latents: no fallback
        assert sorted(r.latent[0] for r in ratings if r.latent is not None) == [1.0, 2.0, 3.0]
        assert sum(r.latent is None for r in ratings) == 1  # the 'ae-old' one carries none

        interaction = FakeInteraction(bot, user=fake_user(8))  # one rating: everyone's fall back
        await bot.tree.get_command("diagram").callback(interaction, request="two nodes", top=1)
        await bot.queue.join()
        ratings = service.draws[1]["ratings"]
        assert sorted((r.user_id, r.latent[0]) for r in ratings) == [("7", 1.0), ("7", 2.0), ("7", 3.0), ("8", 1.0)]
