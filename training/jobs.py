"""THE retrain code path: `/retrain`, the nightly cron job and `diagrambot retrain` all call `run_retrain`.

Training runs in a subprocess (`python -m training.retrain`) so that serving continues and a
crash there cannot take the bot down. The subprocess's contract: exit code 0 and, as the LAST
line of stdout, one JSON object

    {"status": "swapped" | "kept", "kind": ..., "version_id": int | null, "metrics": {...}, "message"?: str}

"swapped": it registered and activated a new model version (validation no worse); "kept": the new
model validated worse and the old one stays active. Anything else (non-zero exit, no JSON, a
timeout, a crash) is a failed job, and the models that were active before it are active again
after it. Every run is recorded in job_runs with its log. The caller reloads its models only
when the outcome is "swapped".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from storage import Database

log = logging.getLogger(__name__)

SCORER_KINDS = ("cnn", "ae", "all")    # the scorers; "all" covers both models
KINDS = SCORER_KINDS + ("orpo",)       # orpo: preference-tune the generator on the ratings (training/orpo.py)
DEFAULT_TIMEOUT_S = 3 * 3600.0         # a CPU retrain of both models fits well within this
LOG_LIMIT_CHARS = 64_000               # job_runs.log keeps the tail of the output
KILL_GRACE_S = 5.0                     # after SIGTERM, how long before SIGKILL

_running: set[str] = set()             # kinds running in this process (checked and set without awaiting)


@dataclass(frozen=True)
class JobOutcome:
    """What a retrain did. status: swapped | kept | failed | busy (refused: one was already running)."""

    kind: str
    status: str
    job_id: int | None = None
    version_id: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str = ""                  # one line for people (Discord, the CLI)
    log: str = field(default="", repr=False)

    @property
    def swapped(self) -> bool:
        return self.status == "swapped"

    @property
    def ok(self) -> bool:
        return self.status in ("swapped", "kept")

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "status": self.status, "job_id": self.job_id,
                "version_id": self.version_id, "metrics": self.metrics, "message": self.message}


def _conflicts(kind: str) -> tuple[str, ...]:
    """Kinds that must not run at the same time as `kind` ("all" trains both scorers)."""
    if kind == "orpo":
        return ("orpo",)
    return SCORER_KINDS if kind == "all" else (kind, "all")


def _model_kinds(kind: str) -> tuple[str, ...]:
    """Model kinds (model_versions.kind) a retrain of `kind` may activate."""
    return {"all": ("cnn", "ae"), "orpo": ("generator",)}.get(kind, (kind,))


def retrain_command(kind: str, db_path: str | os.PathLike[str], data_dir: str | os.PathLike[str],
                    base: Sequence[str] | None = None) -> list[str]:
    """The subprocess's argv: `base` (default: this Python, -m training.retrain) plus the job's arguments."""
    argv = list(base) if base else [sys.executable, "-m", "training.retrain"]
    return argv + ["--kind", kind, "--db", str(db_path), "--data-dir", str(data_dir)]


async def _active_versions(db: Database, kinds: tuple[str, ...]) -> dict[str, int]:
    return {v.kind: v.id for v in await db.model_versions() if v.active and v.kind in kinds}


async def _restore(db: Database, before: dict[str, int], kinds: tuple[str, ...]) -> list[str]:
    """Put back the versions that were active before the job (none: the shipped defaults); notes."""
    notes = []
    after = await _active_versions(db, kinds)
    for kind, version_id in before.items():
        if after.get(kind) != version_id:
            await db.activate_model_version(version_id)
            notes.append(f"restored {kind} version {version_id} (the job had activated {after.get(kind)})")
    for kind in set(after) - set(before):
        await db.deactivate_models(kind)
        notes.append(f"deactivated {kind} version {after[kind]}: the shipped default serves again")
    return notes


def _parse_result(stdout: str) -> dict[str, Any]:
    """The contract's last stdout line, checked; ValueError says what is wrong."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise ValueError("no output: expected a JSON line with the result")
    try:
        result = json.loads(lines[-1])
    except json.JSONDecodeError:
        raise ValueError(f"the last output line is not JSON: {lines[-1][:200]!r}") from None
    if not isinstance(result, dict) or result.get("status") not in ("swapped", "kept"):
        raise ValueError(f"the result's status must be 'swapped' or 'kept': {lines[-1][:200]!r}")
    version_id = result.get("version_id")
    if version_id is not None and not isinstance(version_id, int):
        raise ValueError(f"version_id must be an integer or null, got {version_id!r}")
    if not isinstance(result.get("metrics", {}), dict):
        raise ValueError("metrics must be a JSON object")
    if not isinstance(result.get("message", ""), str):
        raise ValueError("message must be a string")
    return result


