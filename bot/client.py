"""The Discord client: wires the commands, the drawing queue, ratings and the nightly retrain.

Intents are the minimum: guilds (commands, channels) and guild reactions (ratings); the bot never
reads message content. Everything with logic lives in its own module; this one only connects them
and owns their lifecycle (`start_services` / `stop_services`, called from `setup_hook` / `close`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine

import discord
from discord import app_commands

from bot import i18n
from bot.admin import AdminCommands, Refused
from bot.commands import diagram_command
from bot.context import BotContext
from bot.drawing import Drawer
from bot.intake import Intake, Limits, tell
from bot.queue import DrawQueue, Job
from bot.ratings import RatingHandler
from bot.retrain import MODEL_KINDS, ReloadError, reload_models, retrain_and_reload
from bot.scheduler import RetrainScheduler
from bot.settings import BotSettings, Sections
from bot.views import DownloadButton, RemixButton, RerollButton, SpecButton
from storage import Database
from storage.settings import StorageSettings
from training.jobs import JobOutcome, interrupt_stale_jobs
from training.settings import ScheduleSettings

log = logging.getLogger(__name__)

RESTARTED = "the bot restarted before this request finished"  # stored as the failed requests' error
# Channels told about requests a restart cut off: one message per channel, this many channels at
# most (a full queue must not become a burst of posts against Discord's rate limits).
MAX_RESTART_NOTICES = 20


def restart_notice(requests) -> str:
    """One message for a channel's requests that a restart cut off: who, which, and what to do.

    No interaction is left to tell the requester's language (and none is stored), so each line
    says it in English and in Korean."""

    def both(key: str, **values) -> str:
        return f"{i18n.text(key, 'en', **values)} / {i18n.text(key, 'ko', **values)}"

    lines = [f"<@{r.user_id}> ❌ {both('restart.line', id=r.id)}" for r in requests[:10]]
    if len(requests) > 10:
        lines.append(both("restart.more", count=len(requests) - 10))
    return "\n".join(lines)


def intents() -> discord.Intents:
    chosen = discord.Intents.none()
    chosen.guilds = True
    chosen.guild_reactions = True
    return chosen


class DiagramBot(discord.Client):
    """`DiagramBot(settings, service).run(token)`; a section passed by keyword replaces the one in `settings`."""

    def __init__(
        self,
        settings: Sections,
        service,
        *,
        bot_settings: BotSettings | None = None,
        storage: StorageSettings | None = None,
        schedule: ScheduleSettings | None = None,
        db: Database | None = None,
    ) -> None:
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none())
        self.settings = settings
        self.service = service
        self.bot_settings = bot_settings or settings.bot
        self.storage = storage or settings.storage
        self.schedule = schedule or settings.schedule
        self.db = db
        self._owns_db = db is None
        self.limits = Limits(self.bot_settings.max_request_chars, settings.pipeline)
        self.context: BotContext | None = None  # what handlers reach (bot/context.py), once started
        self.drawer: Drawer | None = None
        self.ratings: RatingHandler | None = None
        self.scheduler: RetrainScheduler | None = None
        self.queue = DrawQueue(
            self._run_job,
            workers=self.bot_settings.workers,
            queue_limit=self.bot_settings.queue_limit,
            per_user_limit=self.bot_settings.per_user_pending_limit,
        )
        self.background: set[asyncio.Task] = set()
        self.restarted: list = []  # requests the last run left unfinished; their users are told once
        self.tree = app_commands.CommandTree(self)
        self.tree.add_command(diagram_command(self.limits))
        self.tree.add_command(AdminCommands())
        self.tree.error(self.on_app_command_error)
        self.add_dynamic_items(RerollButton, RemixButton, SpecButton, DownloadButton)

    # ------------------------------------------------------------------ lifecycle

    async def setup_hook(self) -> None:
        await self.tree.set_translator(i18n.Translator())  # Korean descriptions, sent at sync
        await self.start_services()
        await self.sync_commands()
        await self.tell_restarted()

    async def start_services(self) -> None:
        """Open storage, serve the active models, start the queue workers and the schedule."""
        if self.db is None:
            self.db = await Database.open(self.storage.db_path, self.storage.data_dir)
        self.restarted = await self.db.fail_unfinished_requests(RESTARTED)
        if self.restarted:
            log.warning("marked %d unfinished request(s) from before the restart failed", len(self.restarted))
        await interrupt_stale_jobs(self.db)  # a retrain killed with the last run must not block the next
        if any([await self.db.active_model(kind) for kind in MODEL_KINDS]):
            try:
                await reload_models(self.db, self.service)  # retrained versions, not the shipped ones
            except ReloadError as error:  # the bot still starts, on the models that did load
                log.error(
                    "some active models could not be loaded at start-up (%s); the shipped "
                    "default of each failed kind serves instead",
                    error,
                )
        self.drawer = Drawer(self.db, self.service, self.bot_settings)
        self.ratings = RatingHandler(self.db, self.bot_settings, self._own_user_id)
        self.queue.start()
        if self.schedule.enabled:
            self.scheduler = RetrainScheduler(self.schedule, self.retrain)
            self.scheduler.start()
        self.context = BotContext(
            settings=self.bot_settings,
            db=self.db,
            queue=self.queue,
            intake=Intake(self.queue, self.db, self.limits),
            service=self.service,
            retrain=self.retrain,
            spawn=self.spawn,
            next_retrain=lambda: self.scheduler.next_run() if self.scheduler else None,
        )

    async def tell_restarted(self) -> None:
        """Tell the users whose requests the last run left unfinished, in the channels they asked in.

        Their interactions have expired (tokens are not stored), so this is a plain channel post."""
        by_channel: dict[int, list] = {}
        for request in self.restarted:
            if request.channel_id is not None:
                by_channel.setdefault(request.channel_id, []).append(request)
        for number, (channel_id, requests) in enumerate(by_channel.items()):
            if number == MAX_RESTART_NOTICES:
                log.warning(
                    "not telling %d more channel(s) about requests cut off by the restart", len(by_channel) - number
                )
                break
            try:
                await self.get_partial_messageable(channel_id).send(
                    restart_notice(requests), allowed_mentions=discord.AllowedMentions(users=True)
                )
            except discord.HTTPException as error:
                log.warning("could not tell channel %s about requests cut off by the restart: %s", channel_id, error)
        self.restarted = []

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
        self.context = None
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
        if self.drawer is None:  # start_services creates it before it starts the queue's workers
            raise RuntimeError("the bot's services have not started")
        return await self.drawer.run(job)

    async def retrain(self, kind: str) -> JobOutcome:
        """The one retrain path (the /admin retrain command and the schedule both call this)."""
        if self.db is None:  # opened by start_services, before the commands and the schedule run
            raise RuntimeError("the bot's database is not open")
        return await retrain_and_reload(self.db, self.service, kind, self.schedule)

    # ------------------------------------------------------------------ gateway events

    async def on_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        """A command that crashed still answers (privately) instead of "interaction failed"."""
        if isinstance(error, Refused):  # the admin check has told the user already
            return
        name = getattr(interaction.command, "name", "?")
        log.error("command /%s failed", name, exc_info=error)
        try:
            await tell(interaction, i18n.text("error.command", i18n.locale_of(interaction)))
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
