"""`diagrambot bot [--config config.toml]`: run the Discord bot until stopped (Ctrl-C)."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from typing import Any

from bot.settings import resolve_token
from ml.errors import UserError

log = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> None:
    """Register `bot` on the main CLI's subparsers."""
    parser = subparsers.add_parser("bot", help="run the Discord bot (token from DISCORD_TOKEN)")
    parser.add_argument(
        "--config",
        default=None,
        metavar="FILE",
        help="config.toml (see config.example.toml); default: built-in settings",
    )
    parser.set_defaults(func=run_bot)


def build_bot(settings, make_service: Callable | None = None):
    """Token and client from the loaded settings (`args.settings`), checked before anything
    connects; returns (bot, token).

    `make_service(settings)` builds the drawing service (default: ml.service.DiagramService).
    """
    bot_settings, storage, schedule = settings.bot, settings.storage, settings.schedule
    token = resolve_token(bot_settings)
    if token is None:
        raise UserError(
            f"no Discord bot token: set the {bot_settings.token_env} environment variable "
            "(or [bot] token in your untracked config.toml)"
        )
    # From here on the token lives only in memory: retrain subprocesses inherit the environment
    # and have no use for it.
    os.environ.pop(bot_settings.token_env, None)
    bot_settings.token = None
    from bot.client import DiagramBot  # imported here: discord.py is not needed to fail fast

    if make_service is None:
        from ml.service import DiagramService

        make_service = DiagramService
    log.info(
        "starting the bot: database %s, %d worker(s), schedule %s",
        storage.db_path,
        bot_settings.workers,
        schedule.retrain_cron if schedule.enabled else "off",
    )
    return DiagramBot(settings, make_service(settings)), token


def run_bot(args: argparse.Namespace) -> int:
    bot, token = build_bot(args.settings)
    # log_handler=None: the diagrambot CLI has already configured logging.
    bot.run(token, log_handler=None)
    return 0
