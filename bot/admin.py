"""Admin commands, one group: /admin retrain | jobs | queue | stats | reload.

Two reaches. The bot's owner (the Discord application's owner or its team's admins and
developers) and the user ids in [bot] admin_user_ids act on the whole bot: every command, every
server's queue and stats. A server's administrators (Administrator in the server they ask from)
see that server's queue and stats only: a retrain costs hours of CPU and the queue shows other
servers' usernames and requests, so neither is theirs to use. Everyone else gets a one-line refusal.

The check is the group's `interaction_check`, run by discord.py before every subcommand: it answers
a refusal itself (so a refused user sees the reason, not the tree's "something went wrong") and
leaves the admitted user's `Reach` in `interaction.extras`. Every answer is ephemeral, a retrain's
late result included: admin chatter stays out of the channel. Answers are in the admin's language
(`interaction.locale`); what the database and the training jobs recorded (statuses, job logs,
error messages) is shown as it was recorded.
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import discord
from discord import app_commands

from bot import i18n
from bot.charts import stats_chart
from bot.context import BotContext, context_of
from bot.intake import tell
from bot.queue import Job
from bot.retrain import ReloadError, describe_outcome, reload_models

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 1900  # Discord allows 2000 characters; leave room for formatting
OWNER_ROLES = (discord.TeamMemberRole.admin, discord.TeamMemberRole.developer)  # as commands.Bot.is_owner


@dataclass(frozen=True)
class Reach:
    """Whose data an admin may see: every server's (guild_id None) or one server's."""

    guild_id: int | None = None

    @property
    def everywhere(self) -> bool:
        return self.guild_id is None

    def covers(self, job: Job) -> bool:
        return self.guild_id is None or job.guild_id == self.guild_id


def owner_ids(client: discord.Client) -> set[int]:
    """The application's owner, or its team's admins and developers (commands.Bot.is_owner's rule).

    discord.py fetches the application info at login (`client.application`); a plain Client has no
    is_owner. Before login nobody is an owner, which only matters to tests that never log in.
    """
    app = client.application
    if app is None:
        return set()
    if app.team is not None:
        return {member.id for member in app.team.members if member.role in OWNER_ROLES}
    return {app.owner.id} if app.owner is not None else set()


def reach_of(interaction: discord.Interaction, admin_user_ids: list[int]) -> Reach | None:
    """What the user may see: everything (owner, admin_user_ids), their server (its administrators) or nothing."""
    user = interaction.user
    if user.id in admin_user_ids or user.id in owner_ids(interaction.client):
        return Reach()
    permissions = getattr(user, "guild_permissions", None)  # a Member of the server asked from
    if interaction.guild_id is not None and getattr(permissions, "administrator", False):
        return Reach(interaction.guild_id)
    return None


class Refused(app_commands.CheckFailure):
    """The admin check said no, and has already told the user why."""


def _reach(interaction: discord.Interaction) -> Reach:
    """The reach the group's check admitted this interaction with."""
    return interaction.extras["reach"]


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _duration(started: str, finished: str | None, locale) -> str:
    if finished is None:
        return i18n.text("admin.running", locale)
    seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    if seconds >= 60:
        return i18n.text("admin.minutes", locale, value=f"{seconds / 60:.1f}")
    return i18n.text("admin.seconds", locale, value=f"{seconds:.1f}")


def _last_note(job_log: str | None) -> str:
    lines = [line for line in (job_log or "").splitlines() if line.strip()]
    return lines[-1][:150] if lines else ""


async def _retrain_and_report(context: BotContext, interaction: discord.Interaction, kind: str) -> None:
    """Run the retrain, then tell the admin privately; a result that cannot be delivered is logged.

    Never posted in the channel instead: the follow-up fails when the interaction expired (a
    retrain can outlast its 15 minutes), and /admin jobs shows the outcome anyway.
    """
    outcome = await context.retrain(kind)
    text = describe_outcome(outcome, i18n.locale_of(interaction))
    try:
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as error:
        log.warning(
            "could not tell user %s how retrain job %s ended (%s): %s", interaction.user.id, outcome.job_id, error, text
        )


SERVER_ADMINS = {"server_admins": True}  # a subcommand's extras: a server's administrators may use it


@app_commands.guild_only()
class AdminCommands(app_commands.Group, name="admin", description=i18n.described("command.admin")):
    """/admin: every subcommand passes `interaction_check` first."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """The one admin check: admit with the user's reach, or refuse privately."""
        reach = reach_of(interaction, context_of(interaction).settings.admin_user_ids)
        command = interaction.command
        server_admins = bool(command is not None and command.extras.get("server_admins"))
        if reach is not None and (reach.everywhere or server_admins):
            interaction.extras["reach"] = reach
            return True
        log.info(
            "refused /admin %s to user %s in guild %s",
            getattr(command, "name", "?"),
            interaction.user.id,
            interaction.guild_id,
        )
        refusal = "admin.owner_only" if reach is not None else "admin.refusal"
        await interaction.response.send_message(i18n.text(refusal, i18n.locale_of(interaction)), ephemeral=True)
        raise Refused(refusal)

    @app_commands.command(name="retrain", description=i18n.described("command.retrain"))
    @app_commands.describe(kind=i18n.described("command.retrain_kind"))
    async def retrain(
        self, interaction: discord.Interaction, kind: Literal["cnn", "ae", "all", "orpo"] = "all"
    ) -> None:
        context = context_of(interaction)
        await interaction.response.send_message(
            i18n.text("admin.retrain_started", i18n.locale_of(interaction), kind=kind), ephemeral=True
        )
        context.spawn(_retrain_and_report(context, interaction, kind))

    @app_commands.command(name="jobs", description=i18n.described("command.jobs"))
    async def jobs(self, interaction: discord.Interaction) -> None:
        context = context_of(interaction)
        locale = i18n.locale_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)  # the read may wait on a write
        runs = await context.db.recent_jobs(10)
        lines = [
            f"`#{j.id}` **{j.kind}** {j.status} · {j.started[:16].replace('T', ' ')} UTC · "
            f"{_duration(j.started, j.finished, locale)}"
            + (f"\n  ↳ {_last_note(j.log)}" if j.status != "running" else "")
            for j in runs
        ]
        upcoming = context.next_retrain()
        footer = (
            "\n" + i18n.text("admin.next_retrain", locale, when=f"{upcoming:%Y-%m-%d %H:%M %Z}") if upcoming else ""
        )
        await tell(interaction, _clip("\n".join(lines or [i18n.text("admin.no_jobs", locale)]) + footer))

    @app_commands.command(name="queue", description=i18n.described("command.queue"), extras=SERVER_ADMINS)
    async def queue(self, interaction: discord.Interaction) -> None:
        context, reach = context_of(interaction), _reach(interaction)
        queue = context.queue
        running = [j for j in queue.running if reach.covers(j)]
        waiting = [(place, j) for place, j in enumerate(queue.waiting, start=1) if reach.covers(j)]
        lines = [f"▶️ #{j.request_id} {j.user_name}: {j.text[:60]!r}" for j in running]
        lines += [f"{place}. #{j.request_id} {j.user_name}: {j.text[:60]!r}" for place, j in waiting]
        locale = i18n.locale_of(interaction)
        head = i18n.text("admin.queue_head", locale, running=len(running), waiting=len(waiting))
        if not reach.everywhere:
            head = i18n.text("admin.queue_server", locale, head=head, total=len(queue.running) + len(queue.waiting))
        workers = context.settings.workers
        head = i18n.text("admin.workers_one" if workers == 1 else "admin.workers", locale, head=head, workers=workers)
        await interaction.response.send_message(_clip("\n".join([head, *lines])), ephemeral=True)

    @app_commands.command(name="stats", description=i18n.described("command.stats"), extras=SERVER_ADMINS)
    async def stats(self, interaction: discord.Interaction) -> None:
        context, reach = context_of(interaction), _reach(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        numbers = await context.db.stats(guild_id=reach.guild_id)
        histogram = await context.db.rating_histogram(guild_id=reach.guild_id)
        png = await asyncio.to_thread(stats_chart, histogram, numbers["requests_by_status"])
        locale = i18n.locale_of(interaction)
        title = i18n.text("admin.stats_title" if reach.everywhere else "admin.stats_title_server", locale)
        embed = discord.Embed(title=title, colour=discord.Colour.blurple())
        for label, key in (
            ("admin.stats_requests", "requests"),
            ("admin.stats_diagrams", "candidates"),
            ("admin.stats_posts", "posts"),
            ("admin.stats_ratings", "ratings"),
            ("admin.stats_raters", "raters"),
            ("admin.stats_users", "users"),
        ):
            embed.add_field(name=i18n.text(label, locale), value=str(numbers[key]))
        active = ", ".join(f"{k} v{v}" for k, v in numbers["active_models"].items()) or i18n.text(
            "admin.shipped_defaults", locale
        )
        embed.add_field(name=i18n.text("admin.stats_models", locale), value=active, inline=False)
        embed.set_image(url="attachment://stats.png")
        await interaction.followup.send(embed=embed, file=discord.File(io.BytesIO(png), "stats.png"), ephemeral=True)

    @app_commands.command(name="reload", description=i18n.described("command.reload"))
    async def reload(self, interaction: discord.Interaction) -> None:
        context = context_of(interaction)
        locale = i18n.locale_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            paths = await reload_models(context.db, context.service)
        except ReloadError as error:  # the rest loaded; a failed kind keeps its previous model
            await tell(interaction, _clip(i18n.text("admin.reloaded_in_part", locale, detail=error.result.describe())))
            return
        except Exception as error:  # noqa: BLE001 - the old models keep serving
            log.exception("reload failed")
            await tell(interaction, i18n.text("admin.reload_failed", locale, error=f"{type(error).__name__}: {error}"))
            return
        loaded = ", ".join(f"{kind}: {Path(path).name}" for kind, path in paths.items())
        await tell(
            interaction,
            i18n.text("admin.reloaded", locale, loaded=loaded or i18n.text("admin.shipped_defaults", locale)),
        )
