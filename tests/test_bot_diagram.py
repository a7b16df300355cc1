"""/diagram through the real command callback, queue, drawer and buttons, with fake interactions.

The service runs the real pipeline (parse, render, score, rank) over fixed node lists; storage is
a real temporary database. Nothing here talks to Discord or loads a model.
"""

from __future__ import annotations

import asyncio
import json
import threading
from types import SimpleNamespace

import discord
import pytest
from fakes import FakeInteraction, FakeService, FixedTextsGenerator, fake_user, running_bot

from bot import views
from bot.settings import DEFAULT_RATING_EMOJIS, BotSettings
from bot.views import DownloadButton, RemixButton, RerollButton, SpecButton
from ml.errors import UserError
from ml.parser import parse
from ml.pipeline import RequestError

REQUEST = "a deep learning model with 2 input nodes, 3 hidden nodes and 1 output node"
NOT_YOURS = "Only the person who asked for this diagram can use its buttons."  # en.toml button.not_yours


async def diagram(bot, interaction, request=REQUEST, **options):
    """Invoke /diagram exactly as discord.py would: the registered command's callback."""
    await bot.tree.get_command("diagram").callback(interaction, request=request, **options)


async def test_diagram_defers_first_then_posts_top_k_images_with_rating_reactions(tmp_path):
    service = FakeService()
    async with running_bot(tmp_path, service) as bot:
        interaction = FakeInteraction(bot, user=fake_user(name="ada"))
        await diagram(bot, interaction, candidates=4, top=3)
        assert interaction.kinds[0] == "defer"  # answered before any slow work
        await bot.queue.join()

        assert interaction.events[0].at < service.draws[0]["at"]  # the model ran after the defer
        assert service.draws[0]["n"] == 4 and service.draws[0]["user_id"] == str(interaction.user.id)
        messages = interaction.channel.messages
        assert len(messages) == 3  # top K, one image per message
        requests = await bot.db.recent_requests()
        assert len(requests) == 1 and requests[0].status == "done" and requests[0].text == REQUEST
        stored = await bot.db.candidates_for_request(requests[0].id)
        assert len(stored) == 3  # the 3 readable of 4 answers
        for rank, message in enumerate(messages, start=1):
            assert isinstance(message.file, discord.File) and message.file.filename.endswith(".png")
            assert message.file.fp.read()[:8] == b"\x89PNG\r\n\x1a\n"
            assert message.content.startswith(f"**#{rank}** of 4")
            assert "score **" in message.content
            assert message.reactions == DEFAULT_RATING_EMOJIS  # the bot added 1..5
            post = await bot.db.get_post(message.id)
            assert post is not None and post.channel_id == interaction.channel_id
            candidate = await bot.db.get_candidate(post.candidate_id)
            assert candidate.rank == rank and candidate.request_id == requests[0].id
        finals = [
            (await bot.db.get_candidate((await bot.db.get_post(m.id)).candidate_id)).final_score for m in messages
        ]
        assert finals == sorted(finals, reverse=True)  # best first

        texts = interaction.texts("edit")
        assert "queued" in texts[0] or "is next" in texts[0]  # their place in the queue
        assert any("generating" in t for t in texts) and any("scoring" in t for t in texts)
        assert texts[-1].startswith("✅") and "best 3 of 4" in texts[-1]
        assert interaction.ephemeral == []


async def test_top_defaults_to_the_configured_number(tmp_path):
    async with running_bot(tmp_path) as bot:
        interaction = FakeInteraction(bot)
        await diagram(bot, interaction)
        await bot.queue.join()
        assert len(interaction.channel.messages) == 3  # [pipeline] top = 3


@pytest.mark.parametrize(
    "request_text, options, error",
    [
        ("   \n ", {}, "empty"),
        ("x" * 81, {}, "limit is 80"),
        (REQUEST, {"candidates": 17}, "candidates must be between 1 and 16"),
        (REQUEST, {"candidates": 0}, "candidates must be between 1 and 16"),
        (REQUEST, {"candidates": 2, "top": 3}, "top must be between 1 and 2"),
    ],
)
async def test_bad_request_gets_an_ephemeral_error_and_nothing_is_queued(tmp_path, request_text, options, error):
    service = FakeService()
    async with running_bot(tmp_path, service, bot_settings=BotSettings(max_request_chars=80)) as bot:
        interaction = FakeInteraction(bot)
        await diagram(bot, interaction, request=request_text, **options)
        assert interaction.kinds == ["send_message"]
        assert len(interaction.ephemeral) == 1 and error in interaction.ephemeral[0]
        assert bot.queue.waiting == [] and bot.queue.running == []
        await bot.queue.join()
        assert await bot.db.recent_requests() == [] and service.draws == []


