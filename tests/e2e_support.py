"""The bot on a simulated Discord (SimCord): the harness for tests/test_e2e.py.

SimCord replaces discord.py's HTTP layer and webhook adapter with an in-memory Discord and feeds
gateway events through discord.py's real parsers, so a test drives the unmodified DiagramBot the
way users do: slash commands through the synced CommandTree, button clicks through DynamicItem
dispatch, reactions through raw gateway events, files through multipart uploads. The drawing
service is tests/fakes.py FakeService (the real pipeline over fixed node lists, no model) and storage
is a real database in the test's tmp_path.

One seam: SimCord settles the loop after every user action and refuses to settle while a bot task
waits on something it does not recognise. An idle draw worker waits on its asyncio.Queue, so the
harness hands the queue an `idle_wait` that declares that wait as external input.

One addition: SimCord sends every interaction with `locale: en-US`, where Discord sends the
language of the user's client. `Wire.join(name, locale)` adds a member whose interactions carry
their own locale (filled into the INTERACTION_CREATE payload as it leaves the simulated gateway).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import simcord
from fakes import TEST_SETTINGS, FakeService

from bot.admin import Refused
from bot.client import DiagramBot
from bot.settings import BotSettings
from storage import Database
from storage.settings import StorageSettings
from training.settings import ScheduleSettings

REQUEST = "a deep learning model with 2 input nodes, 3 hidden nodes and 1 output node"
MAX_REQUEST_CHARS = 120  # the harness's [bot] max_request_chars: not the default (1000), not 64
IDLE_REASON = "draw queue idle"
EPHEMERAL = 64  # message flag (Discord API)


@dataclass
class Wire:
    """A running bot on a simulated guild: a text channel, the requester and a stranger."""

    env: simcord.Env
    bot: DiagramBot
    service: FakeService
    guild: simcord.GuildHandle
    channel: simcord.ChannelHandle
    ada: simcord.MemberActor  # asks for diagrams
    bob: simcord.MemberActor  # a plain member who did not
    locales: dict[int, str] = field(default_factory=dict)  # user id -> Discord locale ("ko")

    def join(self, name: str, locale: str) -> simcord.MemberActor:
        """A new member of the guild whose Discord client is set to `locale` (e.g. "ko", "en-GB")."""
        member = self.guild.add_member(self.env.create_user(name))
        self.locales[member.id] = locale
        return member

    async def diagram(
        self, member: simcord.MemberActor | None = None, request: str = REQUEST, **options: Any
    ) -> simcord.InteractionResult:
        """/diagram as a user types it; returns once the bot has settled (the job is done)."""
        return await (member or self.ada).slash(self.channel, "diagram", request=request, **options)

    def posts(self) -> list[discord.Message]:
        """The bot's diagram posts in the channel (messages with a file), oldest first."""
        return [m for m in self.channel.history() if m.author.id == self.bot.user.id and m.attachments]

    def mark(self) -> int:
        """A position in the bot's REST log; `calls_since(mark)` is what it sent after it."""
        return len(self.env.http_requests)

    def calls_since(self, mark: int) -> list[simcord.HttpLogEntry]:
        return list(self.env.http_requests[mark:])

    async def synced(self, name: str) -> dict[str, Any]:
        """The command's JSON as Discord holds it after the bot's global sync (fetched back over the wire).

        Raw, because discord.py's AppCommandContext reads `contexts` one off (0 = guild is lost).
        """
        commands = await self.bot.http.get_global_commands(self.bot.application_id)
        return next(command for command in commands if command["name"] == name)

    async def synced_option(self, command: str, option: str) -> dict[str, Any]:
        return next(o for o in (await self.synced(command))["options"] if o["name"] == option)

    async def rating(self, member: simcord.MemberActor, message: discord.Message) -> int | None:
        """The member's stored rating of the diagram in `message` (None when there is none)."""
        candidate_id = await self.bot.db.candidate_for_message(message.id)
        assert candidate_id is not None, "not a diagram post"
        found = await self.bot.db.get_rating(str(member.id), candidate_id)
        return None if found is None else found.value


