"""Test doubles for the bot's tests and bench: Discord objects and a model-free drawing service.

No Discord connection exists in tests, so the real command callbacks, buttons and reaction
handlers are driven with these: an interaction that records what was answered (and when), a
channel whose messages record their reactions, and a service whose `draw` runs the real
`ml.pipeline.run` (parse, render, score, rank) over fixed node-list texts instead of a model.
They live with the tests (not in the product package): the running bot never imports them.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from diagrambot.config import Settings
from ml.pipeline import Result, run
from ml.service import ReloadResult
from ml.settings import PipelineSettings
from storage import Database
from storage.settings import StorageSettings

_snowflakes = itertools.count(1_300_000_000_000_000_000)

EDGE = (
    '[\n[1, {x1}, 300, "circle", 60, 60, "solid arrow", (255, 255, 255), (0, 0, 0), [2]],\n'
    '[2, {x2}, 300, "rectangle", 90, 50, "solid arrow", (200, 220, 255), (0, 0, 0), []]\n]'
)
# Three readable node lists of different quality (wide, medium and cramped spacing) and one dud.
TEXTS = [
    EDGE.format(x1=200, x2=750),
    EDGE.format(x1=470, x2=560),
    EDGE.format(x1=400, x2=440),
    "I am sorry, I cannot draw that.",
]


def snowflake() -> int:
    return next(_snowflakes)


@dataclass
class Event:
    at: float  # time.perf_counter()
    kind: str  # defer | send_message | followup | edit
    data: dict


class FakeMessage:
    def __init__(
        self, channel: Any, content: str | None, file: Any = None, view: Any = None, embed: Any = None
    ) -> None:
        self.id = snowflake()
        self.channel = channel
        self.content, self.file, self.view, self.embed = content, file, view, embed
        self.reactions: list[str] = []

    async def add_reaction(self, emoji: Any) -> None:
        self.reactions.append(str(emoji))


class FakeChannel:
    """A text channel: `send` returns a FakeMessage and keeps it in `messages`."""

    def __init__(self, channel_id: int | None = None) -> None:
        self.id = channel_id or snowflake()
        self.messages: list[FakeMessage] = []

    async def send(
        self, content: str | None = None, *, file: Any = None, view: Any = None, embed: Any = None, **_: Any
    ) -> FakeMessage:
        message = FakeMessage(self, content, file, view, embed)
        self.messages.append(message)
        return message


def fake_user(user_id: int | None = None, name: str = "someone", admin: bool = False):
    user_id = user_id or snowflake()
    return SimpleNamespace(
        id=user_id,
        name=name,
        display_name=name,
        mention=f"<@{user_id}>",
        guild_permissions=SimpleNamespace(administrator=admin),
    )


class InteractionAlreadyAnswered(RuntimeError):
    """What Discord (discord.InteractionResponded) does on a second initial response."""


class FakeResponse:
    def __init__(self, interaction: FakeInteraction) -> None:
        self._interaction = interaction
        self._done = False

    def is_done(self) -> bool:
        return self._done

    def _answer(self) -> None:
        if self._done:
            raise InteractionAlreadyAnswered("this interaction was already answered")
        self._done = True

    async def defer(self, *, ephemeral: bool = False, thinking: bool = False) -> None:
        self._answer()
        self._interaction.record("defer", ephemeral=ephemeral, thinking=thinking)

    async def send_message(
        self,
        content: str | None = None,
        *,
        ephemeral: bool = False,
        file: Any = None,
        embed: Any = None,
        view: Any = None,
        **_: Any,
    ) -> None:
        self._answer()
        self._interaction.record("send_message", content=content, ephemeral=ephemeral, file=file, embed=embed)


class FakeFollowup:
    def __init__(self, interaction: FakeInteraction) -> None:
        self._interaction = interaction

    async def send(
        self,
        content: str | None = None,
        *,
        ephemeral: bool = False,
        file: Any = None,
        files: Any = None,
        embed: Any = None,
        **_: Any,
    ) -> FakeMessage:
        if not self._interaction.response.is_done():
            raise RuntimeError("a followup needs an answered interaction")
        self._interaction.record("followup", content=content, ephemeral=ephemeral, file=file, files=files, embed=embed)
        return FakeMessage(self._interaction.channel, content, file, None, embed)


class FakeInteraction:
    """The parts of discord.Interaction the bot uses; `events` is everything it answered, in order."""

    def __init__(
        self, client: Any, user: Any = None, channel: FakeChannel | None = None, guild_id: int | None = 1
    ) -> None:
        self.client = client
        self.user = user or fake_user()
        self.channel = channel or FakeChannel()
        self.channel_id = self.channel.id
        self.guild_id = guild_id
        self.response = FakeResponse(self)
        self.followup = FakeFollowup(self)
        self.events: list[Event] = []
        self.created = time.perf_counter()
        self.extras: dict[str, Any] = {}
        self.command: Any = None

    def record(self, kind: str, **data: Any) -> None:
        self.events.append(Event(time.perf_counter(), kind, data))

    async def edit_original_response(self, *, content: str | None = None, **_: Any) -> None:
        if not self.response.is_done():
            raise RuntimeError("nothing to edit: the interaction was not answered")
        self.record("edit", content=content)

    @property
    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]

    def texts(self, kind: str | None = None) -> list[str]:
        return [e.data.get("content") or "" for e in self.events if kind in (None, e.kind)]

    @property
    def last_text(self) -> str:
        texts = self.texts()
        return texts[-1] if texts else ""

    @property
    def ephemeral(self) -> list[str]:
        """Texts only the user saw."""
        return [e.data.get("content") or "" for e in self.events if e.data.get("ephemeral")]


class FixedTextsGenerator:
    """A generator backend double: returns fixed texts (cycled to n), optionally slowly or failing.

    `gate`: a threading.Event that each call waits for, so a test can hold jobs in the queue.
    """

    name = "fixed-texts"

    def __init__(
        self,
        texts: Sequence[str] = TEXTS,
        delay_s: float | Callable[[], float] = 0.0,
        error: BaseException | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        self.texts = list(texts)
        self.delay_s = delay_s
        self.error = error
        self.gate = gate

    def generate(self, request: str, n: int, seed: int | None = None) -> list[str]:
        if self.gate is not None and not self.gate.wait(timeout=30):
            raise TimeoutError("the test never opened the gate")
        delay = self.delay_s() if callable(self.delay_s) else self.delay_s
        if delay:
            time.sleep(delay)  # on the worker thread, like a real model
        if self.error is not None:
            raise self.error
        return [self.texts[i % len(self.texts)] for i in range(n)]


@dataclass
class FakeService:
    """Same `draw` / `reload` as ml.service.DiagramService; draws with the real pipeline, no model."""

    generator: FixedTextsGenerator = field(default_factory=FixedTextsGenerator)
    draws: list[dict] = field(default_factory=list)
    reloads: list[dict] = field(default_factory=list)
    reload_error: BaseException | None = None
    scorer: Any = None  # no learned scorer: ranking by analytic readability

    def draw(
        self,
        request: str,
        user_id: str | None = None,
        n: int | None = None,
        ratings: Sequence[Any] = (),
        seed: int | None = None,
        progress: Callable[[str], None] | None = None,
        top: int | None = None,
    ) -> Result:
        self.draws.append(
            {
                "request": request,
                "user_id": user_id,
                "n": n,
                "top": top,
                "ratings": list(ratings),
                "at": time.perf_counter(),
            }
        )
        return run(request, self.generator, n or 8, seed=seed, progress=progress)

    def reload(self, cnn: str | None = None, ae: str | None = None, generator: str | None = None) -> ReloadResult:
        """Records the call and answers like the real service: every given path loaded."""
        if self.reload_error is not None:
            raise self.reload_error
        paths = {"cnn": cnn, "ae": ae, **({"generator": generator} if generator else {})}
        self.reloads.append(paths)
        return ReloadResult(loaded={kind: path for kind, path in paths.items() if path})


ROOT = Path(__file__).resolve().parent.parent

# A stand-in for `python -m training.retrain` that follows (or, by mode, breaks) its contract.
RETRAIN_SCRIPT = """
import argparse, asyncio, json, os, sys, time
sys.path.insert(0, {root!r})
from storage import Database