async def test_over_the_pending_limit_is_refused_and_other_users_still_queue(tmp_path):
    gate = threading.Event()
    service = FakeService(FixedTextsGenerator(gate=gate))
    async with running_bot(tmp_path, service, bot_settings=BotSettings(per_user_pending_limit=2)) as bot:
        ada, bob = fake_user(name="ada"), fake_user(name="bob")
        first, second, third = (FakeInteraction(bot, user=ada) for _ in range(3))
        await diagram(bot, first)
        await diagram(bot, second)
        await diagram(bot, third)
        assert third.kinds == ["send_message"] and "already have 2 requests" in third.ephemeral[0]
        assert len(await bot.db.recent_requests()) == 2
        other = FakeInteraction(bot, user=bob)
        await diagram(bot, other)
        assert other.kinds[0] == "defer" and "position" in other.texts("edit")[0]
        gate.set()
        await bot.queue.join()
        assert [r.status for r in await bot.db.recent_requests()] == ["done"] * 3


class FlakyGenerator(FixedTextsGenerator):
    """Raises `error` on the first call, then behaves."""

    def __init__(self, error):
        super().__init__()
        self.first_error = error

    def generate(self, request, n, seed=None):
        error, self.first_error = self.first_error, None
        if error is not None:
            raise error
        return super().generate(request, n, seed)


@pytest.mark.parametrize(
    "error, shown",
    [
        (RuntimeError("CUDA out of memory"), "the model failed (RuntimeError)"),
        (UserError("model models/x is not on disk: set [generator] model"), "is not on disk"),
        (RequestError("the request is empty"), "the request is empty"),
    ],
)
async def test_a_pipeline_failure_is_reported_marked_failed_and_the_queue_moves_on(tmp_path, error, shown):
    async with running_bot(tmp_path, FakeService(FlakyGenerator(error))) as bot:
        failing, following = FakeInteraction(bot), FakeInteraction(bot)
        await diagram(bot, failing)
        await diagram(bot, following)
        await bot.queue.join()
        assert failing.last_text.startswith("❌") and shown in failing.last_text
        assert failing.channel.messages == []
        first, second = sorted(await bot.db.recent_requests(), key=lambda r: r.id)
        assert first.status == "failed" and first.error and first.finished
        assert second.status == "done" and len(following.channel.messages) == 3


async def test_no_readable_candidate_is_a_clear_failure(tmp_path):
    service = FakeService(FixedTextsGenerator(["I cannot draw.", "[1, 2"]))
    async with running_bot(tmp_path, service) as bot:
        interaction = FakeInteraction(bot)
        await diagram(bot, interaction)
        await bot.queue.join()
        assert "none of the 4 answers" in interaction.last_text
        (request,) = await bot.db.recent_requests()
        assert request.status == "failed" and "none of the 4" in request.error


async def test_missing_channel_permissions_are_explained(tmp_path):
    async with running_bot(tmp_path) as bot:
        interaction = FakeInteraction(bot)

        async def forbidden(*args, **kwargs):
            raise discord.Forbidden(SimpleNamespace(status=403, reason="Forbidden"), "Missing Permissions")

        interaction.channel.send = forbidden
        await diagram(bot, interaction)
        await bot.queue.join()
        assert "Attach Files" in interaction.last_text
        assert (await bot.db.recent_requests())[0].status == "failed"


async def test_jobs_run_in_submission_order(tmp_path):
    gate = threading.Event()
    service = FakeService(FixedTextsGenerator(gate=gate))
    async with running_bot(tmp_path, service, bot_settings=BotSettings(per_user_pending_limit=5)) as bot:
        for i in range(4):
            await diagram(bot, FakeInteraction(bot), request=f"request number {i}", top=1)
        gate.set()
        await bot.queue.join()
        assert [d["request"] for d in service.draws] == [f"request number {i}" for i in range(4)]


# ---------------------------------------------------------------- buttons


async def posted(bot, user):
    interaction = FakeInteraction(bot, user=user)
    await diagram(bot, interaction, candidates=4, top=2)
    await bot.queue.join()
    return interaction.channel.messages


async def click(item, interaction):
    """Dispatch like discord.py: match the custom id, rebuild the item, check access, run its callback."""
    match = item.template.fullmatch(item.custom_id)
    assert match is not None
    rebuilt = await type(item).from_custom_id(interaction, item.item, match)
    if await rebuilt.interaction_check(interaction):
        await rebuilt.callback(interaction)


async def test_each_post_has_persistent_reroll_remix_spec_and_download_buttons(tmp_path):
    async with running_bot(tmp_path) as bot:
        message = (await posted(bot, fake_user()))[0]
        reroll, remix, spec, download = message.view.children
        assert isinstance(reroll, RerollButton) and isinstance(spec, SpecButton)
        assert isinstance(remix, RemixButton)
        assert isinstance(download, DownloadButton)
        assert message.view.timeout is None and message.view.is_persistent()