def _job_log(command: Sequence[str], stdout: str, stderr: str, notes: list[str]) -> str:
    text = (f"$ {' '.join(command)}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
            + "".join(f"\n{note}" for note in notes))
    return text if len(text) <= LOG_LIMIT_CHARS else "[...]\n" + text[-LOG_LIMIT_CHARS:]


async def _stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM the subprocess's whole process group, then SIGKILL if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            await asyncio.wait_for(process.wait(), wait_s)
            break
        except asyncio.TimeoutError:
            continue
    await process.wait()


async def _drain(stream: asyncio.StreamReader, sink: bytearray) -> None:
    """Collect a stream, keeping only its tail (a chatty training log must not fill memory)."""
    while chunk := await stream.read(65536):
        sink += chunk
        if len(sink) > 4 * LOG_LIMIT_CHARS:
            del sink[:len(sink) - 2 * LOG_LIMIT_CHARS]


async def _execute(argv: Sequence[str], timeout_s: float, out: bytearray, err: bytearray) -> int:
    """Run argv to completion within timeout_s; on timeout or cancellation stop it, then re-raise."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True)   # its own process group, so stopping it stops its children too
    readers = [asyncio.create_task(_drain(process.stdout, out)),
               asyncio.create_task(_drain(process.stderr, err))]
    try:
        await asyncio.wait_for(process.wait(), timeout_s)
    except BaseException:
        await _stop(process)
        raise
    finally:
        _, stuck = await asyncio.wait(readers, timeout=KILL_GRACE_S)
        for reader in stuck:          # a grandchild still holds the pipe open
            reader.cancel()
    return process.returncode


def _age_s(started: str) -> float:
    return (datetime.now(timezone.utc) - datetime.fromisoformat(started)).total_seconds()


async def _busy_elsewhere(db: Database, kind: str, timeout_s: float) -> str | None:
    """Why `kind` cannot start because of another process's job, or None.

    A 'running' row far older than the timeout is the leftover of a process that died mid-job:
    it is marked failed instead of blocking retrains forever.
    """
    for other in _conflicts(kind):
        job = await db.running_job(other)
        if job is None:
            continue
        if _age_s(job.started) > 2 * timeout_s + 60:
            await db.finish_job(job.id, "failed", "abandoned: its process stopped before finishing")
            log.warning("marked stale job %d (%s) failed", job.id, other)
            continue
        return f"a {other} retrain is already running (job {job.id}, started {job.started})"
    return None


async def run_retrain(db: Database, kind: str, command: Sequence[str] | None = None,
                      timeout_s: float = DEFAULT_TIMEOUT_S) -> JobOutcome:
    """Run one retrain of `kind` (cnn | ae | all | orpo) as a subprocess and record it in job_runs.

    `command` is the full argv (default: `retrain_command(kind, db.path, data dir)`). Refuses
    (status "busy", nothing recorded) while a conflicting retrain runs here or in another process.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    running = [other for other in _conflicts(kind) if other in _running]
    if running:
        return JobOutcome(kind, "busy", message=f"a {running[0]} retrain is already running")
    _running.add(kind)   # claimed before the first await: two callers cannot both pass the check
    try:
        reason = await _busy_elsewhere(db, kind, timeout_s)
        if reason is not None:
            return JobOutcome(kind, "busy", message=reason)
        argv = list(command) if command else retrain_command(
            kind, Path(db.path).resolve(), Path(db.images.data_dir).resolve())
        return await _run(db, kind, argv, timeout_s)
    finally:
        _running.discard(kind)


