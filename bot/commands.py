"""`/diagram request:<text> [candidates] [top]`: check, take a place in the queue, answer at once.

Discord fails an interaction that gets no answer within 3 seconds, so the handler does no slow
work before `defer()`: the checks and the queue place are synchronous, then it defers, and only
then writes the request row and tells the user where they are in the queue. Refusals (empty,
too long, too many pending) are ephemeral and leave nothing behind. Every answer is in the
requester's language (`interaction.locale`), which the queued job carries to its later posts.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Optional

import discord
from discord import app_commands

from bot import i18n
from bot.queue import Job, Progress, Refused
from ml.pipeline import RequestError, check_request

if TYPE_CHECKING:
    from bot.client import DiagramBot

log = logging.getLogger(__name__)

MAX_TOP = 10   # diagrams posted per request: each is a message with five reactions


def validate(bot: "DiagramBot", text: str, candidates: int | None, top: int | None) -> tuple[str, int, int]:
    """The tidied request, candidate count and top count; Refused says what to change."""
    limit = bot.bot_settings.max_request_chars
    if not (text or "").split():
        raise Refused("refusal.empty")
    try:
        text = check_request(text)
    except RequestError:     # not empty, so longer than the model takes (never below our limit)
        raise Refused("refusal.too_long", length=len(text.strip()), limit=limit) from None
    if len(text) > limit:
        raise Refused("refusal.too_long", length=len(text), limit=limit)
    pipeline = bot.settings.pipeline
    try:
        n = pipeline.candidate_count(candidates)
    except ValueError:
        raise Refused("refusal.candidates", max=pipeline.max_candidates) from None
    if top is None:
        top = min(pipeline.top, n, MAX_TOP)
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
    return i18n.text("progress.queued_one" if ahead == 1 else "progress.queued", job.locale,
                     id=job.request_id, position=position, ahead=ahead)


async def submit(bot: "DiagramBot", interaction: discord.Interaction, text: str,
                 candidates: int | None = None, top: int | None = None, *,
                 ephemeral: bool = False, remix_of: int | None = None) -> Job | None:
    """The one way a request enters the queue (/diagram, Reroll and Remix); the job or None.

    Every way in meets the same checks, per-user cap and queue limit; `remix_of` stores the link
    from a remixed request to the one it edited."""
    user = interaction.user
    try:
        text, n, top = validate(bot, text, candidates, top)
        channel = interaction.channel or bot.get_partial_messageable(interaction.channel_id)
        job = Job(user_id=user.id, user_name=getattr(user, "display_name", None) or user.name,
                  text=text, n=n, top=top, channel=channel, channel_id=interaction.channel_id,
                  guild_id=interaction.guild_id, progress=Progress(interaction),
                  locale=i18n.locale_of(interaction))
        bot.queue.submit(job)
    except Refused as refusal:
        await tell(interaction, refusal.text(i18n.locale_of(interaction)))
        return None
    try:
        if not interaction.response.is_done():
            await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        await bot.db.upsert_user(user.id, user.name)
        request_id = await bot.db.create_request(user.id, text, interaction.guild_id,
                                                 interaction.channel_id, remix_of=remix_of)
    except Exception:                    # noqa: BLE001 - expired interaction, database trouble
        bot.queue.cancel(job)
        log.exception("could not queue a request from %s", user.id)
        if interaction.response.is_done():
            await job.progress.show(i18n.text("progress.not_queued", job.locale))
        return None
    bot.queue.mark_ready(job, request_id)
    await job.progress.show(describe_position(job, bot.queue.position(job), len(bot.queue.running)))
    return job


def diagram_command(bot: "DiagramBot") -> app_commands.Command:
    """Build /diagram bound to this bot, its option bounds taken from the config.

    Discord's client enforces an option's bounds before the command is sent, so the synced
    command carries the configured request length and candidate count rather than fixed ones.
    """

    async def diagram(interaction: discord.Interaction, request: str,
                      candidates: Optional[int] = None, top: Optional[int] = None) -> None:
        await submit(bot, interaction, request, candidates, top)

    # Annotations are strings here (postponed evaluation); bounds known only now replace them.
    diagram.__annotations__.update(
        request=app_commands.Range[str, 1, bot.bot_settings.max_request_chars],
        candidates=Optional[app_commands.Range[int, 1, bot.settings.pipeline.max_candidates]],
        top=Optional[app_commands.Range[int, 1, MAX_TOP]])
    described = app_commands.describe(
        request=i18n.described("command.diagram_request"),
        candidates=i18n.described("command.diagram_candidates"),
        top=i18n.described("command.diagram_top"))(diagram)
    return app_commands.command(name="diagram", description=i18n.described("command.diagram"))(
        app_commands.guild_only()(described))
