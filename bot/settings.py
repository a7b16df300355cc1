"""The [bot] and [schedule] sections of config.toml, checked when loaded.

Built with `diagrambot.config.section(settings, "bot", BotSettings)`, so unknown keys, wrong types
and values outside diagrambot.config.BOUNDS are errors.
The bot token is a secret: it comes from the environment (or an untracked config.toml), is kept
out of every repr, and is never logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from diagrambot.errors import UserError
from ml.prompt import MAX_REQUEST_CHARS

DEFAULT_RATING_EMOJIS = ["1\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
                         "2\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
                         "3\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
                         "4\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
                         "5\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}"]
RETRAIN_KINDS = ("cnn", "ae", "all")   # same as training.jobs.SCORER_KINDS (not imported: keeps settings light)


def emoji_key(emoji: str) -> str:
    """Compare emoji without variation selectors: clients send keycaps both with and without U+FE0F."""
    return str(emoji).replace("\N{VARIATION SELECTOR-16}", "")


@dataclass
class BotSettings:
    """[bot]: the Discord client, the request queue and the ratings."""

    token_env: str = "DISCORD_TOKEN"      # environment variable holding the bot token
    token: str | None = field(default=None, repr=False)   # only in an untracked config.toml
    dev_guild_id: int | None = None       # sync commands to this guild only (instant, for development)
    admin_user_ids: list[int] = field(default_factory=list)   # bot admins besides the application owner
    rating_emojis: list[str] = field(default_factory=lambda: list(DEFAULT_RATING_EMOJIS))
    max_request_chars: int = MAX_REQUEST_CHARS
    per_user_pending_limit: int = 2       # a user's queued + running requests
    queue_limit: int = 100                # all queued + running requests
    workers: int = 1                      # requests drawn at the same time

    def __post_init__(self) -> None:
        # Types and numeric bounds are checked by diagrambot.config when loaded; these need more.
        emojis = [str(e) for e in self.rating_emojis]
        if len(emojis) != 5 or len({emoji_key(e) for e in emojis}) != 5:
            raise UserError("config: [bot] rating_emojis must list 5 different emoji, "
                            "for the ratings 1 to 5 in order")
        self.rating_emojis = emojis
        if self.dev_guild_id == 0:       # 0 = no development guild: commands sync everywhere
            self.dev_guild_id = None

    def rating_value(self, emoji: object) -> int | None:
        """The rating (1..5) an emoji stands for, or None if it is not a rating emoji."""
        key = emoji_key(str(emoji))
        for value, candidate in enumerate(self.rating_emojis, start=1):
            if emoji_key(candidate) == key:
                return value
        return None


@dataclass
class ScheduleSettings:
    """[schedule]: the nightly retrain (and the settings every retrain path shares)."""

    enabled: bool = True
    retrain_cron: str = "0 3 * * *"       # minute hour day month weekday
    timezone: str = ""                    # IANA name, e.g. "Europe/Berlin"; "" = the host's zone
    retrain_kinds: str = "all"            # cnn | ae | all
    orpo: bool = False                    # the scheduled run also tunes the generator on the ratings (ORPO)
    timeout_s: float = 3 * 3600.0         # a retrain running longer is stopped and marked failed
    retrain_command: list[str] = field(default_factory=list)  # [] = python -m training.retrain

    def __post_init__(self) -> None:
        if self.retrain_kinds not in RETRAIN_KINDS:
            raise UserError(f"config: [schedule] retrain_kinds must be one of {', '.join(RETRAIN_KINDS)}")
        self.retrain_command = [str(part) for part in self.retrain_command]   # code may pass Paths
        if any(not part.strip() for part in self.retrain_command):
            raise UserError("config: [schedule] retrain_command must not hold empty strings")


def resolve_token(settings: BotSettings, environ: Mapping[str, str] | None = None) -> str | None:
    """The bot token: the environment variable first, then [bot] token; None if neither is set."""
    environ = os.environ if environ is None else environ
    token = (environ.get(settings.token_env) or settings.token or "").strip()
    return token or None