async def _run(db: Database, kind: str, argv: list[str], timeout_s: float) -> JobOutcome:
    before = await _active_versions(db, _model_kinds(kind))
    job_id = await db.start_job(kind)
    log.info("retrain %s started (job %d)", kind, job_id)
    out, err = bytearray(), bytearray()

    def text(data: bytearray) -> str:
        return data.decode(errors="replace")

    try:
        returncode = await _execute(argv, timeout_s, out, err)
    except asyncio.TimeoutError:
        return await _fail(db, job_id, kind, before, argv, text(out), text(err),
                           f"timed out after {timeout_s:g} s and was stopped")
    except OSError as error:
        return await _fail(db, job_id, kind, before, argv, "", "",
                           f"could not start the retrain process: {error}")
    except asyncio.CancelledError:
        await _fail(db, job_id, kind, before, argv, text(out), text(err), "cancelled (shutdown)")
        raise
    stdout, stderr = text(out), text(err)
    if returncode != 0:
        return await _fail(db, job_id, kind, before, argv, stdout, stderr,
                           f"the retrain process exited with code {returncode}")
    try:
        result = _parse_result(stdout)
    except ValueError as error:
        return await _fail(db, job_id, kind, before, argv, stdout, stderr, f"unreadable result: {error}")
    status = result["status"]
    message = result.get("message") or ("a new model version is active" if status == "swapped"
                                        else "the new model validated worse; the old one stays active")
    notes = [f"{status}: {message}"]
    if status == "kept":          # "kept" promises the old models: hold the subprocess to it
        notes += await _restore(db, before, _model_kinds(kind))
    job_log = _job_log(argv, stdout, stderr, notes)
    await db.finish_job(job_id, "ok", job_log)
    log.info("retrain %s finished (job %d): %s", kind, job_id, status)
    return JobOutcome(kind, status, job_id, result.get("version_id"), result.get("metrics") or {},
                      message, job_log)


async def _fail(db: Database, job_id: int, kind: str, before: dict[str, int], argv: Sequence[str],
                stdout: str, stderr: str, message: str) -> JobOutcome:
    """Record a failed job after putting the previously active models back."""
    notes = [f"failed: {message}", *await _restore(db, before, _model_kinds(kind))]
    job_log = _job_log(argv, stdout, stderr, notes)
    await db.finish_job(job_id, "failed", job_log)
    log.warning("retrain %s failed (job %d): %s", kind, job_id, message)
    return JobOutcome(kind, "failed", job_id, message=message, log=job_log)


# ---------------------------------------------------------------- diagrambot retrain

def add_parser(subparsers: Any) -> None:
    """Register `diagrambot retrain [--kind cnn|ae|all|orpo] [--config FILE]`."""
    parser = subparsers.add_parser(
        "retrain", help="retrain the scorers (or, with --kind orpo, tune the generator on the ratings) now; "
                        "the same job as the bot's /retrain and nightly run")
    parser.add_argument("--kind", choices=KINDS, default=None,
                        help="which model to retrain (default: [schedule] retrain_kinds, else all); "
                             "orpo: preference-tune the generator on the stored ratings")
    parser.add_argument("--config", default=None, metavar="FILE", help="config.toml")
    parser.set_defaults(func=run_retrain_command)


def run_retrain_command(args: argparse.Namespace) -> int:
    """Run one retrain from the command line; prints the outcome as JSON. Exit 0 ok, 1 failed/busy."""
    from bot.settings import ScheduleSettings          # [schedule] also configures this path
    from diagrambot.config import load, section
    from storage.settings import StorageSettings

    settings = load(args.config)
    storage = section(settings, "storage", StorageSettings)
    schedule = section(settings, "schedule", ScheduleSettings)
    kind = args.kind or schedule.retrain_kinds

    async def main() -> JobOutcome:
        db = await Database.open(storage.db_path, storage.data_dir)
        try:
            command = retrain_command(kind, Path(storage.db_path).resolve(),
                                      Path(storage.data_dir).resolve(),
                                      base=schedule.retrain_command or None)
            return await run_retrain(db, kind, command, timeout_s=schedule.timeout_s)
        finally:
            await db.close()

    outcome = asyncio.run(main())
    print(json.dumps(outcome.summary(), sort_keys=True))
    if not outcome.ok:
        print(f"diagrambot retrain: {outcome.status}: {outcome.message}", file=sys.stderr)
        return 1
    if outcome.swapped:
        print("diagrambot retrain: a running bot picks the new model up after /reload", file=sys.stderr)
    return 0
