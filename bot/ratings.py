"""Ratings from reactions: a rating emoji on one of the bot's diagram posts is a 1-5 rating.

Only the raw gateway payload is used (message id, user id, emoji), so reactions count on messages
the bot has not cached and on posts made before a restart. The latest rating emoji a user adds is
their rating; removing that emoji removes it, while removing an older one (after switching from
3 to 5, say) leaves the newer rating alone. Ratings are stored at once, so the user's next
request already uses them.
"""

from __future__ import annotations

import logging
from typing import Callable

import discord

from bot.settings import BotSettings
from storage import Database

log = logging.getLogger(__name__)


class RatingHandler:
    """`on_add` / `on_remove` return what they did ("rated", "removed", or why they ignored it)."""

    def __init__(self, db: Database, settings: BotSettings, own_user_id: Callable[[], int | None]):
        self.db = db
        self.settings = settings
        self.own_user_id = own_user_id

    async def _target(self, payload: discord.RawReactionActionEvent) -> tuple[int | None, int | None, str]:
        """(candidate id, rating) for a reaction that rates, else a reason to ignore it."""
        if payload.user_id == self.own_user_id():
            return None, None, "ignored: the bot's own reaction"
        value = self.settings.rating_value(payload.emoji)
        if value is None:
            return None, None, "ignored: not a rating emoji"
        candidate_id = await self.db.candidate_for_message(payload.message_id)
        if candidate_id is None:
            return None, None, "ignored: not a diagram post"
        return candidate_id, value, ""

    async def on_add(self, payload: discord.RawReactionActionEvent) -> str:
        candidate_id, value, ignored = await self._target(payload)
        if ignored:
            return ignored
        await self.db.set_rating(str(payload.user_id), candidate_id, value)
        log.debug("user %s rated candidate %s: %s", payload.user_id, candidate_id, value)
        return "rated"

    async def on_remove(self, payload: discord.RawReactionActionEvent) -> str:
        candidate_id, value, ignored = await self._target(payload)
        if ignored:
            return ignored
        removed = await self.db.remove_rating(str(payload.user_id), candidate_id, value)
        return "removed" if removed else "ignored: not the current rating"
