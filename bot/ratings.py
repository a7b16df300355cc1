"""Ratings from reactions: a rating emoji on one of the bot's diagram posts is a 1-5 rating.

Only the raw gateway payload is used (message id, user id, emoji), so reactions count on messages
the bot has not cached and on posts made before a restart. The latest rating emoji a user adds is
their rating; removing that emoji removes it, while removing an older one (after switching from
3 to 5, say) leaves the newer rating alone. Ratings are stored at once, so the user's next
request already uses them.

Discord sends a reaction once, so a write that fails loses the rating for good. While another
process holds the database's write lock past SQLite's busy_timeout (a long ``db import``, say),
a write is retried after each of ``RETRY_DELAYS_S``. A rating that is still not stored (busy to
the end, another error, or cancelled at shutdown) is logged at ERROR with its whole payload as one
JSON object, which ``replay_rating`` writes later.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import discord

from bot.settings import BotSettings
from storage import Database, is_busy

log = logging.getLogger(__name__)

# Pauses between attempts. Each attempt itself waits up to busy_timeout (5 s by default), so a
# rating is given up after about 6 x 5 s + 15.5 s = 45 s of a locked database.
RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
LOST = "failed: not stored, logged for replay"


async def replay_rating(db: Database, entry: dict[str, Any]) -> str:
    """Apply one rating entry: the handler's own write, and how a logged entry is replayed.

    ``entry`` is ``{"action": "add"|"remove", "user_id", "message_id", "value", ...}``.
    """
    candidate_id = await db.candidate_for_message(entry["message_id"])
    if candidate_id is None:
        return "ignored: not a diagram post"
    if entry["action"] == "add":
        await db.set_rating(entry["user_id"], candidate_id, entry["value"])
        log.debug("user %s rated candidate %s: %s", entry["user_id"], candidate_id, entry["value"])
        return "rated"
    removed = await db.remove_rating(entry["user_id"], candidate_id, entry["value"])
    return "removed" if removed else "ignored: not the current rating"


class RatingHandler:
    """`on_add` / `on_remove` return what they did ("rated", "removed", or why they did not)."""

    def __init__(
        self,
        db: Database,
        settings: BotSettings,
        own_user_id: Callable[[], int | None],
        retry_delays_s: Sequence[float] = RETRY_DELAYS_S,
    ):
        self.db = db
        self.settings = settings
        self.own_user_id = own_user_id
        self.retry_delays_s = tuple(retry_delays_s)
        # Writes one at a time, so a user's add and remove land in the order Discord sent them
        # even while a locked database makes them wait.
        self._in_order = asyncio.Lock()

    async def on_add(self, payload: discord.RawReactionActionEvent) -> str:
        return await self._handle("add", payload)

    async def on_remove(self, payload: discord.RawReactionActionEvent) -> str:
        return await self._handle("remove", payload)

    async def _handle(self, action: str, payload: discord.RawReactionActionEvent) -> str:
        if payload.user_id == self.own_user_id():
            return "ignored: the bot's own reaction"
        value = self.settings.rating_value(payload.emoji)
        if value is None:
            return "ignored: not a rating emoji"
        entry = {
            "action": action,
            "user_id": str(payload.user_id),
            "message_id": payload.message_id,
            "channel_id": payload.channel_id,
            "guild_id": payload.guild_id,
            "value": value,
        }
        try:
            async with self._in_order:
                return await self._write(entry)
        except asyncio.CancelledError:
            self._log_lost(entry, "cancelled")
            raise
        except Exception as error:  # noqa: BLE001 - the rating is logged, the gateway goes on
            self._log_lost(entry, f"{type(error).__name__}: {error}")
            return LOST

    async def _write(self, entry: dict[str, Any]) -> str:
        """``replay_rating``, retried after each delay while the database is busy."""
        for delay in self.retry_delays_s:
            try:
                return await replay_rating(self.db, entry)
            except Exception as error:  # noqa: BLE001 - only a busy database is retried
                if not is_busy(error):
                    raise
                log.warning("rating write waits %.1f s, the database is busy: %s", delay, error)
            await asyncio.sleep(delay)
        return await replay_rating(self.db, entry)

    @staticmethod
    def _log_lost(entry: dict[str, Any], why: str) -> None:
        log.error(
            "rating not stored (%s); replay with bot.ratings.replay_rating: %s",
            why,
            json.dumps(entry, sort_keys=True),
            extra={"rating": entry},
        )
