"""Reaction ratings through the client's real gateway handlers with real raw reaction payloads."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3

import discord
import pytest
from fakes import FakeInteraction, FakeService, fake_user, running_bot

from bot.ratings import RatingHandler, replay_rating
from bot.settings import DEFAULT_RATING_EMOJIS, BotSettings
from storage import Database, is_busy

BOT_ID = 4242
ONE, TWO, THREE, FOUR, FIVE = DEFAULT_RATING_EMOJIS
USER = 777


def reaction(
    message_id: int, emoji: str | discord.PartialEmoji, user_id: int = USER, event: str = "REACTION_ADD"
) -> discord.RawReactionActionEvent:
    """The payload discord.py builds from a MESSAGE_REACTION_ADD / _REMOVE gateway event."""
    data = {
        "message_id": str(message_id),
        "channel_id": "55",
        "user_id": str(user_id),
        "guild_id": "1",
        "type": 0,
        "burst": False,
    }
    if event == "REACTION_ADD":
        data["message_author_id"] = str(BOT_ID)
    if not isinstance(emoji, discord.PartialEmoji):
        emoji = discord.PartialEmoji(name=emoji)
    return discord.RawReactionActionEvent(data, emoji, event)


def log_in(bot) -> None:
    """What discord.py's login does: remember who the bot is."""
    bot._connection.user = discord.ClientUser(
        state=bot._connection, data={"id": str(BOT_ID), "username": "diagrambot", "discriminator": "0", "avatar": None}
    )


@pytest.fixture
async def bot(tmp_path):
    async with running_bot(tmp_path) as bot:
        log_in(bot)
        yield bot


async def post(bot) -> tuple[int, int]:
    """A diagram post as the drawer makes it: (message id, candidate id)."""
    request_id = await bot.db.create_request("123", "two nodes")
    candidate_id = await bot.db.add_candidate(request_id, 1, "[]", "[]", None, {"final_score": 4.0})
    await bot.db.add_post(9001, 55, candidate_id)
    return 9001, candidate_id


async def rating(bot, candidate_id, user_id=USER):
    found = await bot.db.get_rating(str(user_id), candidate_id)
    return None if found is None else found.value


async def test_reactions_create_change_and_delete_a_rating(bot):
    message_id, candidate_id = await post(bot)
    await bot.on_raw_reaction_add(reaction(message_id, THREE))
    assert await rating(bot, candidate_id) == 3
    await bot.on_raw_reaction_add(reaction(message_id, FIVE))  # the latest emoji wins
    assert await rating(bot, candidate_id) == 5
    await bot.on_raw_reaction_remove(reaction(message_id, FIVE, event="REACTION_REMOVE"))
    assert await rating(bot, candidate_id) is None


async def test_removing_an_older_emoji_keeps_the_newer_rating(bot):
    message_id, candidate_id = await post(bot)
    await bot.on_raw_reaction_add(reaction(message_id, THREE))
    await bot.on_raw_reaction_add(reaction(message_id, FIVE))
    await bot.on_raw_reaction_remove(reaction(message_id, THREE, event="REACTION_REMOVE"))
    assert await rating(bot, candidate_id) == 5


async def test_each_user_has_their_own_rating(bot):
    message_id, candidate_id = await post(bot)
    await bot.on_raw_reaction_add(reaction(message_id, TWO, user_id=1))
    await bot.on_raw_reaction_add(reaction(message_id, FOUR, user_id=2))
    assert [r.value for r in await bot.db.ratings_for_candidate(candidate_id)] == [2, 4]


async def test_keycaps_without_the_variation_selector_count_too(bot):
    message_id, candidate_id = await post(bot)
    await bot.on_raw_reaction_add(reaction(message_id, "4\N{COMBINING ENCLOSING KEYCAP}"))
    assert await rating(bot, candidate_id) == 4


@pytest.mark.parametrize(
    "make_payload, why",
    [
        (lambda m: reaction(m + 1, THREE), "not a diagram post"),
        (lambda m: reaction(m, THREE, user_id=BOT_ID), "own reaction"),
        (lambda m: reaction(m, "👍"), "not a rating emoji"),
        (lambda m: reaction(m, discord.PartialEmoji(name="five", id=1234)), "not a rating emoji"),
    ],
)
async def test_reactions_that_are_not_ratings_do_nothing(bot, make_payload, why):
    message_id, candidate_id = await post(bot)
    await bot.on_raw_reaction_add(make_payload(message_id))
    assert await bot.db.rating_count() == 0
    assert why in await bot.ratings.on_add(make_payload(message_id))
    await bot.db.set_rating(str(USER), candidate_id, 2)
    removal = make_payload(message_id)
    removal.event_type = "REACTION_REMOVE"
    await bot.on_raw_reaction_remove(removal)
    assert await rating(bot, candidate_id) == 2


async def test_the_bots_own_rating_reactions_on_its_posts_are_not_ratings(tmp_path):
    async with running_bot(tmp_path) as bot:
        log_in(bot)
        interaction = FakeInteraction(bot)
        await bot.tree.get_command("diagram").callback(interaction, request="two nodes", top=1)
        await bot.queue.join()
        message = interaction.channel.messages[0]
        for emoji in message.reactions:  # Discord echoes the bot's own reactions back
            await bot.on_raw_reaction_add(reaction(message.id, emoji, user_id=BOT_ID))
        assert await bot.db.rating_count() == 0