async def test_reroll_is_requester_only_and_queues_the_same_request_again(tmp_path):
    service = FakeService()
    async with running_bot(tmp_path, service) as bot:
        ada = fake_user(name="ada")
        first_post = (await posted(bot, ada))[0]
        reroll = first_post.view.children[0]

        stranger = FakeInteraction(bot, user=fake_user(name="eve"), channel=first_post.channel)
        await click(reroll, stranger)
        assert stranger.kinds == ["send_message"] and stranger.ephemeral == [NOT_YOURS]
        assert len(await bot.db.recent_requests()) == 1

        owner = FakeInteraction(bot, user=ada, channel=first_post.channel)
        await click(reroll, owner)
        assert owner.kinds[0] == "defer" and owner.events[0].data["ephemeral"]
        await bot.queue.join()
        newest, original = await bot.db.recent_requests()
        assert newest.text == original.text and newest.id != original.id and newest.status == "done"
        assert [d["n"] for d in service.draws] == [4, 4]
        assert len(first_post.channel.messages) == 4  # 2 + 2 new posts


async def test_show_spec_sends_the_node_list_as_a_file_to_the_requester_only(tmp_path):
    async with running_bot(tmp_path) as bot:
        ada = fake_user(name="ada")
        message = (await posted(bot, ada))[0]
        spec = message.view.children[2]

        stranger = FakeInteraction(bot, user=fake_user(name="eve"))
        await click(spec, stranger)
        assert stranger.ephemeral == [NOT_YOURS]

        owner = FakeInteraction(bot, user=ada)
        await click(spec, owner)
        followup = [e for e in owner.events if e.kind == "followup"][0]
        assert followup.data["ephemeral"] and followup.data["file"].filename.endswith(".txt")
        text = followup.data["file"].fp.read().decode()
        candidate = await bot.db.get_candidate((await bot.db.get_post(message.id)).candidate_id)
        assert parse(text).diagram.as_lists() == parse(candidate.model_text).diagram.as_lists()


async def test_download_sends_pptx_svg_drawio_and_mermaid_to_the_requester_only(tmp_path):
    import xml.etree.ElementTree as ElementTree

    from pptx import Presentation

    async with running_bot(tmp_path) as bot:
        ada = fake_user(name="ada")
        message = (await posted(bot, ada))[0]
        download = message.view.children[3]

        stranger = FakeInteraction(bot, user=fake_user(name="eve"))
        await click(download, stranger)
        assert stranger.ephemeral == [NOT_YOURS]

        owner = FakeInteraction(bot, user=ada)
        await click(download, owner)
        followup = [e for e in owner.events if e.kind == "followup"][0]
        assert followup.data["ephemeral"]
        pptx, svg, drawio, mermaid = followup.data["files"]
        assert [f.filename.rsplit(".", 1)[1] for f in (pptx, svg, drawio, mermaid)] == ["pptx", "svg", "drawio", "mmd"]
        candidate = await bot.db.get_candidate((await bot.db.get_post(message.id)).candidate_id)
        nodes = json.loads(candidate.nodes_json)
        slide = Presentation(pptx.fp).slides[0]
        assert sum(1 for shape in slide.shapes if shape.name.startswith("node ")) == len(nodes)
        root = ElementTree.fromstring(svg.fp.read())
        groups = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
        assert len(groups) == len(nodes)
        cells = ElementTree.fromstring(drawio.fp.read()).iter("mxCell")
        assert sum(1 for cell in cells if cell.get("vertex") == "1") == len(nodes)
        assert mermaid.fp.read().decode().startswith("flowchart")


async def test_commands_are_guild_only_with_descriptions_discord_accepts(tmp_path):
    async with running_bot(tmp_path) as bot:
        payloads = {c.name: c.to_dict(bot.tree) for c in bot.tree.get_commands()}
        assert set(payloads) == {"diagram", "admin"}
        subcommands = {o["name"]: o for o in payloads["admin"]["options"]}
        assert set(subcommands) == {"retrain", "jobs", "queue", "stats", "reload"}
        for payload in [*payloads.values(), *subcommands.values()]:
            assert payload.get("contexts", [0]) == [0]  # guilds only (set on the group)
            texts = [payload["description"], *(o["description"] for o in payload.get("options", []))]
            assert all(0 < len(text) <= 100 for text in texts)
        assert payloads["admin"]["contexts"] == [0]
        options = {o["name"]: o for o in payloads["diagram"]["options"]}
        assert options["request"]["required"] and not options["candidates"]["required"]
        choices = [c["value"] for c in subcommands["retrain"]["options"][0]["choices"]]
        assert choices == ["cnn", "ae", "all", "orpo"]


async def test_remix_answers_busy_instead_of_missing_discords_deadline_when_the_read_waits(tmp_path, monkeypatch):
    async with running_bot(tmp_path) as bot:
        ada = fake_user(name="ada")
        post = (await posted(bot, ada))[0]
        remix = post.view.children[1]
        real_get_request = bot.db.get_request

        async def slow_get_request(request_id):  # as when a retrain holds the database
            await asyncio.sleep(0.5)
            return await real_get_request(request_id)

        monkeypatch.setattr(bot.db, "get_request", slow_get_request)
        monkeypatch.setattr(views, "REMIX_READ_TIMEOUT_S", 0.05)
        owner = FakeInteraction(bot, user=ada, channel=post.channel)
        await click(remix, owner)
        assert owner.kinds == ["send_message"]
        assert owner.ephemeral == ["⏳ I am busy right now; please click again in a moment."]
