"""The Discord client: wires the commands, the drawing queue, ratings and the nightly retrain.

Intents are the minimum: guilds (commands, channels) and guild reactions (ratings); the bot never
reads message content. Everything with logic lives in its own module; this one only connects them
and owns their lifecycle (`start_services` / `stop_services`, called from `setup_hook` / `close`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Coroutine

import discord
from discord import app_commands

from bot.admin import admin_commands
from bot.commands import diagram_command, tell
from bot.drawing import Drawer
from bot.queue import DrawQueue, Job
from bot.ratings import RatingHandler
from bot.retrain import MODEL_KINDS, reload_models, retrain_and_reload
from bot.scheduler import RetrainScheduler
from bot.settings import BotSettings, ScheduleSettings
from bot.views import DownloadButton, RerollButton, SpecButton
from diagrambot.config import Settings, section
from storage import Database
from storage.settings import StorageSettings
from training.jobs import JobOutcome

log = logging.getLogger(__name__)

RESTARTED = "the bot restarted before this request finished"


def intents() -> discord.Intents:
    chosen = discord.Intents.none()
    chosen.guilds = True
    chosen.guild_reactions = True
    return chosen


class DiagramBot(discord.Client):
    """`DiagramBot(settings, service).run(token)`; sections not passed are read from `settings`."""

    def __init__(self, settings: Settings, service, *, bot_settings: BotSettings | None = None,
                 storage: StorageSettings | None = None, schedule: ScheduleSettings | None = None,
                 db: Database | None = None) -> None:
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none())
        self.settings = settings
        self.service = service
        self.bot_settings = bot_settings or section(settings, "bot", BotSettings)
        self.storage = storage or section(settings, "storage", StorageSettings)
        self.schedule = schedule or section(settings, "schedule", ScheduleSettings)
        self.db = db
        self._owns_db = db is None
        self.drawer: Drawer | None = None
        self.ratings: RatingHandler | None = None
        self.scheduler: RetrainScheduler | None = None
        self.queue = DrawQueue(self._run_job, workers=self.bot_settings.workers,
                               queue_limit=self.bot_settings.queue_limit,
                               per_user_limit=self.bot_settings.per_user_pending_limit)
        self.background: set[asyncio.Task] = set()
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(diagram_command(self))
        for command in admin_commands(self):
            self.tree.add_command(command)
        self.tree.error(self.on_app_command_error)
        self.add_dynamic_items(RerollButton, SpecButton, DownloadButton)

    # ------------------------------------------------------------------ lifecycle

    async def setup_hook(self) -> None:
        await self.start_services()
        await self.sync_commands()

    async def start_services(self) -> None:
        """Open storage, serve the active models, start the queue workers and the schedule."""
        if self.db is None:
            self.db = await Database.open(self.storage.db_path, self.storage.data_dir)
        stale = await self.db.fail_unfinished_requests(RESTARTED)
        if stale:
            log.warning("marked %d unfinished request(s) from before the restart failed", stale)
        if any([await self.db.active_model(kind) for kind in MODEL_KINDS]):
            await reload_models(self.db, self.service)   # retrained versions, not the shipped ones
        self.drawer = Drawer(self.db, self.service, self.bot_settings)
        self.ratings = RatingHandler(self.db, self.bot_settings, self._own_user_id)
        self.queue.start()
        if self.schedule.enabled:
            self.scheduler = RetrainScheduler(self.schedule, self.retrain)
            self.scheduler.start()

    async def sync_commands(self) -> None:
        """Global sync (can take up to an hour to show), or instant sync to the development guild."""
        if self.bot_settings.dev_guild_id:
            guild = discord.Object(id=self.bot_settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d commands to guild %s", len(synced), guild.id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d commands globally", len(synced))

    async def stop_services(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown()
        await self.queue.stop()
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        if self._owns_db and self.db is not None:
            await self.db.close()
            self.db = None

    async def close(self) -> None:
        await self.stop_services()
        await super().close()

    # ------------------------------------------------------------------ plumbing

    def spawn(self, coro: Coroutine) -> asyncio.Task:
        """Run work in the background, keeping a reference and logging a crash."""
        task = asyncio.get_running_loop().create_task(coro)
        self.background.add(task)

        def done(finished: asyncio.Task) -> None:
            self.background.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.error("background task failed", exc_info=finished.exception())

        task.add_done_callback(done)
        return task

    def _own_user_id(self) -> int | None:
        return self.user.id if self.user else None

    async def _run_job(self, job: Job) -> str:
        return await self.drawer.run(job)

    async def retrain(self, kind: str) -> JobOutcome:
        """The one retrain path (the /retrain command and the schedule both call this)."""
        return await retrain_and_reload(self.db, self.service, kind, self.schedule)

    # ------------------------------------------------------------------ gateway events

    async def on_app_command_error(self, interaction: discord.Interaction,
                                   error: app_commands.AppCommandError) -> None:
        """A command that crashed still answers (privately) instead of "interaction failed"."""
        name = getattr(interaction.command, "name", "?")
        log.error("command /%s failed", name, exc_info=error)
        try:
            await tell(interaction, "❌ Something went wrong; the details are in the bot's log.")
        except discord.HTTPException:
            pass

    async def on_ready(self) -> None:
        log.info("logged in as %s (%s) in %d guild(s)", self.user, self._own_user_id(), len(self.guilds))

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        if self.ratings is not None:
            await self.ratings.on_add(payload)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        if self.ratings is not None:
            await self.ratings.on_remove(payload)
