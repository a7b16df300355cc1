"""The bot on the wire: users drive the unmodified DiagramBot through a simulated Discord (SimCord).

Unlike tests/test_bot_*.py, nothing here calls a command callback or a button directly: slash
commands go through the synced CommandTree (guild_only, option conversion and bounds, error
routing), buttons through DynamicItem dispatch of the posted custom ids, reactions through raw
gateway events, and files travel as multipart uploads. See tests/e2e_support.py for the harness.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import simcord
from e2e_support import (
    MAX_REQUEST_CHARS,
    REQUEST,
    answers,
    custom_ids,
    files,
    interaction_callbacks,
    json_lists,
    original_edits,
    simulated_bot,
)

from bot.admin import Refused
from bot.settings import DEFAULT_RATING_EMOJIS
from ml.parser import parse

ONE, TWO, THREE, FOUR, FIVE = DEFAULT_RATING_EMOJIS
ANSWERED, DEFERRED = 4, 5  # interaction callback types (Discord API)
ADMIN_COMMANDS = ["admin retrain", "admin jobs", "admin queue", "admin stats", "admin reload"]
NOT_YOURS = "Only the person who asked for this diagram can use its buttons."  # en.toml button.not_yours

pytestmark = pytest.mark.usefixtures("simcord_env")  # SimCord's clock for the test, transcript on failure


@pytest.fixture
async def wire(tmp_path):
    async with simulated_bot(tmp_path) as wire:
        yield wire


@pytest.fixture
def simcord_env(wire):
    """SimCord's pytest plugin looks for an Env among the fixtures (clock, failure transcript)."""
    return wire.env


@pytest.fixture
async def drawn(wire):
    """ada has asked for the best 2 of 4 candidates: two diagram posts are in the channel."""
    result = await wire.diagram(candidates=4, top=2)
    assert len(wire.posts()) == 2, result
    return wire


# ---------------------------------------------------------------------------------- /diagram


async def test_diagram_defers_reports_progress_and_posts_each_diagram_with_file_buttons_and_reactions(wire):
    mark = wire.mark()
    result = await wire.diagram()
    calls = wire.calls_since(mark)

    # The first thing on the wire is a public "thinking…" defer; the status is edited in after.
    assert calls[0].path.startswith("/interactions/")
    assert interaction_callbacks(calls) == [(DEFERRED, False, None)]
    edits = original_edits(calls)
    assert edits[0] == "⏳ Request #1 is next; the diagrams will be posted in this channel."
    assert edits[1] == "🧠 Request #1: generating 4 candidates…"  # [pipeline] candidates = 4
    assert edits[2].startswith("📐 Request #1: reading, drawing and scoring")
    assert edits[-1].startswith("✅ Request #1: the best 3 of 4 candidates (3 readable) are below")
    assert len(edits) == 4
    assert not result.ephemeral and result.response.content == edits[-1]

    # The progress edits come before the first post, the final summary after the last reaction.
    first_post = next(i for i, call in enumerate(calls) if call.method == "POST" and call.path.startswith("/channels/"))
    edited_at = [i for i, call in enumerate(calls) if call.method == "PATCH"]
    assert max(edited_at[:3]) < first_post and edited_at[3] == len(calls) - 1

    request = (await wire.bot.db.recent_requests())[0]
    assert (request.id, request.status, request.text) == (1, "done", REQUEST)
    assert request.channel_id == wire.channel.id and request.guild_id == wire.guild.id
    assert wire.service.draws[0]["request"] == REQUEST
    assert wire.service.draws[0]["user_id"] == str(wire.ada.id)

    posts = wire.posts()
    assert len(posts) == 3  # [pipeline] top = 3, one post each
    finals = []
    for rank, message in enumerate(posts, start=1):
        candidate_id = await wire.bot.db.candidate_for_message(message.id)
        candidate = await wire.bot.db.get_candidate(candidate_id)
        assert (candidate.request_id, candidate.rank) == (1, rank)
        finals.append(candidate.final_score)
        assert message.content.startswith(f"**#{rank}** of 4 · request #1 · score **")
        assert f"{candidate.final_score:.2f}" in message.content

        uploaded = await files(message)  # a real multipart upload, read back
        assert list(uploaded) == [f"diagram-{candidate_id}.png"]
        assert uploaded[f"diagram-{candidate_id}.png"].startswith(b"\x89PNG\r\n\x1a\n")
        assert message.attachments[0].content_type == "image/png"

        assert custom_ids(message) == {
            "Reroll": f"diagram:reroll:1:{wire.ada.id}:4:3",
            "Remix": f"diagram:remix:1:{wire.ada.id}:4:3",
            "Show spec": f"diagram:spec:{candidate_id}:{wire.ada.id}",
            "Download": f"diagram:download:{candidate_id}:{wire.ada.id}",
        }

        assert [str(r.emoji) for r in message.reactions] == DEFAULT_RATING_EMOJIS
        for reaction in message.reactions:  # added by the bot, and only by it
            assert [user.id async for user in reaction.users()] == [wire.bot.user.id]
    assert finals == sorted(finals, reverse=True)  # best first