async def test_a_rating_reaches_the_raters_next_request(tmp_path):
    service = FakeService()
    async with running_bot(tmp_path, service) as bot:
        log_in(bot)
        ada = fake_user(name="ada")
        first = FakeInteraction(bot, user=ada)
        await bot.tree.get_command("diagram").callback(first, request="two nodes", top=1)
        await bot.queue.join()
        assert service.draws[0]["ratings"] == []
        await bot.on_raw_reaction_add(reaction(first.channel.messages[0].id, FIVE, user_id=ada.id))

        second = FakeInteraction(bot, user=ada)
        await bot.tree.get_command("diagram").callback(second, request="two nodes again", top=1)
        await bot.queue.join()
        (rated,) = service.draws[1]["ratings"]
        assert (rated.user_id, rated.value) == (str(ada.id), 5.0)


# ---------------------------------------------------------------- a busy database


@pytest.fixture
async def busy_db(tmp_path):
    """A database whose writes give up after 20 ms, with one diagram post; and a second
    connection (another process, say a long `db import`) that can hold the write lock."""
    db = await Database.open(tmp_path / "busy.sqlite3", busy_timeout_ms=20)
    request_id = await db.create_request("123", "two nodes")
    candidate_id = await db.add_candidate(request_id, 1, "[]", "[]", None, {})
    await db.add_post(9001, 55, candidate_id)
    other = sqlite3.connect(tmp_path / "busy.sqlite3", isolation_level=None)
    yield db, candidate_id, other
    other.close()
    await db.close()


# Retries for 5 s, 50x the 0.1 s the tests hold the lock: a busy machine cannot run them out first.
def handler(db, delays=(0.02,) * 250) -> RatingHandler:
    return RatingHandler(db, BotSettings(), lambda: BOT_ID, retry_delays_s=delays)


async def stored(db, candidate_id, user_id=USER):
    found = await db.get_rating(str(user_id), candidate_id)
    return None if found is None else found.value


async def test_a_rating_waits_out_a_write_lock_instead_of_being_lost(busy_db):
    db, candidate_id, other = busy_db
    ratings = handler(db)
    other.execute("BEGIN IMMEDIATE")  # the other connection holds the write lock
    adding = asyncio.create_task(ratings.on_add(reaction(9001, THREE)))
    await asyncio.sleep(0.1)  # several attempts have met the lock
    assert not adding.done()
    other.execute("ROLLBACK")
    assert await asyncio.wait_for(adding, 5) == "rated"
    assert await stored(db, candidate_id) == 3

    other.execute("BEGIN IMMEDIATE")
    removing = asyncio.create_task(ratings.on_remove(reaction(9001, THREE, event="REACTION_REMOVE")))
    await asyncio.sleep(0.1)
    other.execute("COMMIT")
    assert await asyncio.wait_for(removing, 5) == "removed"
    assert await stored(db, candidate_id) is None


async def test_an_add_and_a_remove_queued_behind_a_lock_land_in_order(busy_db):
    """The user rated and took it back while the database was locked: no rating may remain."""
    db, candidate_id, other = busy_db
    ratings = handler(db)
    other.execute("BEGIN IMMEDIATE")
    add = asyncio.create_task(ratings.on_add(reaction(9001, THREE)))
    await asyncio.sleep(0.03)
    remove = asyncio.create_task(ratings.on_remove(reaction(9001, THREE, event="REACTION_REMOVE")))
    await asyncio.sleep(0.1)
    other.execute("ROLLBACK")
    assert await asyncio.wait_for(asyncio.gather(add, remove), 5) == ["rated", "removed"]
    assert await stored(db, candidate_id) is None


@pytest.mark.parametrize(
    "event, emoji, before, after",
    [
        ("REACTION_ADD", FOUR, None, 4),
        ("REACTION_REMOVE", FOUR, 4, None),
    ],
)
async def test_a_rating_that_cannot_be_written_is_logged_whole_and_replays(
    busy_db, caplog, event, emoji, before, after
):
    db, candidate_id, other = busy_db
    if before is not None:
        await db.set_rating(str(USER), candidate_id, before)
    ratings = handler(db, delays=(0.01, 0.02))
    other.execute("BEGIN IMMEDIATE")
    payload = reaction(9001, emoji, event=event)
    with caplog.at_level(logging.WARNING, logger="bot.ratings"):
        result = await (ratings.on_add if event == "REACTION_ADD" else ratings.on_remove)(payload)
    other.execute("ROLLBACK")
    assert result.startswith("failed")
    assert await stored(db, candidate_id) == before  # nothing was written...
    (lost,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    entry = json.loads(lost.getMessage().split(": ", 2)[-1])
    assert entry == {
        "action": "add" if event == "REACTION_ADD" else "remove",
        "user_id": str(USER),
        "message_id": 9001,
        "channel_id": 55,
        "guild_id": 1,
        "value": 4,
    }
    assert lost.rating == entry
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2  # two retries
    await replay_rating(db, entry)  # ...and the log line puts it back
    assert await stored(db, candidate_id) == after


def test_only_lock_errors_count_as_busy():
    assert is_busy(sqlite3.OperationalError("database is locked"))
    assert is_busy(sqlite3.OperationalError("database table is locked"))
    assert not is_busy(sqlite3.OperationalError("no such table: ratings"))
    assert not is_busy(sqlite3.IntegrityError("FOREIGN KEY constraint failed"))
