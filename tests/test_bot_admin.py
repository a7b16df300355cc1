"""Admin commands and the nightly schedule, through the real callbacks and a real APScheduler.

Retrains run a fake retrain script (a real subprocess that follows the training.retrain contract
and activates a new version in the database), configured as [schedule] retrain_command.

Who may do what is tested on a simulated Discord (SimCord): slash commands from members of two
servers go through discord.py's own dispatch and the bot's CommandTree (its error routing too),
and what Discord received, ephemeral flags included, is read back from the simulation.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import discord
import simcord
from fakes import (
    TEST_SETTINGS,
    FakeInteraction,
    FakeService,
    FixedTextsGenerator,
    admin_command,
    fake_retrain,
    fake_user,
    running_bot,
)
from PIL import Image

from bot.admin import Refused
from bot.client import DiagramBot
from bot.settings import BotSettings
from storage import Database
from storage.settings import StorageSettings
from training.jobs import JobOutcome
from training.settings import ScheduleSettings

ADMIN_ID = 31337
# en.toml admin.refusal and admin.owner_only, written out so a wrong catalogue fails here.
REFUSAL = "⛔ This command is for the bot's owner and this server's administrators."
OWNER_ONLY = "⛔ This command acts on the whole bot, so it is for the bot's owner only."


def config_admins() -> BotSettings:
    """[bot] admin_user_ids = [ADMIN_ID]: an admin of the whole bot."""
    return BotSettings(admin_user_ids=[ADMIN_ID])


def schedule(tmp_path, mode="swap", **options) -> ScheduleSettings:
    return ScheduleSettings(retrain_command=fake_retrain(tmp_path, mode), **options)


async def command(bot, name, interaction, **options):
    if name == "diagram":
        await bot.tree.get_command(name).callback(interaction, **options)
    else:
        await admin_command(bot, name, interaction, **options)


async def settle(bot):
    """Wait for the bot's background work (a /retrain runs after its answer)."""
    while bot.background:
        await asyncio.gather(*list(bot.background))


async def with_old_model(bot):
    await bot.db.add_model_version("cnn", "models/scorers/cnn-old", {}, activate=True)


async def test_admin_retrain_runs_the_job_swaps_the_model_and_reloads(tmp_path):
    service = FakeService()
    async with running_bot(
        tmp_path, service, bot_settings=config_admins(), schedule=schedule(tmp_path, enabled=False)
    ) as bot:
        await with_old_model(bot)
        interaction = FakeInteraction(bot, user=fake_user(ADMIN_ID, name="root"))
        await command(bot, "retrain", interaction, kind="cnn")
        assert interaction.kinds == ["send_message"] and "started" in interaction.ephemeral[0]
        await settle(bot)

        (job,) = await bot.db.recent_jobs()
        assert (job.kind, job.status) == ("cnn", "ok")
        active = await bot.db.active_model("cnn")
        assert active.path.endswith("cnn-new")
        assert service.reloads == [{"cnn": active.path, "ae": None}]  # the new version served
        report = interaction.texts("followup")[-1]
        assert "swapped" in report and f"version {active.id}" in report


async def test_a_failing_admin_retrain_keeps_the_old_model_and_does_not_reload(tmp_path):
    service = FakeService()
    async with running_bot(
        tmp_path, service, bot_settings=config_admins(), schedule=schedule(tmp_path, "fail", enabled=False)
    ) as bot:
        await with_old_model(bot)
        interaction = FakeInteraction(bot, user=fake_user(ADMIN_ID))
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
        assert str(job.trigger.fields[5]) == "3" and str(job.trigger.fields[6]) == "0"  # hour, minute
        assert bot.scheduler.next_run().hour == 3

        job.modify(next_run_time=datetime.now(UTC))  # it is 03:00 now
        for _ in range(300):
            if service.reloads:
                break
            await asyncio.sleep(0.05)
        (run,) = await bot.db.recent_jobs()
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
    async with running_bot(
        tmp_path, bot_settings=config_admins(), schedule=schedule(tmp_path, "fail", enabled=False)
    ) as bot:
        await bot.retrain("ae")
        interaction = FakeInteraction(bot, user=fake_user(ADMIN_ID, admin=False))
        await command(bot, "jobs", interaction)
        assert interaction.kinds[0] == "defer"  # the read may wait on a write: answer first
        deferred, text = interaction.ephemeral
        assert deferred == "" and "**ae** failed" in text and "exited with code 1" in text