async def test_the_bots_own_rating_reactions_reach_it_but_are_not_stored_as_ratings(wire):
    mark = wire.mark()
    await wire.diagram()
    own = [
        call
        for call in wire.calls_since(mark)
        if call.method == "PUT" and call.path.endswith("/@me") and "/reactions/" in call.path
    ]
    assert len(own) == 3 * 5  # five per post
    events = [line for line in wire.env.transcript().splitlines() if "MESSAGE_REACTION_ADD" in line]
    assert len(events) == 3 * 5  # each echoed to the bot by the gateway…
    assert all(line.startswith("GATEWAY") and f"user_id='{wire.bot.user.id}'" in line for line in events)
    assert await wire.bot.db.all_ratings() == []  # …and none of them became a rating
    assert await wire.bot.db.rating_count() == 0


# ---------------------------------------------------------------------------------- reactions


async def test_reactions_added_and_removed_by_users_store_and_remove_ratings(drawn):
    wire = drawn
    first, second = wire.posts()

    await wire.ada.react(first, FOUR)
    assert await wire.rating(wire.ada, first) == 4
    await wire.ada.react(first, TWO)  # the latest emoji is the rating
    assert await wire.rating(wire.ada, first) == 2
    await wire.ada.unreact(first, FOUR)  # taking back an older one changes nothing
    assert await wire.rating(wire.ada, first) == 2

    await wire.bob.react(first, FIVE)  # everyone rates for themselves
    await wire.bob.react(second, ONE)
    assert await wire.rating(wire.bob, first) == 5 and await wire.rating(wire.bob, second) == 1
    assert await wire.rating(wire.ada, second) is None

    await wire.ada.unreact(first, TWO)  # removing the current one removes it
    assert await wire.rating(wire.ada, first) is None
    assert await wire.rating(wire.bob, first) == 5

    await wire.ada.react(second, "🎉")  # not a rating emoji
    status = [m for m in wire.channel.history() if not m.attachments][-1]
    assert status.content.startswith("✅ Request #1")
    await wire.ada.react(status, THREE)  # a rating emoji, but not on a diagram
    assert await wire.rating(wire.ada, second) is None
    assert sorted((r.user_id, r.value) for r in await wire.bot.db.all_ratings()) == sorted(
        [(str(wire.bob.id), 5), (str(wire.bob.id), 1)]
    )


# ---------------------------------------------------------------------------------- buttons


async def test_show_spec_sends_the_requester_the_node_list_privately(drawn):
    wire = drawn
    message = wire.posts()[1]
    candidate = await wire.bot.db.get_candidate(await wire.bot.db.candidate_for_message(message.id))
    mark = wire.mark()
    result = await wire.ada.click(message, label="Show spec")

    assert interaction_callbacks(wire.calls_since(mark)) == [(DEFERRED, True, None)]  # private "thinking…"
    [answer] = answers(result)
    assert answer.ephemeral and result.ephemeral
    assert answer.content == "Node list of diagram #2 (request #1):"
    uploaded = await files(answer)
    assert list(uploaded) == [f"diagram-{candidate.id}.txt"]
    spec = uploaded[f"diagram-{candidate.id}.txt"].decode()
    assert json_lists(parse(spec).diagram.as_lists()) == json.loads(candidate.nodes_json)  # as posted
    assert '"circle"' in spec and '"rectangle"' in spec
    assert all(m.id != answer.id for m in wire.channel.history(viewer=wire.bob))  # bob never sees it


async def test_download_sends_the_requester_pptx_svg_drawio_and_mermaid_privately(drawn):
    wire = drawn
    message = wire.posts()[0]
    candidate_id = await wire.bot.db.candidate_for_message(message.id)
    result = await wire.ada.click(message, label="Download")

    [answer] = answers(result)
    assert answer.ephemeral
    assert answer.content == "Diagram #1 (request #1) to edit: PowerPoint, SVG, draw.io and Mermaid."
    uploaded = await files(answer)
    name = f"diagram-{candidate_id}"
    assert list(uploaded) == [f"{name}.pptx", f"{name}.svg", f"{name}.drawio", f"{name}.mmd"]
    with zipfile.ZipFile(io.BytesIO(uploaded[f"{name}.pptx"])) as pptx:
        assert "ppt/slides/slide1.xml" in pptx.namelist()
    assert uploaded[f"{name}.svg"].lstrip().startswith(b"<svg")
    assert uploaded[f"{name}.drawio"].lstrip().startswith(b"<mxfile")
    assert uploaded[f"{name}.mmd"].decode().lstrip().startswith(("flowchart", "graph"))
    assert all(m.id != answer.id for m in wire.channel.history(viewer=wire.bob))


