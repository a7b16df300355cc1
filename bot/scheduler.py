"""The nightly retrain: an APScheduler cron job that runs the same path as /admin retrain.

One job, no overlap (`max_instances=1`; `run_retrain` also refuses a second concurrent run), a
missed run (the bot was down at 03:00) still happens within an hour of coming back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.retrain import describe_outcome
from ml.errors import UserError
from training.jobs import JobOutcome
from training.settings import ScheduleSettings

log = logging.getLogger(__name__)

JOB_ID = "retrain"
MISFIRE_GRACE_S = 3600


def make_trigger(settings: ScheduleSettings) -> CronTrigger:
    """The cron trigger from [schedule]; a bad expression or zone is a config error."""
    try:
        return CronTrigger.from_crontab(settings.retrain_cron, timezone=settings.timezone or None)
    except (ValueError, LookupError) as error:
        raise UserError(f"config: [schedule] retrain_cron/timezone: {error}") from None


class RetrainScheduler:
    """Runs `retrain(kind)` (the bot's retrain-and-reload) on the configured schedule."""

    def __init__(self, settings: ScheduleSettings, retrain: Callable[[str], Awaitable[JobOutcome]]):
        self.settings = settings
        self.trigger = make_trigger(settings)
        self._retrain = retrain
        self.scheduler = AsyncIOScheduler(**({"timezone": settings.timezone} if settings.timezone else {}))

    def start(self) -> None:
        """Needs the running event loop (call from setup_hook)."""
        self.scheduler.add_job(
            self.run_scheduled,
            self.trigger,
            id=JOB_ID,
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=MISFIRE_GRACE_S,
        )
        self.scheduler.start()
        log.info(
            "nightly retrain of %s scheduled (%s); next run %s",
            self.settings.retrain_kinds,
            self.settings.retrain_cron,
            self.next_run(),
        )

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def next_run(self) -> datetime | None:
        job = self.scheduler.get_job(JOB_ID)
        return getattr(job, "next_run_time", None) if job else None

    async def run_scheduled(self) -> JobOutcome:
        """The scheduled job itself: the scorers, then (with [schedule] orpo) the generator's ORPO.

        Returns the scorers' outcome; the ORPO job's is logged and recorded in job_runs."""
        outcome = await self._retrain(self.settings.retrain_kinds)
        log.info("scheduled retrain: %s", describe_outcome(outcome))
        if self.settings.orpo:
            log.info("scheduled ORPO: %s", describe_outcome(await self._retrain("orpo")))
        return outcome