async def test_queue_shows_running_and_waiting_requests(tmp_path):
    gate = threading.Event()
    async with running_bot(tmp_path, FakeService(FixedTextsGenerator(gate=gate)), bot_settings=config_admins()) as bot:
        for name in ("ada", "bob"):
            await command(
                bot, "diagram", FakeInteraction(bot, user=fake_user(name=name)), request=f"a network for {name}"
            )
        await asyncio.sleep(0.05)
        interaction = FakeInteraction(bot, user=fake_user(ADMIN_ID))
        await command(bot, "queue", interaction)
        (text,) = interaction.ephemeral
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
    async with running_bot(tmp_path, service, bot_settings=config_admins()) as bot:
        await bot.db.add_model_version("ae", "data/models/ae-7", {}, activate=True)
        interaction = FakeInteraction(bot, user=fake_user(ADMIN_ID))
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
    assert chosen.value == (
        discord.Intents.none().value | discord.Intents(guilds=True).value | discord.Intents(guild_reactions=True).value
    )


# ------------------------------------------------------------------ who may do what, on a simulated Discord


@dataclass
class World:
    """The bot in two servers: `home` (an administrator and a plain member) and `away` (one member)."""

    env: simcord.Env
    bot: DiagramBot
    service: FakeService
    home: simcord.GuildHandle
    channel: simcord.ChannelHandle
    admin: simcord.MemberActor  # Administrator in home, nothing elsewhere
    member: simcord.MemberActor  # no permissions in home
    away: simcord.GuildHandle
    away_channel: simcord.ChannelHandle
    stranger: simcord.MemberActor  # a plain member of away
    errors_seen: int = 0  # errors the bot swallowed that the test has looked at

    def new_errors(self) -> list[BaseException]:
        """What the bot raised and swallowed since the last look (the rest fails the test at the end).

        A refusal by the admin check is discord.py's CheckFailure by design (already answered): not counted."""
        found = list(self.env.errors_since(self.errors_seen))
        self.errors_seen += len(found)
        return [error for error in found if not isinstance(error, Refused)]

    async def own_application(self, member: simcord.MemberActor) -> None:
        """Make `member` the application's owner (SimCord's application is owned by the bot itself)."""
        self.bot.application.owner = await self.bot.fetch_user(member.id)

    def own_application_by_team(self, roles: dict[int, str]) -> None:
        """Give the application a Developer Portal team: user id -> team role."""
        members = [
            {
                "user": {
                    "id": str(user_id),
                    "username": f"dev{user_id}",
                    "discriminator": "0",
                    "avatar": None,
                    "global_name": None,
                },
                "membership_state": 2,
                "permissions": ["*"],
                "team_id": "77",
                "role": role,
            }
            for user_id, role in roles.items()
        ]
        self.bot.application.team = discord.Team(
            self.bot._connection,
            {"id": "77", "name": "makers", "icon": None, "owner_user_id": members[0]["user"]["id"], "members": members},
        )


@asynccontextmanager
async def simulated(tmp_path, service: FakeService | None = None) -> AsyncIterator[World]:
    """The unmodified DiagramBot logged in to a simulated Discord with two servers.

    SimCord refuses to settle while a bot task waits on something it does not know, so an idle
    draw worker's wait on its queue is declared as external input (DrawQueue.idle_wait).
    """
    storage = StorageSettings(str(tmp_path / "bot.sqlite3"), str(tmp_path / "data"))
    db = await Database.open(storage.db_path, storage.data_dir)
    service = service or FakeService()
    bot = DiagramBot(
        TEST_SETTINGS,
        service,
        storage=storage,
        db=db,
        bot_settings=BotSettings(),
        schedule=ScheduleSettings(enabled=False),
    )
    env = simcord.Env(bot)
    bot.queue.idle_wait = lambda next_job: env.external_wait(next_job, reason="draw queue idle")
    try:
        await env.start()  # login -> setup_hook: services and the command sync
        try:
            home, away = env.create_guild(name="home"), env.create_guild(name="away")
            admins = home.create_role("admins", permissions=discord.Permissions(administrator=True))
            world = World(
                env,
                bot,
                service,
                home,
                home.create_text_channel("general"),
                home.add_member(env.create_user("ada"), roles=[admins]),
                home.add_member(env.create_user("bob")),
                away,
                away.create_text_channel("general"),
                away.add_member(env.create_user("cy")),
            )
            yield world
        finally:
            await env.shutdown()
            await bot.stop_services()
        unexpected = world.new_errors()  # anything else the bot raised and swallowed fails the test
        if unexpected:
            raise ExceptionGroup("the bot raised and swallowed", unexpected)
    finally:
        await db.close()