parser = argparse.ArgumentParser()
parser.add_argument("--kind"); parser.add_argument("--db"); parser.add_argument("--data-dir")
args = parser.parse_args()
MODE = {mode!r}

async def new_version(activate):
    db = await Database.open(args.db, args.data_dir)
    try:
        kind = "cnn" if args.kind == "all" else args.kind
        return await db.add_model_version(kind, f"{{args.data_dir}}/models/{{kind}}-new", {{"mae": 0.1}},
                                          activate=activate)
    finally:
        await db.close()

print("training", args.kind, flush=True)
print("epoch 1 loss 0.5", file=sys.stderr, flush=True)
if MODE == "swap":
    version = asyncio.run(new_version(True))
    print(json.dumps({{"status": "swapped", "kind": args.kind, "version_id": version, "metrics": {{"mae": 0.1}}}}))
elif MODE == "kept":
    version = asyncio.run(new_version(False))
    print(json.dumps({{"status": "kept", "kind": args.kind, "version_id": version, "metrics": {{"mae": 0.9}}}}))
elif MODE == "fail":
    print("Traceback: out of memory", file=sys.stderr)
    sys.exit(1)
elif MODE == "crash-after-activating":
    asyncio.run(new_version(True))
    os._exit(3)
elif MODE == "garbage":
    print("done!")
