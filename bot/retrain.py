"""The bot's side of a retrain: run the one job path, then serve the new model if it was swapped in.

`training.jobs.run_retrain` trains in a subprocess and activates a new version in storage only if
it validated no worse; the bot then loads whatever storage says is active. `/admin retrain`, the nightly
schedule and `/admin reload` all come through here. A model file that cannot be loaded never passes for
a success: the model of that kind that was serving keeps serving, and `ReloadError` says what failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

from bot import i18n
from storage import Database
from training.jobs import JobOutcome, retrain_command, run_retrain
from training.settings import ScheduleSettings

log = logging.getLogger(__name__)

MODEL_KINDS = ("cnn", "ae", "generator")  # the served models' kinds in model_versions


class ReloadError(RuntimeError):
    """Some active model could not be loaded; `result` (ml.service.ReloadResult) says which and why.

    Everything else was loaded, and the model of a failed kind that was serving keeps serving."""

    def __init__(self, result) -> None:
        super().__init__("could not load " + "; ".join(f"{kind}: {why}" for kind, why in result.failed.items()))
        self.result = result


async def reload_models(db: Database, service) -> dict[str, str]:
    """Load the active model versions into the service (off the loop); returns their paths.

    Raises ReloadError (after loading all that could be) when a file could not be loaded."""
    paths = {}
    for kind in MODEL_KINDS:
        version = await db.active_model(kind)
        if version is not None:
            paths[kind] = version.path
    result = await asyncio.to_thread(service.reload, **paths)
    if result is not None and result.failed:  # (a test double may return nothing)
        log.error("models reloaded with failures: %s", result.describe())
        raise ReloadError(result)
    log.info("models reloaded: %s", paths or "shipped defaults")
    return paths


async def retrain_and_reload(db: Database, service, kind: str, schedule: ScheduleSettings) -> JobOutcome:
    """Retrain `kind` (cnn | ae | all | orpo); reload the service only when a new version was swapped in."""
    command = retrain_command(
        kind, Path(db.path).resolve(), Path(db.images.data_dir).resolve(), base=schedule.retrain_command or None
    )
    outcome = await run_retrain(db, kind, command, timeout_s=schedule.timeout_s)
    if outcome.swapped or outcome.activated:  # (a failed job's complete commit stays active too)
        try:
            await reload_models(db, service)
        except Exception as error:  # noqa: BLE001 - the old models keep serving
            log.exception("reload after retrain job %s failed", outcome.job_id)
            return dataclasses.replace(
                outcome,
                message=f"{outcome.message}, but loading it failed "
                f"({type(error).__name__}: {error}); the old model is still serving",
            )
    return outcome


def describe_outcome(outcome: JobOutcome, locale=None) -> str:
    """One line for Discord (English without a locale: the scheduler's log)."""
    icon = {"swapped": "✅", "kept": "↩️", "busy": "⏸️"}.get(outcome.status, "❌")
    job = i18n.text("retrain.job", locale, id=outcome.job_id) if outcome.job_id is not None else ""
    version = i18n.text("retrain.version", locale, id=outcome.version_id) if outcome.version_id is not None else ""
    return i18n.text(
        "retrain.outcome",
        locale,
        icon=icon,
        kind=outcome.kind,
        job=job,
        status=outcome.status,
        version=version,
        message=outcome.message,
    )