async def test_reroll_queues_the_same_request_again_with_the_same_sizes_and_answers_privately(drawn):
    wire = drawn
    mark = wire.mark()
    result = await wire.ada.click(wire.posts()[1], label="Reroll")
    calls = wire.calls_since(mark)

    assert interaction_callbacks(calls) == [(DEFERRED, True, None)]
    edits = original_edits(calls)
    assert edits[0].startswith("⏳ Request #2 is next") and edits[-1].startswith("✅ Request #2")
    assert result.ephemeral and result.response.ephemeral and result.response.content == edits[-1]

    requests = {r.id: r for r in await wire.bot.db.recent_requests()}
    assert requests[2].text == requests[1].text == REQUEST and requests[2].status == "done"
    assert [d["n"] for d in wire.service.draws] == [4, 4]  # candidates from the custom id
    new = wire.posts()[2:]
    assert len(new) == 2  # top from the custom id, not 3
    assert [m.content.split(" · ")[:2] for m in new] == [["**#1** of 4", "request #2"], ["**#2** of 4", "request #2"]]
    assert all(not m.flags.ephemeral for m in new)  # the diagrams are public


@pytest.mark.parametrize("label", ["Reroll", "Remix", "Show spec", "Download"])
async def test_a_stranger_clicking_a_button_is_refused_privately_and_nothing_happens(drawn, label):
    wire = drawn
    mark = wire.mark()
    result = await wire.bob.click(wire.posts()[0], label=label)
    calls = wire.calls_since(mark)

    assert interaction_callbacks(calls) == [(ANSWERED, True, NOT_YOURS)]  # at once, not deferred
    [answer] = answers(result)
    assert answer.ephemeral and answer.content == NOT_YOURS and answer.attachments == []
    assert [c for c in calls if not c.path.startswith("/interactions/")] == []  # no post, no edit
    assert len(await wire.bot.db.recent_requests()) == 1 and len(wire.service.draws) == 1
    assert len(wire.posts()) == 2


# ---------------------------------------------------------------------------------- options


async def test_the_synced_request_option_carries_the_configured_max_length(wire):
    request = await wire.synced_option("diagram", "request")
    assert request["required"] is True
    assert request.get("max_length") == MAX_REQUEST_CHARS


async def test_a_request_longer_than_the_configured_limit_is_refused_and_never_queued(wire):
    too_long = "a model with " + "x" * (MAX_REQUEST_CHARS - 13 + 1)
    assert len(too_long) == MAX_REQUEST_CHARS + 1
    # Synced with the configured limit, the Discord client itself will not send it.
    with pytest.raises(simcord.OptionError) as refused:
        await wire.diagram(request=too_long)
    # simcord's verdict (its code and the option), not its wording
    assert (refused.value.code, refused.value.option) == ("option-length", "request")
    assert await wire.bot.db.recent_requests() == [] and wire.service.draws == []
    assert wire.posts() == []


async def test_a_request_at_the_configured_limit_is_drawn(wire):
    at_limit = "a model with " + "x" * (MAX_REQUEST_CHARS - 13)
    result = await wire.diagram(request=at_limit)
    assert not result.ephemeral and result.response.content.startswith("✅ Request #1")
    assert wire.service.draws[0]["request"] == at_limit and len(wire.posts()) == 3


@pytest.mark.parametrize(
    "options, code, bound",
    [
        ({"top": 11}, "option-range", ("max_value", 10)),
        ({"top": 0}, "option-range", ("min_value", 1)),
        ({"candidates": 0}, "option-range", ("min_value", 1)),
        ({"candidates": 17}, "option-range", ("max_value", 16)),  # the pipeline's max, not 64
        ({"candidates": "four"}, "option-type", None),
    ],
)
async def test_options_outside_their_synced_bounds_are_refused_before_reaching_the_bot(wire, options, code, bound):
    [name] = options
    if bound is not None:  # the bound the bot synced is the one that refused the value
        key, value = bound
        assert (await wire.synced_option("diagram", name))[key] == value
    mark = wire.mark()
    with pytest.raises(simcord.OptionError) as refused:
        await wire.diagram(**options)
    assert (refused.value.code, refused.value.option) == (code, name)  # simcord's verdict, not its wording
    assert wire.calls_since(mark) == [] and "INTERACTION_CREATE" not in wire.env.transcript()
    assert wire.service.draws == []


