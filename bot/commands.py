"""`/diagram request:<text> [candidates] [top]`: a thin handler over the intake (bot/intake.py)."""

from __future__ import annotations

import discord
from discord import app_commands

from bot import i18n
from bot.context import context_of
from bot.intake import MAX_TOP, Limits


def diagram_command(limits: Limits) -> app_commands.Command:
    """/diagram, its option bounds taken from the config.

    Discord's client enforces an option's bounds before the command is sent, so the synced
    command carries the configured request length and candidate count rather than fixed ones.
    """

    async def diagram(
        interaction: discord.Interaction, request: str, candidates: int | None = None, top: int | None = None
    ) -> None:
        await context_of(interaction).intake.submit(interaction, request, candidates, top)

    # Annotations are strings here (postponed evaluation); bounds known only now replace them.
    diagram.__annotations__.update(
        request=app_commands.Range[str, 1, limits.max_request_chars],
        candidates=app_commands.Range[int, 1, limits.pipeline.max_candidates] | None,
        top=app_commands.Range[int, 1, MAX_TOP] | None,
    )
    described = app_commands.describe(
        request=i18n.described("command.diagram_request"),
        candidates=i18n.described("command.diagram_candidates"),
        top=i18n.described("command.diagram_top"),
    )(diagram)
    return app_commands.command(name="diagram", description=i18n.described("command.diagram"))(
        app_commands.guild_only()(described)
    )
