"""Admin commands and the nightly schedule, through the real callbacks and a real APScheduler.

Retrains run a fake retrain script (a real subprocess that follows the training.retrain contract
and activates a new version in the database), configured as [schedule] retrain_command.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timezone

import discord
import pytest
from PIL import Image

from bot.admin import REFUSAL
from bot.fakes import (FakeInteraction, FakeService, FixedTextsGenerator, fake_retrain, fake_user,
                       running_bot)
from bot.settings import BotSettings, ScheduleSettings

ADMIN_ID = 31337


def schedule(tmp_path, mode="swap", **options) -> ScheduleSettings:
    return ScheduleSettings(retrain_command=fake_retrain(tmp_path, mode), **options)


async def command(bot, name, interaction, **options):
    await bot.tree.get_command(name).callback(interaction, **options)


async def settle(bot):
    """Wait for the bot's background work (a /retrain runs after its answer)."""
    while bot.background:
        await asyncio.gather(*list(bot.background))


async def with_old_model(bot):
    await bot.db.add_model_version("cnn", "models/scorers/cnn-old", {}, activate=True)


@pytest.mark.parametrize("name", ["retrain", "jobs", "queue", "stats", "reload"])
async def test_admin_commands_refuse_everyone_else_ephemerally(tmp_path, name):
    service = FakeService()
    async with running_bot(tmp_path, service, schedule=schedule(tmp_path, enabled=False)) as bot:
        interaction = FakeInteraction(bot, user=fake_user(name="eve", admin=False))
        await command(bot, name, interaction)
        await settle(bot)
        assert interaction.kinds == ["send_message"] and interaction.ephemeral == [REFUSAL]
        assert await bot.db.recent_jobs() == [] and service.reloads == []


async def test_admin_retrain_runs_the_job_swaps_the_model_and_reloads(tmp_path):
    service = FakeService()
    async with running_bot(tmp_path, service, schedule=schedule(tmp_path, enabled=False)) as bot:
        await with_old_model(bot)
        interaction = FakeInteraction(bot, user=fake_user(name="root", admin=True))
        await command(bot, "retrain", interaction, kind="cnn")
        assert interaction.kinds == ["send_message"] and "started" in interaction.ephemeral[0]
        await settle(bot)

        job, = await bot.db.recent_jobs()
        assert (job.kind, job.status) == ("cnn", "ok")
        active = await bot.db.active_model("cnn")
        assert active.path.endswith("cnn-new")
        assert service.reloads == [{"cnn": active.path, "ae": None}]       # the new version served
        report = interaction.texts("followup")[-1]
        assert "swapped" in report and f"version {active.id}" in report


async def test_a_failing_admin_retrain_keeps_the_old_model_and_does_not_reload(tmp_path):
    service = FakeService()
    async with running_bot(tmp_path, service, schedule=schedule(tmp_path, "fail", enabled=False)) as bot:
        await with_old_model(bot)
        interaction = FakeInteraction(bot, user=fake_user(admin=True))
        await command(bot, "retrain", interaction, kind="all")
        await settle(bot)
        assert (await bot.db.active_model("cnn")).path == "models/scorers/cnn-old"
        assert (await bot.db.recent_jobs())[0].status == "failed" and service.reloads == []
        assert "failed" in interaction.texts("followup")[-1]


async def test_the_scheduled_job_fires_swaps_the_model_and_reloads(tmp_path):
    service = FakeService()
    settings = schedule(tmp_path, retrain_cron="0 3 * * *", retrain_kinds="cnn", timezone="UTC")
    async with running_bot(tmp_path, service, schedule=settings) as bot:
        await with_old_model(bot)
        job = bot.scheduler.scheduler.get_job("retrain")
        assert str(job.trigger.fields[5]) == "3" and str(job.trigger.fields[6]) == "0"   # hour, minute
        assert bot.scheduler.next_run().hour == 3

        job.modify(next_run_time=datetime.now(timezone.utc))     # it is 03:00 now
        for _ in range(300):
            if service.reloads:
                break
            await asyncio.sleep(0.05)
        run, = await bot.db.recent_jobs()
        assert (run.kind, run.status) == ("cnn", "ok")
        active = await bot.db.active_model("cnn")
        assert active.path.endswith("cnn-new") and service.reloads == [{"cnn": active.path, "ae": None}]