def send_user_locales(env: simcord.Env, locales: dict[int, str]) -> None:
    """Put each user's locale (when set in `locales`) into the interactions SimCord dispatches."""
    emit = env.backend.emit

    def emit_with_locale(event: str, payload: dict[str, Any]) -> None:
        if event == "INTERACTION_CREATE":
            user = (payload.get("member") or payload).get("user") or {}
            locale = locales.get(int(user.get("id", 0)))
            if locale is not None:
                payload = {**payload, "locale": locale}
        emit(event, payload)

    env.backend.emit = emit_with_locale


def answers(result: simcord.InteractionResult) -> list[simcord.ResponseMessage]:
    """Every message an interaction got (its response, then followups), oldest first."""
    return ([result.response] if result.response is not None else []) + result.followups


def interaction_callbacks(calls: list[simcord.HttpLogEntry]) -> list[tuple[int, bool, str | None]]:
    """The initial interaction responses among REST calls, in order: (type, ephemeral, content).

    Types (Discord API): 4 = a message answers it, 5 = deferred ("thinking…"), edited later.
    """
    found = []
    for call in calls:
        if call.method == "POST" and call.path.startswith("/interactions/"):
            data = call.json.get("data") or {}
            found.append((call.json["type"], bool(data.get("flags", 0) & EPHEMERAL), data.get("content")))
    return found


def original_edits(calls: list[simcord.HttpLogEntry]) -> list[str]:
    """The texts the bot edited into its deferred answer, in order."""
    return [
        call.json.get("content")
        for call in calls
        if call.method == "PATCH" and call.path.endswith("/messages/@original")
    ]


def custom_ids(message: discord.Message) -> dict[str, str]:
    """Button label -> custom id, over the message's component rows."""
    return {child.label: child.custom_id for row in message.components for child in row.children}


async def files(message: discord.Message | simcord.ResponseMessage) -> dict[str, bytes]:
    """The message's uploaded files by name, downloaded back from the (simulated) CDN."""
    return {a.filename: await a.read() for a in message.attachments}


def json_lists(value: Any) -> Any:
    """Tuples as lists, so node lists compare whatever sequence type built them."""
    return json.loads(json.dumps(value))


@asynccontextmanager
async def simulated_bot(
    tmp_path: Path, service: FakeService | None = None, *, bot_settings: BotSettings | None = None
) -> AsyncIterator[Wire]:
    """The unmodified DiagramBot logged in to a fresh simulated Discord, with a guild and two members.

    On a clean exit, anything the bot raised and swallowed (handler errors, tree errors) fails
    the test, as SimCord's own fixture does.
    """
    storage = StorageSettings(str(tmp_path / "bot.sqlite3"), str(tmp_path / "data"))
    db = await Database.open(storage.db_path, storage.data_dir)
    service = service or FakeService()
    bot = DiagramBot(
        TEST_SETTINGS,
        service,
        storage=storage,
        db=db,
        bot_settings=bot_settings or BotSettings(max_request_chars=MAX_REQUEST_CHARS),
        schedule=ScheduleSettings(enabled=False),
    )
    env = simcord.Env(bot)
    bot.queue.idle_wait = lambda next_job: env.external_wait(next_job, reason=IDLE_REASON)
    locales: dict[int, str] = {}
    send_user_locales(env, locales)
    try:
        await env.start()  # login -> setup_hook: services, workers, command sync
        try:
            guild = env.create_guild()
            channel = guild.create_text_channel("diagrams")
            ada = guild.add_member(env.create_user("ada"))
            bob = guild.add_member(env.create_user("bob"))
            yield Wire(env, bot, service, guild, channel, ada, bob, locales)
        finally:
            await env.shutdown()  # cancels the bot's tasks (the workers among them)
            await bot.stop_services()
        # Whatever the bot raised fails the test, but for the /admin check's refusals: discord.py
        # routes a failed check through the tree's error handler by design (tests assert them).
        unexpected = [error for error in env.errors_since(0) if not isinstance(error, Refused)]
        if unexpected:
            raise ExceptionGroup("the bot raised during the test", unexpected)
    finally:
        await db.close()