elif MODE == "hang":
    time.sleep(60)
elif MODE == "hang-after-activating":
    asyncio.run(new_version(True))
    time.sleep(60)
"""


def fake_retrain(folder: Path, mode: str) -> list[str]:
    """The base command of a fake training.retrain (written to folder); run_retrain appends its arguments.

    mode: swap | kept | fail | crash-after-activating | garbage | hang | hang-after-activating.
    """
    script = folder / f"retrain_{mode.replace('-', '_')}.py"
    script.write_text(RETRAIN_SCRIPT.format(root=str(ROOT), mode=mode))
    return [sys.executable, str(script)]


TEST_SETTINGS = Settings(pipeline=PipelineSettings(candidates=4, top=3, max_candidates=16))


@asynccontextmanager
async def running_bot(
    tmp_path: Path,
    service: Any = None,
    *,
    settings: Settings | None = None,
    bot_settings: Any = None,
    schedule: Any = None,
) -> AsyncIterator[Any]:
    """A DiagramBot with its services started on a fresh database in tmp_path (no Discord login)."""
    from bot.client import DiagramBot
    from bot.settings import BotSettings
    from training.settings import ScheduleSettings

    storage = StorageSettings(str(tmp_path / "bot.sqlite3"), str(tmp_path / "data"))
    db = await Database.open(storage.db_path, storage.data_dir)
    bot = DiagramBot(
        settings or TEST_SETTINGS,
        service or FakeService(),
        bot_settings=bot_settings or BotSettings(),
        storage=storage,
        schedule=schedule or ScheduleSettings(enabled=False),
        db=db,
    )
    try:
        await bot.start_services()
        yield bot
    finally:
        await bot.stop_services()
        await db.close()


async def admin_command(bot: Any, name: str, interaction: FakeInteraction, **options: Any) -> None:
    """/admin <name> as discord.py runs it: the group's access check, then the subcommand (if admitted)."""
    from bot.admin import Refused

    group = bot.tree.get_command("admin")
    command = group.get_command(name)
    interaction.command = command
    try:
        await group.interaction_check(interaction)
    except Refused:
        return
    await command.callback(group, interaction, **options)