async def test_a_failing_scheduled_job_keeps_the_old_model(tmp_path):
    service = FakeService()
    async with running_bot(tmp_path, service, schedule=schedule(tmp_path, "crash-after-activating")) as bot:
        await with_old_model(bot)
        outcome = await bot.scheduler.run_scheduled()
        assert outcome.status == "failed"
        assert (await bot.db.active_model("cnn")).path == "models/scorers/cnn-old"
        assert (await bot.db.recent_jobs())[0].status == "failed" and service.reloads == []


async def test_jobs_lists_recent_runs_for_config_admins(tmp_path):
    async with running_bot(tmp_path, bot_settings=BotSettings(admin_user_ids=[ADMIN_ID]),
                           schedule=schedule(tmp_path, "fail", enabled=False)) as bot:
        await bot.retrain("ae")
        interaction = FakeInteraction(bot, user=fake_user(ADMIN_ID, admin=False))
        await command(bot, "jobs", interaction)
        text, = interaction.ephemeral
        assert "**ae** failed" in text and "exited with code 1" in text


async def test_queue_shows_running_and_waiting_requests(tmp_path):
    gate = threading.Event()
    async with running_bot(tmp_path, FakeService(FixedTextsGenerator(gate=gate))) as bot:
        for name in ("ada", "bob"):
            await command(bot, "diagram", FakeInteraction(bot, user=fake_user(name=name)),
                          request=f"a network for {name}")
        await asyncio.sleep(0.05)
        interaction = FakeInteraction(bot, user=fake_user(admin=True))
        await command(bot, "queue", interaction)
        text, = interaction.ephemeral
        assert text.startswith("1 running, 1 waiting")
        assert "▶️ #1 ada" in text and "1. #2 bob" in text
        gate.set()
        await bot.queue.join()


async def test_stats_sends_counts_and_a_png_chart(tmp_path):
    async with running_bot(tmp_path) as bot:
        user = fake_user()
        request = FakeInteraction(bot, user=user)
        await command(bot, "diagram", request, request="two nodes", top=1)
        await bot.queue.join()
        candidate = (await bot.db.get_post(request.channel.messages[0].id)).candidate_id
        await bot.db.set_rating(str(user.id), candidate, 4)

        interaction = FakeInteraction(bot, user=fake_user(admin=True))
        await command(bot, "stats", interaction)
        assert interaction.kinds == ["defer", "followup"]
        sent = interaction.events[-1].data
        assert sent["ephemeral"]
        fields = {f.name: f.value for f in sent["embed"].fields}
        assert (fields["Requests"], fields["Ratings"], fields["Raters"]) == ("1", "1", "1")
        chart = Image.open(sent["file"].fp)
        assert chart.format == "PNG" and chart.size == (640, 260)


async def test_reload_loads_the_active_versions(tmp_path):
    service = FakeService()
    async with running_bot(tmp_path, service) as bot:
        await bot.db.add_model_version("ae", "data/models/ae-7", {}, activate=True)
        interaction = FakeInteraction(bot, user=fake_user(admin=True))
        await command(bot, "reload", interaction)
        assert service.reloads == [{"cnn": None, "ae": "data/models/ae-7"}]
        assert interaction.kinds == ["defer", "followup"] and "ae: ae-7" in interaction.ephemeral[-1]


async def test_a_restart_serves_the_retrained_models_and_closes_unfinished_requests(tmp_path):
    async with running_bot(tmp_path) as bot:
        await bot.db.add_model_version("cnn", "data/models/cnn-9", {}, activate=True)
        stuck = await bot.db.create_request("1", "left over")
    service = FakeService()
    async with running_bot(tmp_path, service) as bot:
        assert service.reloads == [{"cnn": "data/models/cnn-9", "ae": None}]
        assert (await bot.db.get_request(stuck)).status == "failed"


def test_the_client_asks_only_for_guild_and_reaction_intents(tmp_path):
    from bot.client import intents
    chosen = intents()
    assert chosen.guilds and chosen.guild_reactions
    assert not chosen.message_content and not chosen.members and not chosen.guild_messages
    assert chosen.value == (discord.Intents.none().value | discord.Intents(guilds=True).value
                            | discord.Intents(guild_reactions=True).value)


async def test_a_crashing_command_still_answers_privately(tmp_path):
    async with running_bot(tmp_path) as bot:
        interaction = FakeInteraction(bot, user=fake_user(admin=True))
        interaction.command = bot.tree.get_command("jobs")
        await bot.db.close()                                  # the database is gone
        with pytest.raises(Exception) as caught:
            await command(bot, "jobs", interaction)
        await bot.tree.on_error(interaction, discord.app_commands.CommandInvokeError(
            interaction.command, caught.value))
        assert interaction.ephemeral == ["❌ Something went wrong; the details are in the bot's log."]
