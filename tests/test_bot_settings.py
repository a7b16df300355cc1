"""[bot], [storage] and [schedule] settings, the token (never logged), and `diagrambot bot`."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from fakes import FakeService

from bot import cli as bot_cli
from bot.scheduler import make_trigger
from bot.settings import DEFAULT_RATING_EMOJIS, BotSettings, resolve_token
from diagrambot.cli import parse_args
from diagrambot.config import load
from ml.errors import UserError
from ml.prompt import MAX_REQUEST_CHARS
from storage.settings import StorageSettings
from training.settings import ScheduleSettings

ROOT = Path(__file__).resolve().parent.parent
SECRET = "MTIz.secret-token-value.never-logged"


def config(tmp_path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_defaults():
    bot = BotSettings()
    assert bot.token_env == "DISCORD_TOKEN" and bot.dev_guild_id is None and bot.admin_user_ids == []
    assert [bot.rating_value(e) for e in DEFAULT_RATING_EMOJIS] == [1, 2, 3, 4, 5]
    assert bot.max_request_chars == MAX_REQUEST_CHARS
    assert (bot.per_user_pending_limit, bot.workers) == (2, 1)
    schedule = ScheduleSettings()
    assert (schedule.retrain_cron, schedule.retrain_kinds, schedule.enabled, schedule.orpo) == (
        "0 3 * * *",
        "all",
        True,
        False,
    )
    assert StorageSettings() == StorageSettings("data/diagrambot.sqlite3", "data")


def test_the_example_config_documents_every_key_with_its_default():
    settings = load(ROOT / "config.example.toml")
    assert settings.bot == BotSettings()
    assert settings.storage == StorageSettings()
    assert settings.schedule == ScheduleSettings()
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    for cls in (BotSettings, StorageSettings, ScheduleSettings):
        for name in cls.__dataclass_fields__:
            assert f"\n{name} = " in text or f"\n# {name} = " in text, name


def test_sections_are_read_from_config_toml(tmp_path):
    settings = load(
        config(
            tmp_path,
            """
        [bot]
        dev_guild_id = 42
        admin_user_ids = [1, 2]
        rating_emojis = ["😖", "🙁", "😐", "🙂", "🤩"]
        workers = 2
        [storage]
        db_path = "x.sqlite3"
        [schedule]
        retrain_cron = "30 4 * * 1"
        retrain_kinds = "cnn"
    """,
        )
    )
    bot = settings.bot
    assert (bot.dev_guild_id, bot.admin_user_ids, bot.workers) == (42, [1, 2], 2)
    assert bot.rating_value("🤩") == 5 and bot.rating_value("1️⃣") is None
    assert settings.storage.db_path == "x.sqlite3"
    trigger = make_trigger(settings.schedule)
    assert str(trigger.fields[5]) == "4" and str(trigger.fields[4]) == "1"  # hour, day of week


@pytest.mark.parametrize(
    "text, error",
    [
        ("[bot]\nprefix = '!'\n", "unknown key(s) in [bot]: prefix"),
        ("[bot]\nrating_emojis = ['👍', '👎']\n", "5 different emoji"),
        ("[bot]\nworkers = 0\n", "workers must be"),
        ("[bot]\nmax_request_chars = 5000\n", "max_request_chars"),
        ("[bot]\nadmin_user_ids = ['me']\n", 'config: [bot] admin_user_ids must be a list of integers, got ["me"]'),
        ("[bot]\nmax_request_chars = 'x'\n", 'config: [bot] max_request_chars must be an integer, got "x"'),
        ("[bot]\ndev_guild_id = '42'\n", 'config: [bot] dev_guild_id must be an integer, got "42"'),
        ("[bot]\nrating_emojis = [1, 2, 3, 4, 5]\n", "config: [bot] rating_emojis must be a list of strings"),
        ("[bot]\nqueue_limit = 1e9\n", "config: [bot] queue_limit must be an integer, got 1000000000.0"),
        ("[storage]\ndb_path = 5\n", "config: [storage] db_path must be a string, got 5"),
        ("[storage]\ndata_dir = ' '\n", "config: [storage] data_dir must not be empty"),
        ("[schedule]\nretrain_kinds = 'gpt'\n", "retrain_kinds"),
        ("[schedule]\ntimeout_s = -1\n", "config: [schedule] timeout_s must be between 1 and 604800, got -1"),
        ("[schedule]\ntimeout_s = nan\n", "config: [schedule] timeout_s must be a number, got NaN"),
        ("[schedule]\nenabled = 'no'\n", 'config: [schedule] enabled must be true or false, got "no"'),
        (
            "[schedule]\nretrain_command = 'python x.py'\n",
            'config: [schedule] retrain_command must be a list of strings, got "python x.py"',
        ),
        ("[schedule]\nretrain_command = ['nice', '']\n", "retrain_command must not hold empty strings"),
    ],
)
def test_bad_settings_are_one_clear_error(tmp_path, text, error):
    with pytest.raises(UserError, match=re.escape(error)) as caught:
        load(config(tmp_path, text))  # every table is checked when the file is loaded
    assert "\n" not in str(caught.value)


def test_a_mistyped_token_is_refused_without_showing_it(tmp_path):
    with pytest.raises(UserError, match=re.escape("config: [bot] token must be a string")) as caught:
        load(config(tmp_path, f"[bot]\ntoken = ['{SECRET}']\n"))
    assert SECRET not in str(caught.value)


def test_a_bad_cron_expression_is_a_config_error():
    with pytest.raises(UserError, match="retrain_cron"):
        make_trigger(ScheduleSettings(retrain_cron="every night"))


def test_the_token_comes_from_the_environment_first_then_the_config():
    assert resolve_token(BotSettings(), {"DISCORD_TOKEN": " abc "}) == "abc"
    assert resolve_token(BotSettings(token="from-file"), {"DISCORD_TOKEN": "env"}) == "env"
    assert resolve_token(BotSettings(token="from-file"), {}) == "from-file"
    assert resolve_token(BotSettings(token_env="MY_TOKEN"), {"MY_TOKEN": "x"}) == "x"
    assert resolve_token(BotSettings(), {"DISCORD_TOKEN": ""}) is None


def test_diagrambot_bot_without_a_token_refuses_with_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    args = parse_args(["bot", "--config", str(config(tmp_path, "[bot]\n"))])
    assert args.func is bot_cli.run_bot
    with pytest.raises(UserError, match="set the DISCORD_TOKEN environment variable") as caught:
        args.func(args)
    assert "\n" not in str(caught.value)


def test_the_token_never_appears_in_logs_or_reprs(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    path = config(
        tmp_path,
        f"""
        [bot]
        token = "{SECRET}-file"
        [storage]
        db_path = "{tmp_path / "db.sqlite3"}"
    """,
    )
    bot, token = bot_cli.build_bot(load(path), make_service=lambda s: FakeService())
    assert token == SECRET
    assert SECRET not in caplog.text and "starting the bot" in caplog.text
    assert SECRET not in repr(bot.bot_settings) and SECRET not in str(bot.bot_settings)
    assert SECRET not in repr(vars(bot))


def test_the_token_is_not_passed_on_to_child_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    path = config(
        tmp_path,
        f"""
        [storage]
        db_path = "{tmp_path / "db.sqlite3"}"
    """,
    )
    _, token = bot_cli.build_bot(load(path), make_service=lambda s: FakeService())
    assert token == SECRET
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('DISCORD_TOKEN'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout.strip() == "None"  # a retrain's subprocess inherits the environment


async def test_the_built_bot_opens_its_configured_database_and_schedule(tmp_path, monkeypatch):
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    path = config(
        tmp_path,
        f"""
        [storage]
        db_path = "{tmp_path / "own.sqlite3"}"
        data_dir = "{tmp_path / "data"}"
        [schedule]
        retrain_cron = "15 2 * * *"
    """,
    )
    bot, _ = bot_cli.build_bot(load(path), make_service=lambda s: FakeService())
    await bot.start_services()
    try:
        assert (tmp_path / "own.sqlite3").exists() and await bot.db.stats()
        assert (bot.scheduler.next_run().hour, bot.scheduler.next_run().minute) == (2, 15)
    finally:
        await bot.stop_services()
    assert bot.db is None and not bot.scheduler.scheduler.running
