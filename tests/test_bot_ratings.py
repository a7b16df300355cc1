"""Reaction ratings through the client's real gateway handlers with real raw reaction payloads."""

from __future__ import annotations

import discord
import pytest

from bot.fakes import FakeInteraction, FakeService, fake_user, running_bot
from bot.settings import DEFAULT_RATING_EMOJIS

BOT_ID = 4242
ONE, TWO, THREE, FOUR, FIVE = DEFAULT_RATING_EMOJIS
USER = 777


def reaction(message_id: int, emoji: str | discord.PartialEmoji, user_id: int = USER,
             event: str = "REACTION_ADD") -> discord.RawReactionActionEvent:
    """The payload discord.py builds from a MESSAGE_REACTION_ADD / _REMOVE gateway event."""
    data = {"message_id": str(message_id), "channel_id": "55", "user_id": str(user_id),
            "guild_id": "1", "type": 0, "burst": False}
    if event == "REACTION_ADD":
        data["message_author_id"] = str(BOT_ID)
    if not isinstance(emoji, discord.PartialEmoji):
        emoji = discord.PartialEmoji(name=emoji)
    return discord.RawReactionActionEvent(data, emoji, event)


def log_in(bot) -> None:
    """What discord.py's login does: remember who the bot is."""
    bot._connection.user = discord.ClientUser(
        state=bot._connection, data={"id": str(BOT_ID), "username": "diagrambot",
                                     "discriminator": "0", "avatar": None})


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
    await bot.on_raw_reaction_add(reaction(message_id, FIVE))           # the latest emoji wins
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


@pytest.mark.parametrize("make_payload, why", [
    (lambda m: reaction(m + 1, THREE), "not a diagram post"),
    (lambda m: reaction(m, THREE, user_id=BOT_ID), "own reaction"),
    (lambda m: reaction(m, "👍"), "not a rating emoji"),
    (lambda m: reaction(m, discord.PartialEmoji(name="five", id=1234)), "not a rating emoji"),
])
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
        for emoji in message.reactions:          # Discord echoes the bot's own reactions back
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
        rated, = service.draws[1]["ratings"]
        assert (rated.user_id, rated.value) == (str(ada.id), 5.0)
