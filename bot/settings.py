"""The [bot] section of config.toml, checked when loaded.

Built by diagrambot.config with every other section, so unknown keys, wrong types and values
outside diagrambot.config.BOUNDS are errors.
The bot token is a secret: it comes from the environment (or an untracked config.toml), is kept
out of every repr, and is never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ml.errors import UserError
from ml.prompt import MAX_REQUEST_CHARS

if TYPE_CHECKING:
    from ml.settings import PipelineSettings
    from storage.settings import StorageSettings
    from training.settings import ScheduleSettings

DEFAULT_RATING_EMOJIS = [
    "1\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
    "2\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
    "3\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
    "4\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
    "5\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
]


def emoji_key(emoji: str) -> str:
    """Compare emoji without variation selectors: clients send keycaps both with and without U+FE0F."""
    return str(emoji).replace("\N{VARIATION SELECTOR-16}", "")


@dataclass
class BotSettings:
    """[bot]: the Discord client, the request queue and the ratings."""

    token_env: str = "DISCORD_TOKEN"  # environment variable holding the bot token
    token: str | None = field(default=None, repr=False)  # only in an untracked config.toml
    dev_guild_id: int | None = None  # sync commands to this guild only (instant, for development)
    admin_user_ids: list[int] = field(default_factory=list)  # bot admins besides the application owner
    rating_emojis: list[str] = field(default_factory=lambda: list(DEFAULT_RATING_EMOJIS))
    max_request_chars: int = MAX_REQUEST_CHARS
    per_user_pending_limit: int = 2  # a user's queued + running requests
    queue_limit: int = 100  # all queued + running requests
    workers: int = 1  # requests drawn at the same time

    def __post_init__(self) -> None:
        # Types and numeric bounds are checked by diagrambot.config when loaded; these need more.
        emojis = [str(e) for e in self.rating_emojis]
        if len(emojis) != 5 or len({emoji_key(e) for e in emojis}) != 5:
            raise UserError("config: [bot] rating_emojis must list 5 different emoji, for the ratings 1 to 5 in order")
        self.rating_emojis = emojis
        if self.dev_guild_id == 0:  # 0 = no development guild: commands sync everywhere
            self.dev_guild_id = None

    def rating_value(self, emoji: object) -> int | None:
        """The rating (1..5) an emoji stands for, or None if it is not a rating emoji."""
        key = emoji_key(str(emoji))
        for value, candidate in enumerate(self.rating_emojis, start=1):
            if emoji_key(candidate) == key:
                return value
        return None


def resolve_token(settings: BotSettings, environ: Mapping[str, str] | None = None) -> str | None:
    """The bot token: the environment variable first, then [bot] token; None if neither is set."""
    environ = os.environ if environ is None else environ
    token = (environ.get(settings.token_env) or settings.token or "").strip()
    return token or None


class Sections(Protocol):
    """The config sections the bot reads (diagrambot.config.Settings is one; tests build their own)."""

    bot: BotSettings
    pipeline: PipelineSettings
    storage: StorageSettings
    schedule: ScheduleSettings
