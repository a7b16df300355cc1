"""How a request enters the queue: check it, take a place, answer at once.

The one way in for /diagram, Reroll and Remix, so every way meets the same checks, per-user cap
and queue limit. Discord fails an interaction that gets no answer within 3 seconds, so nothing slow
happens before `defer()`: the checks and the queue place are synchronous, then it defers, and only
then writes the request row and tells the user where they are in the queue. Refusals (empty, too
long, too many pending) are ephemeral and leave nothing behind. Every answer is in the requester's
language (`interaction.locale`), which the queued job carries to its later posts.

Depends only on the queue, the database and the limits: nothing here knows the client.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import discord

from bot import i18n
from bot.queue import DrawQueue, Job, Progress, Refused
from ml.pipeline import RequestError, check_request
from ml.settings import PipelineSettings
from storage import Database

log = logging.getLogger(__name__)

MAX_TOP = 10  # diagrams posted per request: each is a message with five reactions


@dataclass(frozen=True)
class Limits:
    """The bounds a request must meet: its length, and the candidate and top counts."""

    max_request_chars: int
    pipeline: PipelineSettings

    def validate(self, text: str, candidates: int | None, top: int | None) -> tuple[str, int, int]:
        """The tidied request, candidate count and top count; Refused says what to change."""
        if not (text or "").split():
            raise Refused("refusal.empty")
        try:
            text = check_request(text)
        except RequestError:  # not empty, so longer than the model takes (never below our limit)
            raise Refused("refusal.too_long", length=len(text.strip()), limit=self.max_request_chars) from None
        if len(text) > self.max_request_chars:
            raise Refused("refusal.too_long", length=len(text), limit=self.max_request_chars)
        try:
            n = self.pipeline.candidate_count(candidates)
        except ValueError:
            raise Refused("refusal.candidates", max=self.pipeline.max_candidates) from None
        if top is None:
            top = min(self.pipeline.top, n, MAX_TOP)
        elif not 1 <= top <= min(n, MAX_TOP):
            raise Refused("refusal.top", max=min(n, MAX_TOP))
        return text, n, top


async def tell(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral answer, whether or not the interaction was already answered or deferred."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)


def describe_position(job: Job, position: int | None, running: int) -> str:
    """The requester's place in the queue, in their language."""
    if position is None:
        return i18n.text("progress.starting", job.locale, id=job.request_id)
    ahead = position - 1 + running
    if ahead == 0:
        return i18n.text("progress.next", job.locale, id=job.request_id)
    return i18n.text(
        "progress.queued_one" if ahead == 1 else "progress.queued",
        job.locale,
        id=job.request_id,
        position=position,
        ahead=ahead,
    )


class Intake:
    """Takes requests in: `submit` checks, queues, stores and tells; nothing else enters the queue."""

    def __init__(self, queue: DrawQueue, db: Database, limits: Limits) -> None:
        self.queue, self.db, self.limits = queue, db, limits

    async def submit(
        self,
        interaction: discord.Interaction,
        text: str,
        candidates: int | None = None,
        top: int | None = None,
        *,
        ephemeral: bool = False,
        remix_of: int | None = None,
    ) -> Job | None:
        """Queue a request; the job, or None after telling the user why not.

        `remix_of` stores the link from a remixed request to the one it edited."""
        user = interaction.user
        try:
            text, n, top = self.limits.validate(text, candidates, top)
            channel_id = interaction.channel_id  # None only for pings, which never get here
            channel = interaction.channel or (
                interaction.client.get_partial_messageable(channel_id) if channel_id is not None else None
            )
            job = Job(
                user_id=user.id,
                user_name=getattr(user, "display_name", None) or user.name,
                text=text,
                n=n,
                top=top,
                channel=channel,
                channel_id=interaction.channel_id,
                guild_id=interaction.guild_id,
                progress=Progress(interaction),
                locale=i18n.locale_of(interaction),
            )
            self.queue.submit(job)
        except Refused as refusal:
            await tell(interaction, refusal.text(i18n.locale_of(interaction)))
            return None
        try:
            if not interaction.response.is_done():
                await interaction.response.defer(ephemeral=ephemeral, thinking=True)
            await self.db.upsert_user(user.id, user.name)
            request_id = await self.db.create_request(
                user.id, text, interaction.guild_id, interaction.channel_id, remix_of=remix_of
            )
        except Exception:  # noqa: BLE001 - expired interaction, database trouble
            self.queue.cancel(job)
            log.exception("could not queue a request from %s", user.id)
            if interaction.response.is_done():
                await job.progress.show(i18n.text("progress.not_queued", job.locale))
            return None
        self.queue.mark_ready(job, request_id)
        await job.progress.show(describe_position(job, self.queue.position(job), len(self.queue.running)))
        return job
