"""The buttons under each posted diagram: Reroll, Remix, Show spec and Download, for the requester only.

They are `DynamicItem`s: everything a click needs (request, requester, candidate, sizes) is in
the custom id, so they keep working after a restart without any in-memory view. The client
registers them with `add_dynamic_items(RerollButton, RemixButton, SpecButton, DownloadButton)`.
Labels are set once, when the diagram is posted, in the requester's language; a click is answered
in the clicker's language (`interaction.locale`).
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from typing import Any

import discord

from bot import i18n
from bot.context import context_of
from bot.intake import tell
from ml import reading as ml_reading
from ml.diagram import Diagram
from ml.drawio import drawio_text
from ml.export import pptx_bytes, svg_text
from ml.mermaid import mermaid_text
from ml.parser import serialize

REMIX_READ_TIMEOUT_S = 2.0  # reading the request before the Remix form: Discord allows 3 s in all
REMIX_FORM_TIMEOUT_S = 900  # a Remix form left open this long is forgotten (15 min)


def _button(key: str, emoji: str, custom_id: str, locale) -> discord.ui.Button:
    return discord.ui.Button(
        label=i18n.text(key, locale), emoji=emoji, style=discord.ButtonStyle.secondary, custom_id=custom_id
    )


class RequesterOnly:
    """A button only its requester (`self.user_id`) may use: discord.py runs this check before the
    callback, and a stranger is told privately, with nothing drawn or stored."""

    user_id: int

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.user.id == self.user_id:
            return True
        await interaction.response.send_message(
            i18n.text("button.not_yours", i18n.locale_of(interaction)), ephemeral=True
        )
        return False


async def _stored_candidate(interaction: discord.Interaction, candidate_id: int):
    """The stored candidate behind a file button, after a private defer; else None (the user is told)."""
    await interaction.response.defer(ephemeral=True, thinking=True)
    candidate = await context_of(interaction).db.get_candidate(candidate_id)
    if candidate is None:
        await tell(interaction, i18n.text("button.no_diagram", i18n.locale_of(interaction)))
    return candidate


class RerollButton(
    RequesterOnly,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"diagram:reroll:(?P<request>\d+):(?P<user>\d+):(?P<n>\d+):(?P<top>\d+)",
):
    """Same request, new samples: queued again like a fresh /diagram."""

    def __init__(self, request_id: int, user_id: int, n: int, top: int, locale=None) -> None:
        super().__init__(_button("button.reroll", "🎲", f"diagram:reroll:{request_id}:{user_id}:{n}:{top}", locale))
        self.request_id, self.user_id, self.n, self.top = request_id, user_id, n, top

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RerollButton:
        return cls(int(match["request"]), int(match["user"]), int(match["n"]), int(match["top"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        context = context_of(interaction)
        request = await context.db.get_request(self.request_id)
        if request is None:
            await tell(interaction, i18n.text("button.no_request", i18n.locale_of(interaction)))
            return
        await context.intake.submit(interaction, request.text, self.n, self.top, ephemeral=True)


class RemixForm(discord.ui.Modal):
    """The old request in an editable box; submitting queues the edited text like a fresh /diagram."""

    def __init__(self, text: str, max_chars: int, request_id: int, n: int, top: int, locale=None) -> None:
        # Discord never says when a user closes a form unsent: the timeout frees it (REMIX_FORM_TIMEOUT_S).
        super().__init__(title=i18n.text("button.remix_title", locale), timeout=REMIX_FORM_TIMEOUT_S)
        self.request_id, self.n, self.top = request_id, n, top
        self.request: discord.ui.TextInput[RemixForm] = discord.ui.TextInput(
            label=i18n.text("button.remix_request", locale),
            style=discord.TextStyle.paragraph,
            default=text[:max_chars],
            max_length=max_chars,
            custom_id="remix:request",
        )
        self.add_item(self.request)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await context_of(interaction).intake.submit(
            interaction, self.request.value, self.n, self.top, remix_of=self.request_id
        )


class RemixButton(
    RequesterOnly,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"diagram:remix:(?P<request>\d+):(?P<user>\d+):(?P<n>\d+):(?P<top>\d+)",
):
    """Edit the request and draw again: the new request is stored as a remix of this one."""

    def __init__(self, request_id: int, user_id: int, n: int, top: int, locale=None) -> None:
        super().__init__(_button("button.remix", "✏️", f"diagram:remix:{request_id}:{user_id}:{n}:{top}", locale))
        self.request_id, self.user_id, self.n, self.top = request_id, user_id, n, top

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> RemixButton:
        return cls(int(match["request"]), int(match["user"]), int(match["n"]), int(match["top"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        context = context_of(interaction)
        locale = i18n.locale_of(interaction)
        # A modal must be the interaction's first answer, within Discord's 3 s, so nothing is
        # deferred before it; the read waits behind any write holding the database, hence the cap.
        try:
            request = await asyncio.wait_for(context.db.get_request(self.request_id), REMIX_READ_TIMEOUT_S)
        except TimeoutError:
            await interaction.response.send_message(i18n.text("button.busy", locale), ephemeral=True)
            return
        if request is None:
            await interaction.response.send_message(i18n.text("button.no_request", locale), ephemeral=True)
            return
        await interaction.response.send_modal(
            RemixForm(request.text, context.settings.max_request_chars, self.request_id, self.n, self.top, locale)
        )


def _reading_text(model_text: str, diagram: Diagram, locale) -> str:
    """What the request was understood as, in words, then how to correct it ("" when unknown)."""
    reading = ml_reading.read(model_text, diagram)
    if reading is None:
        return ""
    arrow = " → "
    if reading.family == "flowchart":
        edges = ", ".join(f"{a}{arrow}{b}" for a, b in reading.edges) or "-"
        line = i18n.text(
            "button.reading_flowchart", locale, count=len(reading.items), items=", ".join(reading.items), edges=edges
        )
    else:
        key = "button.reading_dense" if reading.family == "dense" else "button.reading_cnn"
        line = i18n.text(key, locale, items=arrow.join(reading.items))
    return f"{line}\n{i18n.text('button.reading_fix', locale)}\n"


class SpecButton(
    RequesterOnly, discord.ui.DynamicItem[discord.ui.Button], template=r"diagram:spec:(?P<candidate>\d+):(?P<user>\d+)"
):
    """The diagram's node list as a text file (to edit, or to feed `diagrambot render`)."""

    def __init__(self, candidate_id: int, user_id: int, locale=None) -> None:
        super().__init__(_button("button.spec", "📄", f"diagram:spec:{candidate_id}:{user_id}", locale))
        self.candidate_id, self.user_id = candidate_id, user_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SpecButton:
        return cls(int(match["candidate"]), int(match["user"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        candidate = await _stored_candidate(interaction, self.candidate_id)
        if candidate is None:
            return
        diagram = Diagram.from_lists(json.loads(candidate.nodes_json))
        locale = i18n.locale_of(interaction)
        sent = i18n.text("button.spec_sent", locale, rank=candidate.rank, request=candidate.request_id)
        await interaction.followup.send(
            _reading_text(candidate.model_text, diagram, locale) + sent,
            file=discord.File(io.BytesIO(serialize(diagram).encode()), filename=f"diagram-{candidate.id}.txt"),
            ephemeral=True,
        )


class DownloadButton(
    RequesterOnly,
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"diagram:download:(?P<candidate>\d+):(?P<user>\d+)",
):
    """The diagram to edit elsewhere: a PowerPoint slide (native shapes, glued connectors), SVG,
    a draw.io file and Mermaid text, all at once (one click, whichever tool the user has)."""

    def __init__(self, candidate_id: int, user_id: int, locale=None) -> None:
        super().__init__(_button("button.download", "📥", f"diagram:download:{candidate_id}:{user_id}", locale))
        self.candidate_id, self.user_id = candidate_id, user_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> DownloadButton:
        return cls(int(match["candidate"]), int(match["user"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        candidate = await _stored_candidate(interaction, self.candidate_id)
        if candidate is None:
            return
        diagram = Diagram.from_lists(json.loads(candidate.nodes_json))
        pptx, svg, drawio, mermaid = await asyncio.to_thread(  # CPU work, off the loop
            lambda: (pptx_bytes(diagram), svg_text(diagram), drawio_text(diagram), mermaid_text(diagram))
        )
        name = f"diagram-{candidate.id}"
        await interaction.followup.send(
            i18n.text(
                "button.download_sent", i18n.locale_of(interaction), rank=candidate.rank, request=candidate.request_id
            ),
            files=[
                discord.File(io.BytesIO(pptx), filename=f"{name}.pptx"),
                discord.File(io.BytesIO(svg.encode()), filename=f"{name}.svg"),
                discord.File(io.BytesIO(drawio.encode()), filename=f"{name}.drawio"),
                discord.File(io.BytesIO(mermaid.encode()), filename=f"{name}.mmd"),
            ],
            ephemeral=True,
        )


def diagram_view(request_id: int, user_id: int, candidate_id: int, n: int, top: int, locale=None) -> discord.ui.View:
    """The buttons for one posted diagram (persistent: no timeout, state in the custom ids),
    labelled in the requester's language."""
    view = discord.ui.View(timeout=None)
    view.add_item(RerollButton(request_id, user_id, n, top, locale))
    view.add_item(RemixButton(request_id, user_id, n, top, locale))
    view.add_item(SpecButton(candidate_id, user_id, locale))
    view.add_item(DownloadButton(candidate_id, user_id, locale))
    return view