def stub_retrain(world: World) -> list[str]:
    """Replace the retrain subprocess (a wait SimCord cannot settle) by an instant swap; the kinds asked for."""
    asked = []

    async def retrain(kind: str) -> JobOutcome:
        asked.append(kind)
        return JobOutcome(kind, "swapped", job_id=7, version_id=3, message="new model serving")

    world.bot.context.retrain = retrain
    return asked


async def queue_two_servers(world: World) -> None:
    """A request from each server, left waiting (workers stopped) so /queue has something to list."""
    await world.bot.queue.stop()
    await world.member.slash(world.channel, "diagram", request="home secret plan")
    await world.stranger.slash(world.away_channel, "diagram", request="away secret plan")
    assert len(world.bot.queue.waiting) == 2


def last_answer(result: simcord.InteractionResult) -> simcord.ResponseMessage:
    """The final message an interaction got (after a defer, Discord turns the first follow-up into the response)."""
    return ([result.response] + result.followups)[-1]


def stats_embed(result: simcord.InteractionResult) -> tuple[str, dict[str, str]]:
    (embed,) = last_answer(result).embeds
    return embed.title, {f.name: f.value for f in embed.fields}


async def test_the_application_owner_acts_on_every_server(tmp_path):
    async with simulated(tmp_path) as world:
        asked = stub_retrain(world)
        await queue_two_servers(world)
        await world.own_application(world.member)  # no Administrator anywhere

        listing = await world.member.slash(world.channel, "admin queue")
        assert listing.ephemeral
        assert listing.response.content.startswith("0 running, 2 waiting")
        assert "home secret plan" in listing.response.content
        assert "away secret plan" in listing.response.content

        jobs = await world.member.slash(world.channel, "admin jobs")
        assert jobs.ephemeral and jobs.response.content == "No jobs have run yet."

        public = len(world.channel.history())  # what everyone sees (not ephemeral)
        retrain = await world.member.slash(world.channel, "admin retrain", kind="cnn")
        assert asked == ["cnn"] and retrain.ephemeral and "started" in retrain.response.content
        (report,) = retrain.followups
        assert report.ephemeral and "job #7" in report.content and "swapped" in report.content
        assert len(world.channel.history()) == public


async def test_team_admins_and_developers_are_owners_but_read_only_members_are_not(tmp_path):
    async with simulated(tmp_path) as world:
        stub_retrain(world)
        world.own_application_by_team({world.member.id: "developer", world.stranger.id: "read_only"})

        allowed = await world.member.slash(world.channel, "admin reload")
        assert last_answer(allowed).ephemeral
        assert last_answer(allowed).content.startswith("✅ Models reloaded")
        assert len(world.service.reloads) == 1

        refused = await world.stranger.slash(world.away_channel, "admin retrain", kind="ae")
        assert refused.ephemeral and refused.response.content == REFUSAL
        assert refused.followups == [] and len(world.service.reloads) == 1


async def test_a_server_admin_sees_only_their_server_and_config_admins_see_all(tmp_path):
    async with simulated(tmp_path) as world:
        await queue_two_servers(world)
        world.bot.bot_settings.admin_user_ids = [world.stranger.id]  # [bot] admin_user_ids

        mine = await world.admin.slash(world.channel, "admin queue")
        assert mine.ephemeral
        text = mine.response.content
        assert text.startswith("This server: 0 running, 1 waiting; 2 in the whole queue")
        assert "1. #1 bob: 'home secret plan'" in text and "away" not in text

        everything = await world.stranger.slash(world.away_channel, "admin queue")
        assert everything.ephemeral and "home secret plan" in everything.response.content
        assert "2. #2 cy: 'away secret plan'" in everything.response.content


