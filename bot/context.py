"""What commands and buttons need from the running bot, typed once.

A handler reaches the bot only through `context_of(interaction)`: the database, the intake, the
queue and the few actions an admin can take. Nothing here (and nothing that uses it) imports the
client, so commands, views and the client form no import circle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime

import discord

from bot.intake import Intake
from bot.queue import DrawQueue
from bot.settings import BotSettings
from ml.service import Service
from storage import Database
from training.jobs import JobOutcome


@dataclass
class BotContext:
    """The running bot's parts, as the client wires them in `start_services`."""

    settings: BotSettings
    db: Database
    queue: DrawQueue
    intake: Intake
    service: Service
    retrain: Callable[[str], Awaitable[JobOutcome]]  # the one retrain path (command and schedule)
    spawn: Callable[[Coroutine], asyncio.Task]  # background work the bot keeps and logs
    next_retrain: Callable[[], datetime | None]  # when the schedule runs next, if it runs


class NotStarted(RuntimeError):
    """An interaction arrived before the bot's services started (or after they stopped)."""


def context_of(interaction: discord.Interaction) -> BotContext:
    """The context of the bot this interaction reached."""
    context = getattr(interaction.client, "context", None)
    if not isinstance(context, BotContext):
        raise NotStarted("the bot's services are not running")
    return context
