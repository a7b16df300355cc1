"""Admin commands: /retrain, /jobs, /queue, /stats, /reload.

Allowed for guild administrators and the user ids in [bot] admin_user_ids; everyone else gets an
ephemeral refusal. The check runs inside each command (not as a hidden permission) so the refusal
is explicit and the config's admins need no Discord role. Answers are ephemeral: admin chatter
stays out of the channel.
"""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands

from bot.charts import stats_chart
from bot.commands import tell
from bot.retrain import describe_outcome, reload_models

if TYPE_CHECKING:
    from bot.client import DiagramBot

log = logging.getLogger(__name__)

REFUSAL = "⛔ This command is for the bot's admins (server administrators or the ids in its config)."
MESSAGE_LIMIT = 1900   # Discord allows 2000 characters; leave room for formatting


def is_admin(bot: "DiagramBot", user) -> bool:
    permissions = getattr(user, "guild_permissions", None)
    return user.id in bot.bot_settings.admin_user_ids or bool(getattr(permissions, "administrator", False))


async def _refuse_non_admin(bot: "DiagramBot", interaction: discord.Interaction) -> bool:
    """True (after telling them) when the user may not use admin commands."""
    if is_admin(bot, interaction.user):
        return False
    log.info("refused admin command from %s", interaction.user.id)
    await interaction.response.send_message(REFUSAL, ephemeral=True)
    return True


def _clip(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[:MESSAGE_LIMIT - 1] + "…"


def _duration(started: str, finished: str | None) -> str:
    if finished is None:
        return "running"
    seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def _last_note(job_log: str | None) -> str:
    lines = [line for line in (job_log or "").splitlines() if line.strip()]
    return lines[-1][:150] if lines else ""


async def _retrain_and_report(bot: "DiagramBot", interaction: discord.Interaction, kind: str) -> None:
    outcome = await bot.retrain(kind)
    text = describe_outcome(outcome)
    try:
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException:      # the interaction expired (a retrain can outlast 15 minutes)
        await interaction.channel.send(text)


def admin_commands(bot: "DiagramBot") -> list[app_commands.Command]:
    """Build the admin commands bound to this bot."""

    @app_commands.command(name="retrain")
    @app_commands.guild_only()
    @app_commands.describe(kind="cnn: readability CNN; ae: autoencoder (re-embeds all); all: both; "
                                "orpo: generator from ratings")
    async def retrain(interaction: discord.Interaction,
                      kind: Literal["cnn", "ae", "all", "orpo"] = "all") -> None:
        """Admin: retrain the scorers (or the generator) now, in the background (the nightly job's path)."""
        if await _refuse_non_admin(bot, interaction):
            return
        await interaction.response.send_message(
            f"🔧 Retrain `{kind}` started in the background; I will report here when it ends "
            "(`/jobs` shows it meanwhile).", ephemeral=True)
        bot.spawn(_retrain_and_report(bot, interaction, kind))

    @app_commands.command(name="jobs")
    @app_commands.guild_only()
    async def jobs(interaction: discord.Interaction) -> None:
        """Admin: the latest retrain runs and how they ended."""
        if await _refuse_non_admin(bot, interaction):
            return
        runs = await bot.db.recent_jobs(10)
        lines = [f"`#{j.id}` **{j.kind}** {j.status} · {j.started[:16].replace('T', ' ')} UTC · "
                 f"{_duration(j.started, j.finished)}"
                 + (f"\n  ↳ {_last_note(j.log)}" if j.status != "running" else "") for j in runs]
        upcoming = bot.scheduler.next_run() if bot.scheduler else None
        footer = f"\nNext scheduled retrain: {upcoming:%Y-%m-%d %H:%M %Z}" if upcoming else ""
        await interaction.response.send_message(
            _clip("\n".join(lines or ["No jobs have run yet."]) + footer), ephemeral=True)

    @app_commands.command(name="queue")
    @app_commands.guild_only()
    async def queue(interaction: discord.Interaction) -> None:
        """Admin: the requests being drawn and waiting."""
        if await _refuse_non_admin(bot, interaction):
            return
        lines = [f"▶️ #{j.request_id} {j.user_name}: {j.text[:60]!r}" for j in bot.queue.running]
        lines += [f"{i}. #{j.request_id} {j.user_name}: {j.text[:60]!r}"
                  for i, j in enumerate(bot.queue.waiting, start=1)]
        head = (f"{len(bot.queue.running)} running, {len(bot.queue.waiting)} waiting "
                f"({bot.bot_settings.workers} worker{'s' if bot.bot_settings.workers != 1 else ''})")
        await interaction.response.send_message(_clip("\n".join([head, *lines])), ephemeral=True)

    @app_commands.command(name="stats")
    @app_commands.guild_only()
    async def stats(interaction: discord.Interaction) -> None:
        """Admin: requests, ratings and raters so far, with a chart."""
        if await _refuse_non_admin(bot, interaction):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        numbers = await bot.db.stats()
        histogram = await bot.db.rating_histogram()
        png = await asyncio.to_thread(stats_chart, histogram, numbers["requests_by_status"])
        embed = discord.Embed(title="diagrambot stats", colour=discord.Colour.blurple())
        for label, key in (("Requests", "requests"), ("Diagrams", "candidates"), ("Posts", "posts"),
                           ("Ratings", "ratings"), ("Raters", "raters"), ("Users", "users")):
            embed.add_field(name=label, value=str(numbers[key]))
        active = ", ".join(f"{k} v{v}" for k, v in numbers["active_models"].items()) or "shipped defaults"
        embed.add_field(name="Active models", value=active, inline=False)
        embed.set_image(url="attachment://stats.png")
        await interaction.followup.send(embed=embed, file=discord.File(io.BytesIO(png), "stats.png"),
                                        ephemeral=True)

    @app_commands.command(name="reload")
    @app_commands.guild_only()
    async def reload(interaction: discord.Interaction) -> None:
        """Admin: load the active model versions again (e.g. after `diagrambot retrain`)."""
        if await _refuse_non_admin(bot, interaction):
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            paths = await reload_models(bot.db, bot.service)
        except Exception as error:       # noqa: BLE001 - the old models keep serving
            log.exception("reload failed")
            await tell(interaction, f"❌ Reload failed ({type(error).__name__}: {error}); "
                                    "the old models are still serving.")
            return
        loaded = ", ".join(f"{kind}: {Path(path).name}" for kind, path in paths.items())
        await tell(interaction, f"✅ Models reloaded ({loaded or 'shipped defaults'}).")

    return [retrain, jobs, queue, stats, reload]