async def test_stats_count_the_asking_server_only_for_its_admins(tmp_path):
    async with simulated(tmp_path) as world:
        for guild, texts in ((world.home, ["a", "b"]), (world.away, ["c", "d", "e"])):
            for text in texts:
                await world.bot.db.create_request(str(world.member.id), text, guild_id=guild.id)

        mine = await world.admin.slash(world.channel, "admin stats")
        assert mine.ephemeral and last_answer(mine).ephemeral
        assert stats_embed(mine) == (
            "diagrambot stats for this server",
            {
                "Requests": "2",
                "Diagrams": "0",
                "Posts": "0",
                "Ratings": "0",
                "Raters": "0",
                "Users": "1",
                "Active models": "shipped defaults",
            },
        )

        world.bot.bot_settings.admin_user_ids = [world.admin.id]
        everything = await world.admin.slash(world.channel, "admin stats")
        assert last_answer(everything).ephemeral
        assert stats_embed(everything)[0] == "diagrambot stats"
        assert stats_embed(everything)[1]["Requests"] == "5"


async def test_refusals_are_private_one_liners_and_run_nothing(tmp_path):
    async with simulated(tmp_path) as world:
        asked = stub_retrain(world)
        for name in ("retrain", "jobs", "reload"):  # the whole bot's: not a server admin's
            result = await world.admin.slash(world.channel, f"admin {name}")
            assert result.ephemeral and result.response.content == OWNER_ONLY, name
            assert result.followups == []
        for name in ("retrain", "jobs", "queue", "stats", "reload"):
            result = await world.member.slash(world.channel, f"admin {name}")
            assert result.ephemeral and result.response.content == REFUSAL, name
            assert result.followups == []
        assert "\n" not in REFUSAL + OWNER_ONLY
        assert asked == [] and world.service.reloads == []
        assert world.channel.history() == []  # nothing public


async def test_a_retrain_result_that_cannot_be_delivered_is_logged_not_posted(tmp_path, caplog):
    async with simulated(tmp_path) as world:
        stub_retrain(world)
        await world.own_application(world.admin)
        # The interaction token expired before the retrain ended: its follow-up webhook is gone.
        world.env.inject_error("POST", "/webhooks/*", status=404, code=10015, message="Unknown Webhook")
        with caplog.at_level(logging.WARNING, logger="bot.admin"):
            result = await world.admin.slash(world.channel, "admin retrain", kind="cnn")
        assert result.ephemeral and "started" in result.response.content and result.followups == []
        assert world.channel.history() == []  # not posted publicly instead
        (warning,) = [r for r in caplog.records if r.name == "bot.admin"]
        assert "job #7" in warning.getMessage() and "swapped" in warning.getMessage()


async def test_a_crashing_admin_command_answers_privately_through_the_tree(tmp_path):
    async with simulated(tmp_path) as world:
        await world.own_application(world.member)
        await world.bot.db.close()  # the database is gone
        result = await world.member.slash(world.channel, "admin jobs")
        assert result.ephemeral and result.response.content.startswith("❌")
        assert world.channel.history() == []
        (crash,) = world.new_errors()  # routed through the tree's error handler
        assert isinstance(crash, discord.app_commands.CommandInvokeError)
        assert crash.command.name == "jobs"


async def test_reload_names_the_models_that_could_not_be_loaded(tmp_path):
    from ml.service import ReloadResult

    class HalfBrokenService(FakeService):
        def reload(self, cnn=None, ae=None, generator=None):
            super().reload(cnn, ae)
            return ReloadResult(loaded={"cnn": cnn}, failed={"ae": f"{ae}: not a model file"})

    service = HalfBrokenService()
    async with running_bot(tmp_path, bot_settings=config_admins()) as bot:
        bot.context.service = service
        await bot.db.add_model_version("cnn", "data/models/cnn-3", {}, activate=True)
        await bot.db.add_model_version("ae", "data/models/ae-4", {}, activate=True)
        interaction = FakeInteraction(bot, user=fake_user(ADMIN_ID))
        await command(bot, "reload", interaction)
        (text,) = interaction.texts("followup")
        assert interaction.kinds == ["defer", "followup"] and interaction.ephemeral[-1] == text
        assert text.startswith("⚠️ Models reloaded in part")
        assert "loaded cnn: cnn-3" in text and "could not load ae (data/models/ae-4: not a model file)" in text
