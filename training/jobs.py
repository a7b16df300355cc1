"""THE retrain code path: `/retrain`, the nightly cron job and `diagrambot retrain` all call `run_retrain`.

Training runs in a subprocess (`python -m training.retrain`) so that serving continues and a
crash there cannot take the bot down. The subprocess's contract: exit code 0 and, as the LAST
line of stdout, one JSON object

    {"status": "swapped" | "kept", "kind": ..., "version_id": int | null, "metrics": {...}, "message"?: str}

"swapped": it registered and activated a new model version (validation no worse); "kept": the new
model validated worse and the old one stays active. Anything else (non-zero exit, no JSON, a
timeout, a crash) is a failed job, and the models that were active before it are active again
after it, except a version the job registered under its id (env DIAGRAMBOT_JOB_ID) and activated
in one transaction with everything it depends on (an autoencoder with its latents): that commit
is complete and stays. Every run is recorded in job_runs with its log and the process that runs
it. The caller reloads its models when the outcome is "swapped" or a commit stayed.

The subprocess dies with the process that started it (PR_SET_PDEATHSIG on Linux, and the child
watches its parent as a fallback), so no job outlives its record; a job whose process died
anyway (a kill, a power cut) is marked "interrupted" at the next start-up.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage import Database, JobRun
from storage.settings import StorageSettings
from training.settings import KINDS, SCORER_KINDS, ScheduleSettings

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 3 * 3600.0  # a CPU retrain of both models fits well within this
LOG_LIMIT_CHARS = 64_000  # job_runs.log keeps the tail of the output
KILL_GRACE_S = 5.0  # after SIGTERM, how long before SIGKILL
PARENT_POLL_S = 1.0  # how often a job's process checks that its parent lives
JOB_ID_ENV = "DIAGRAMBOT_JOB_ID"  # tells the subprocess its job_runs id
KILL_AT_ENV = "DIAGRAMBOT_KILL_AT"  # test hook: SIGKILL the job's process at this checkpoint
HOLD_AT_ENV = "DIAGRAMBOT_HOLD_AT"  # test hook: stop the job's process at this checkpoint until killed
PR_SET_PDEATHSIG = 1  # linux/prctl.h

_running: set[str] = set()  # kinds running in this process (checked and set without awaiting)
_own_jobs: set[int] = set()  # job_runs ids this process is running


@dataclass(frozen=True)
class JobOutcome:
    """What a retrain did. status: swapped | kept | failed | busy (refused: one was already running)."""

    kind: str
    status: str
    job_id: int | None = None
    version_id: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str = ""  # one line for people (Discord, the CLI)
    log: str = field(default="", repr=False)
    activated: dict[str, int] = field(default_factory=dict)  # kind -> version this job committed (active)

    @property
    def swapped(self) -> bool:
        return self.status == "swapped"

    @property
    def ok(self) -> bool:
        return self.status in ("swapped", "kept")

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": self.status,
            "job_id": self.job_id,
            "version_id": self.version_id,
            "metrics": self.metrics,
            "message": self.message,
            "activated": self.activated,
        }


# ---------------------------------------------------------------- the job's process and its parent


def process_owner() -> str:
    """Names this process in job_runs.owner, so a later start-up can tell whether it still runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _job_alive(job: JobRun) -> bool | None:
    """Whether the process running `job` lives; None when this process cannot tell (another host, older code)."""
    host, _, pid = (job.owner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    if int(pid) == os.getpid():  # ours, or a dead process's whose pid we reuse (PID 1 in a container)
        return job.id in _own_jobs
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


async def _interrupt(db: Database, job: JobRun) -> bool:
    """Record a running job whose process died as "interrupted"; whether this call changed it."""
    note = f"interrupted: its process ({job.owner or 'unknown'}) stopped before finishing"
    if not await db.interrupt_job(job.id, note):
        return False
    log.warning("job %d (%s, started %s) was interrupted: its process died", job.id, job.kind, job.started)
    return True


async def interrupt_stale_jobs(db: Database) -> list[JobRun]:
    """At start-up: mark "interrupted" every running job whose process is dead (or unknown: a row
    left by older code); returns them. A job of a live process (e.g. `diagrambot retrain`) is left."""
    stale = []
    for job in await db.running_jobs():
        alive = _job_alive(job)
        if alive or (alive is None and job.owner is not None):
            continue
        if await _interrupt(db, job):
            stale.append(job)
    return stale


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn giving the subprocess SIGKILL when this process dies (Linux); None elsewhere."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved here: the child only calls it
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGKILL))
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def watch_parent(interval_s: float = PARENT_POLL_S) -> threading.Thread:
    """In a job's process: exit at once when the process that started it dies (it is re-parented).

    The fallback for where PR_SET_PDEATHSIG does not exist or did not reach this process (the
    job was started through a wrapper such as `nice` or a shell)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval_s)
        os._exit(70)  # like a SIGKILL: nothing half-done is committed

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread


def checkpoint(name: str) -> None:
    """A named point of a retrain where tests kill it: with DIAGRAMBOT_KILL_AT=name this process
    SIGKILLs itself here, with DIAGRAMBOT_HOLD_AT=name it waits here until killed. Unset: nothing."""
    if os.environ.get(KILL_AT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get(HOLD_AT_ENV) == name:
        print(f"holding at {name}", file=sys.stderr, flush=True)
        while True:
            time.sleep(3600)


def _conflicts(kind: str) -> tuple[str, ...]:
    """Kinds that must not run at the same time as `kind` ("all" trains both scorers)."""
    if kind == "orpo":
        return ("orpo",)
    return SCORER_KINDS if kind == "all" else (kind, "all")


def _model_kinds(kind: str) -> tuple[str, ...]:
    """Model kinds (model_versions.kind) a retrain of `kind` may activate."""
    return {"all": ("cnn", "ae"), "orpo": ("generator",)}.get(kind, (kind,))


def retrain_command(
    kind: str, db_path: str | os.PathLike[str], data_dir: str | os.PathLike[str], base: Sequence[str] | None = None
) -> list[str]:
    """The subprocess's argv: `base` (default: this Python, -m training.retrain) plus the job's arguments."""
    argv = list(base) if base else [sys.executable, "-m", "training.retrain"]
    return argv + ["--kind", kind, "--db", str(db_path), "--data-dir", str(data_dir)]


async def _active_versions(db: Database, kinds: tuple[str, ...]) -> dict[str, int]:
    return {v.kind: v.id for v in await db.model_versions() if v.active and v.kind in kinds}


async def _committed(db: Database, job_id: int, kinds: tuple[str, ...]) -> dict[str, int]:
    """The versions job `job_id` registered and that are active: its complete commits."""
    return {v.kind: v.id for v in await db.model_versions() if v.active and v.kind in kinds and v.job_id == job_id}


async def _restore(db: Database, before: dict[str, int], kinds: tuple[str, ...], keep: dict[str, int]) -> list[str]:
    """Put back the versions that were active before the job (none: the shipped defaults), except
    the kinds in `keep` (the job's own commits); returns notes for the log."""
    notes = [
        f"{kind} version {version_id} was committed by this job and stays active" for kind, version_id in keep.items()
    ]
    after = await _active_versions(db, kinds)
    for kind, version_id in before.items():
        if kind not in keep and after.get(kind) != version_id:
            await db.activate_model_version(version_id)
            notes.append(f"restored {kind} version {version_id} (the job had activated {after.get(kind)})")
    for kind in set(after) - set(before) - set(keep):
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
    text = f"$ {' '.join(command)}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}" + "".join(
        f"\n{note}" for note in notes
    )
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
        except TimeoutError:
            continue
    await process.wait()


async def _drain(stream: asyncio.StreamReader, sink: bytearray) -> None:
    """Collect a stream, keeping only its tail (a chatty training log must not fill memory)."""
    while chunk := await stream.read(65536):
        sink += chunk
        if len(sink) > 4 * LOG_LIMIT_CHARS:
            del sink[: len(sink) - 2 * LOG_LIMIT_CHARS]


async def _execute(
    argv: Sequence[str], timeout_s: float, out: bytearray, err: bytearray, env: dict[str, str] | None = None
) -> int:
    """Run argv to completion within timeout_s; on timeout or cancellation stop it, then re-raise."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,  # its own process group, so stopping it stops its children too
        preexec_fn=_die_with_parent(),
    )  # and it dies with this process
    assert process.stdout is not None and process.stderr is not None  # both are pipes (PIPE above)
    readers = [asyncio.create_task(_drain(process.stdout, out)), asyncio.create_task(_drain(process.stderr, err))]
    try:
        returncode = await asyncio.wait_for(process.wait(), timeout_s)
    except BaseException:
        await _stop(process)
        raise
    finally:
        _, stuck = await asyncio.wait(readers, timeout=KILL_GRACE_S)
        for reader in stuck:  # a grandchild still holds the pipe open
            reader.cancel()
    return returncode


def _age_s(started: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(started)).total_seconds()


async def _busy_elsewhere(db: Database, kind: str, timeout_s: float) -> str | None:
    """Why `kind` cannot start because of another process's job, or None.

    A 'running' row whose process is dead is marked interrupted; one whose process cannot be
    checked (another host, older code) and is far older than the timeout is marked failed: neither
    blocks retrains.
    """
    for other in _conflicts(kind):
        job = await db.running_job(other)
        if job is None:
            continue
        alive = _job_alive(job)
        if alive is False:
            await _interrupt(db, job)
            continue
        # Past twice the timeout no job of ours still runs (it would have been stopped): whatever the
        # owner check says (another host after a redeploy, a reused pid), the row is a leftover.
        if _age_s(job.started) > 2 * timeout_s + 60:
            await db.finish_job(job.id, "failed", "abandoned: its process stopped before finishing")
            log.warning("marked stale job %d (%s) failed", job.id, other)
            continue
        return f"a {other} retrain is already running (job {job.id}, started {job.started})"
    return None


async def run_retrain(
    db: Database, kind: str, command: Sequence[str] | None = None, timeout_s: float = DEFAULT_TIMEOUT_S
) -> JobOutcome:
    """Run one retrain of `kind` (cnn | ae | all | orpo) as a subprocess and record it in job_runs.

    `command` is the full argv (default: `retrain_command(kind, db.path, data dir)`). Refuses
    (status "busy", nothing recorded) while a conflicting retrain runs here or in another process.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    running = [other for other in _conflicts(kind) if other in _running]
    if running:
        return JobOutcome(kind, "busy", message=f"a {running[0]} retrain is already running")
    _running.add(kind)  # claimed before the first await: two callers cannot both pass the check
    try:
        reason = await _busy_elsewhere(db, kind, timeout_s)
        if reason is not None:
            return JobOutcome(kind, "busy", message=reason)
        argv = (
            list(command)
            if command
            else retrain_command(kind, Path(db.path).resolve(), Path(db.images.data_dir).resolve())
        )
        return await _run(db, kind, argv, timeout_s)
    finally:
        _running.discard(kind)


async def _run(db: Database, kind: str, argv: list[str], timeout_s: float) -> JobOutcome:
    before = await _active_versions(db, _model_kinds(kind))
    job_id = await db.start_job(kind, owner=process_owner())
    _own_jobs.add(job_id)
    try:
        return await _supervise(db, kind, argv, timeout_s, before, job_id)
    finally:
        _own_jobs.discard(job_id)


async def _supervise(
    db: Database, kind: str, argv: list[str], timeout_s: float, before: dict[str, int], job_id: int
) -> JobOutcome:
    """Run the job's process and record how it ended."""
    log.info("retrain %s started (job %d)", kind, job_id)
    out, err = bytearray(), bytearray()

    def text(data: bytearray) -> str:
        return data.decode(errors="replace")

    try:
        returncode = await _execute(argv, timeout_s, out, err, {**os.environ, JOB_ID_ENV: str(job_id)})
    except TimeoutError:
        return await _fail(
            db, job_id, kind, before, argv, text(out), text(err), f"timed out after {timeout_s:g} s and was stopped"
        )
    except OSError as error:
        return await _fail(db, job_id, kind, before, argv, "", "", f"could not start the retrain process: {error}")
    except asyncio.CancelledError:
        await _fail(db, job_id, kind, before, argv, text(out), text(err), "cancelled (shutdown)")
        raise
    stdout, stderr = text(out), text(err)
    if returncode != 0:
        return await _fail(
            db, job_id, kind, before, argv, stdout, stderr, f"the retrain process exited with code {returncode}"
        )
    try:
        result = _parse_result(stdout)
    except ValueError as error:
        return await _fail(db, job_id, kind, before, argv, stdout, stderr, f"unreadable result: {error}")
    status = result["status"]
    message = result.get("message") or (
        "a new model version is active"
        if status == "swapped"
        else "the new model validated worse; the old one stays active"
    )
    notes = [f"{status}: {message}"]
    committed = await _committed(db, job_id, _model_kinds(kind))
    if status == "kept":  # "kept" promises the old models: hold the subprocess to it
        notes += await _restore(db, before, _model_kinds(kind), committed)
    job_log = _job_log(argv, stdout, stderr, notes)
    await db.finish_job(job_id, "ok", job_log)
    log.info("retrain %s finished (job %d): %s", kind, job_id, status)
    return JobOutcome(
        kind, status, job_id, result.get("version_id"), result.get("metrics") or {}, message, job_log, committed
    )


async def _fail(
    db: Database,
    job_id: int,
    kind: str,
    before: dict[str, int],
    argv: Sequence[str],
    stdout: str,
    stderr: str,
    message: str,
) -> JobOutcome:
    """Record a failed job after putting back the previously active models it had not committed."""
    committed = await _committed(db, job_id, _model_kinds(kind))
    notes = [f"failed: {message}", *await _restore(db, before, _model_kinds(kind), committed)]
    if committed:
        message += (
            "; "
            + ", ".join(f"{k} version {v}" for k, v in committed.items())
            + " had been committed before that and stays active"
        )
    job_log = _job_log(argv, stdout, stderr, notes)
    await db.finish_job(job_id, "failed", job_log)
    log.warning("retrain %s failed (job %d): %s", kind, job_id, message)
    return JobOutcome(
        kind, "failed", job_id, max(committed.values(), default=None), message=message, log=job_log, activated=committed
    )


# ---------------------------------------------------------------- diagrambot retrain


def add_parser(subparsers: Any) -> None:
    """Register `diagrambot retrain [--kind cnn|ae|all|orpo] [--config FILE]`."""
    parser = subparsers.add_parser(
        "retrain",
        help="retrain the scorers (or, with --kind orpo, tune the generator on the ratings) now; "
        "the same job as the bot's /retrain and nightly run",
    )
    parser.add_argument(
        "--kind",
        choices=KINDS,
        default=None,
        help="which model to retrain (default: [schedule] retrain_kinds, else all); "
        "orpo: preference-tune the generator on the stored ratings",
    )
    parser.add_argument("--config", default=None, metavar="FILE", help="config.toml")
    parser.set_defaults(func=run_retrain_command)


def run_retrain_command(args: argparse.Namespace) -> int:
    """Run one retrain from the command line; prints the outcome as JSON. Exit 0 ok, 1 failed/busy.

    `args.settings` (built by diagrambot.cli from --config) gives [storage] and [schedule]."""
    storage: StorageSettings = args.settings.storage
    schedule: ScheduleSettings = args.settings.schedule
    kind = args.kind or schedule.retrain_kinds

    async def main() -> JobOutcome:
        db = await Database.open(storage.db_path, storage.data_dir)
        try:
            command = retrain_command(
                kind,
                Path(storage.db_path).resolve(),
                Path(storage.data_dir).resolve(),
                base=schedule.retrain_command or None,
            )
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