@pytest.mark.parametrize(
    "request_text, options, refusal",
    [
        (REQUEST, {"candidates": 2, "top": 3}, "⚠️ top must be between 1 and 2 (no more than the candidates)"),
        (" \n  ", {}, "⚠️ the request is empty: describe the model or process to draw"),
    ],
)
async def test_a_request_the_bot_cannot_take_gets_a_private_refusal_through_the_tree(
    wire, request_text, options, refusal
):
    mark = wire.mark()
    result = await wire.diagram(request=request_text, **options)
    assert interaction_callbacks(wire.calls_since(mark)) == [(ANSWERED, True, refusal)]
    assert result.ephemeral and result.response.content == refusal
    assert await wire.bot.db.recent_requests() == [] and wire.service.draws == []


# ---------------------------------------------------------------------------------- guild only


@pytest.mark.parametrize("name", ["diagram", "admin"])
async def test_commands_are_guild_only_and_cannot_be_run_in_a_dm(wire, name):
    synced = await wire.synced(name)
    assert synced["contexts"] == [0] and synced["dm_permission"] is False  # 0 = guild (Discord API)
    offered = {command.split()[0] for command in wire.ada.available_commands(wire.channel)}
    assert name in offered  # offered in the guild…
    assert name not in {command.split()[0] for command in wire.ada.user.available_commands()}  # …not in a DM
    with pytest.raises(simcord.SetupError):  # refused as a real client would; the why is asserted above
        await wire.ada.user.slash(
            *(["diagram"] if name == "diagram" else ["admin jobs"]),
            **({"request": REQUEST} if name == "diagram" else {}),
        )
    assert await wire.bot.db.recent_requests() == [] and await wire.bot.db.recent_jobs() == []


# ---------------------------------------------------------------------------------- admin


@pytest.mark.parametrize("name", ADMIN_COMMANDS)
async def test_admin_commands_refuse_a_plain_member_privately_and_do_nothing(wire, name):
    # Who counts as an admin (and which refusal a command gives) is bot/admin.py's to define;
    # a plain member of the guild is refused by all of them, with a private "⛔" answer.
    mark = wire.mark()
    result = await wire.bob.slash(wire.channel, name)
    calls = wire.calls_since(mark)
    [(kind, ephemeral, text)] = interaction_callbacks(calls)
    assert (kind, ephemeral) == (ANSWERED, True) and text.startswith("⛔")
    assert [c for c in calls if not c.path.startswith("/interactions/")] == []  # nothing else sent
    assert result.ephemeral and result.response.content == text and result.followups == []
    assert await wire.bot.db.recent_jobs() == [] and wire.service.reloads == []
    # The refusal is the /admin group's check failing, as discord.py routes it (seen and acknowledged here).
    assert [type(error) for error in wire.env.errors] == [Refused]


# ---------------------------------------------------------------------------------- remix


async def test_remix_opens_the_request_prefilled_and_queues_the_edit_linked_to_the_old_one(drawn):
    wire = drawn
    shown = await wire.ada.click(wire.posts()[0], label="Remix")
    form = shown.modal
    assert form is not None and form["title"] == "Remix this request"
    [text_input] = [c for row in form["components"] for c in row["components"]]
    assert text_input["value"] == REQUEST and text_input["max_length"] == MAX_REQUEST_CHARS
    assert len(await wire.bot.db.recent_requests()) == 1  # nothing queued by opening it

    edited = REQUEST.replace("3 hidden nodes", "5 hidden nodes")
    result = await wire.ada.submit_modal(shown, {"remix:request": edited})
    newest, original = await wire.bot.db.recent_requests()
    assert (newest.text, newest.remix_of, newest.status) == (edited, original.id, "done")
    assert original.remix_of is None
    assert [d["request"] for d in wire.service.draws] == [REQUEST, edited]
    assert [d["n"] for d in wire.service.draws] == [4, 4]  # sizes carried over
    assert result.response.content.startswith(f"✅ Request #{newest.id}")
    new = wire.posts()[2:]
    assert [m.content.split(" · ")[1] for m in new] == [f"request #{newest.id}"] * 2
    assert all(not m.flags.ephemeral for m in new)  # shown like any /diagram


async def test_remix_meets_the_same_per_user_cap_and_checks_as_diagram(drawn):
    wire = drawn
    shown = await wire.ada.click(wire.posts()[0], label="Remix")
    wire.bot.queue.per_user_limit = 0  # as if ada already had her allowance waiting
    refused = await wire.ada.submit_modal(shown, {"remix:request": REQUEST + " again"})
    [answer] = answers(refused)
    assert answer.ephemeral and answer.content.startswith("⚠️ you already have 0 requests waiting")
    direct = await wire.diagram(request=REQUEST + " again")
    assert answers(direct)[0].content == answer.content  # the same answer as /diagram
    assert len(await wire.bot.db.recent_requests()) == 1 and len(wire.service.draws) == 1
