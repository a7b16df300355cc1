"""The [schedule] section of config.toml: when the nightly retrain runs, and how every retrain runs.

The bot's scheduler reads when; `training.jobs` reads how (timeout, command), so the section lives
here, below the bot. Types and numeric bounds are checked by diagrambot.config when loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml.errors import UserError

SCORER_KINDS = ("cnn", "ae", "all")  # the scorers; "all" covers both models
KINDS = SCORER_KINDS + ("orpo",)  # orpo: preference-tune the generator on the ratings (training/orpo_job.py)


@dataclass
class ScheduleSettings:
    """[schedule]: the nightly retrain (and the settings every retrain path shares)."""

    enabled: bool = True
    retrain_cron: str = "0 3 * * *"  # minute hour day month weekday
    timezone: str = ""  # IANA name, e.g. "Europe/Berlin"; "" = the host's zone
    retrain_kinds: str = "all"  # cnn | ae | all
    orpo: bool = False  # the scheduled run also tunes the generator on the ratings (ORPO)
    timeout_s: float = 3 * 3600.0  # a retrain running longer is stopped and marked failed
    retrain_command: list[str] = field(default_factory=list)  # [] = python -m training.retrain

    def __post_init__(self) -> None:
        if self.retrain_kinds not in SCORER_KINDS:
            raise UserError(f"config: [schedule] retrain_kinds must be one of {', '.join(SCORER_KINDS)}")
        self.retrain_command = [str(part) for part in self.retrain_command]  # code may pass Paths
        if any(not part.strip() for part in self.retrain_command):
            raise UserError("config: [schedule] retrain_command must not hold empty strings")
