"""Korean and English on the wire: the same bot speaks each requester's language (SimCord).

Discord sends every interaction with the user's client language (`interaction.locale`); the
harness's `Wire.join(name, locale)` adds a member whose interactions carry one. A Korean-locale
user and English-locale users drive the unmodified bot through the synced tree, the posted
buttons and reactions; the synced commands are read back for their Korean descriptions.

`test_screens_*` also records what a user sees, step by step, as JSON in $DIAGRAMBOT_SCREENS_DIR
(or the test's tmp_path); `tests/screens.py` turns that into docs/screens-en.md and -ko.md.
"""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path

import pytest
from e2e_support import REQUEST, answers, custom_ids, files, interaction_callbacks, original_edits, simulated_bot
from fakes import FakeService, FixedTextsGenerator

from bot.admin import Refused
from bot.settings import DEFAULT_RATING_EMOJIS

ONE, TWO, THREE, FOUR, FIVE = DEFAULT_RATING_EMOJIS
ANSWERED, DEFERRED = 4, 5  # interaction callback types (Discord API)
ADMIN_COMMANDS = ["admin retrain", "admin jobs", "admin queue", "admin stats", "admin reload"]
REQUEST_KO = "입력 노드 2개, 은닉 노드 3개, 출력 노드 1개인 딥러닝 모델"
KOREAN_BUTTONS = ["다시 그리기", "고쳐서 그리기", "노드 목록 보기", "다운로드"]
ENGLISH_BUTTONS = ["Reroll", "Remix", "Show spec", "Download"]
SCREENS_DIR = "DIAGRAMBOT_SCREENS_DIR"
TEXT_FILES = (".txt", ".mmd")  # files whose text the screens show (the node list, the Mermaid chart)

pytestmark = pytest.mark.usefixtures("simcord_env")  # SimCord's clock for the test, transcript on failure


@pytest.fixture
def service():
    return FakeService()


@pytest.fixture
async def wire(tmp_path, service):
    async with simulated_bot(tmp_path, service) as wire:
        yield wire


@pytest.fixture
def simcord_env(wire):
    return wire.env


@pytest.fixture
def minji(wire):
    """A member whose Discord is set to Korean."""
    return wire.join("minji", "ko")


def labels(message) -> list[str]:
    return [child.label for row in message.components for child in row.children]


async def candidate_of(wire, message):
    return await wire.bot.db.get_candidate(await wire.bot.db.candidate_for_message(message.id))


# ---------------------------------------------------------------------------------- /diagram


async def test_a_korean_user_gets_korean_progress_captions_and_buttons_and_her_rating_counts(wire, minji):
    mark = wire.mark()
    result = await wire.diagram(minji, request=REQUEST_KO, candidates=4, top=2)
    calls = wire.calls_since(mark)

    assert interaction_callbacks(calls) == [(DEFERRED, False, None)]
    assert original_edits(calls) == [
        "⏳ 요청 #1: 바로 다음 차례예요. 다이어그램은 이 채널에 올라와요.",
        "🧠 요청 #1: 후보 4개를 만드는 중…",
        "📐 요청 #1: 후보를 읽고 그려서 점수를 매기는 중…",
        "✅ 요청 #1: 후보 4개(읽을 수 있는 것 3개) 중 가장 좋은 2개를 아래에 올렸어요. "
        "1️⃣…5️⃣ 반응으로 각각 평가해 주세요. 평가는 다음 결과에 반영돼요.",
    ]
    assert result.response.content.startswith("✅ 요청 #1")
    assert wire.service.draws[0]["request"] == REQUEST_KO

    posts = wire.posts()
    assert len(posts) == 2
    for rank, message in enumerate(posts, start=1):
        candidate = await candidate_of(wire, message)
        assert message.content.startswith(
            f"**#{rank}** / 4 · 요청 #1 · 점수 **{candidate.final_score:.2f}**/5 (가독성 "
        )
        assert labels(message) == KOREAN_BUTTONS
        assert list(custom_ids(message).values()) == [  # the state in the ids has no language
            f"diagram:reroll:1:{minji.id}:4:2",
            f"diagram:remix:1:{minji.id}:4:2",
            f"diagram:spec:{candidate.id}:{minji.id}",
            f"diagram:download:{candidate.id}:{minji.id}",
        ]
        assert [str(r.emoji) for r in message.reactions] == DEFAULT_RATING_EMOJIS

    await minji.react(posts[0], FOUR)
    assert await wire.rating(minji, posts[0]) == 4


@pytest.mark.parametrize("locale", ["en-US", "en-GB", "ja", "de"])
async def test_every_other_locale_gets_the_same_flow_in_english(wire, locale):
    user = wire.join("kim", locale)
    mark = wire.mark()
    await wire.diagram(user, candidates=4, top=2)

    assert original_edits(wire.calls_since(mark)) == [
        "⏳ Request #1 is next; the diagrams will be posted in this channel.",
        "🧠 Request #1: generating 4 candidates…",
        "📐 Request #1: reading, drawing and scoring the candidates…",
        "✅ Request #1: the best 2 of 4 candidates (3 readable) are below. "
        "Rate each with 1️⃣…5️⃣: your ratings shape your next results.",
    ]
    for rank, message in enumerate(wire.posts(), start=1):
        assert message.content.startswith(f"**#{rank}** of 4 · request #1 · score **")
        assert "(readability " in message.content
        assert labels(message) == ENGLISH_BUTTONS


async def test_in_one_channel_each_requester_gets_posts_in_their_own_language_and_clicks_are_answered_in_the_clickers(
    wire, minji
):
    english = await wire.diagram(wire.ada, top=1)
    korean = await wire.diagram(minji, request=REQUEST_KO, top=1)
    ada_post, minji_post = wire.posts()
    assert english.response.content.startswith("✅ Request #1")
    assert korean.response.content.startswith("✅ 요청 #2")
    assert labels(ada_post) == ENGLISH_BUTTONS and ada_post.content.startswith("**#1** of 4 · request #1")
    assert labels(minji_post) == KOREAN_BUTTONS and minji_post.content.startswith("**#1** / 4 · 요청 #2")

    refused = await minji.click(ada_post, label="Download")  # not hers: refused in Korean
    assert [a.content for a in answers(refused)] == ["이 다이어그램을 요청한 분만 버튼을 쓸 수 있어요."]
    refused = await wire.ada.click(minji_post, label="다운로드")  # not hers: refused in English
    assert [a.content for a in answers(refused)] == ["Only the person who asked for this diagram can use its buttons."]
    assert len(await wire.bot.db.recent_requests()) == 2 and len(wire.posts()) == 2


# ---------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "request_text, options, refusal",
    [
        (" \n  ", {}, "⚠️ 요청이 비어 있어요. 그릴 모델이나 과정을 설명해 주세요."),
        (REQUEST_KO, {"candidates": 2, "top": 3}, "⚠️ top은 1에서 2 사이여야 해요 (candidates보다 클 수 없어요)."),
    ],
)
async def test_a_korean_user_is_refused_privately_in_korean(wire, minji, request_text, options, refusal):
    mark = wire.mark()
    await wire.diagram(minji, request=request_text, **options)
    assert interaction_callbacks(wire.calls_since(mark)) == [(ANSWERED, True, refusal)]
    assert await wire.bot.db.recent_requests() == [] and wire.service.draws == []


async def test_a_full_queue_refuses_a_korean_user_in_korean_and_an_english_user_in_english(wire, minji):
    wire.bot.queue.queue_limit = 0
    korean = await wire.diagram(minji, request=REQUEST_KO)
    english = await wire.diagram(wire.ada)
    assert (
        korean.ephemeral and korean.response.content == "⚠️ 지금은 대기열이 가득 찼어요. 몇 분 뒤에 다시 시도해 주세요."
    )
    assert english.ephemeral and english.response.content == (
        "⚠️ the queue is full right now; please try again in a few minutes"
    )
    assert await wire.bot.db.recent_requests() == []


@pytest.mark.parametrize("name", ADMIN_COMMANDS)
async def test_admin_commands_refuse_a_korean_member_in_korean(wire, minji, name):
    result = await minji.slash(wire.channel, name)
    assert result.ephemeral and result.response.content == "⛔ 이 명령은 봇 소유자와 이 서버의 관리자만 쓸 수 있어요."
    assert [type(error) for error in wire.env.errors] == [Refused]  # the /admin check said no


@pytest.mark.parametrize("service", [FakeService(FixedTextsGenerator(["I cannot draw.", "[1, 2"]))])
async def test_a_request_that_fails_in_the_queue_is_reported_in_the_requesters_language(wire, minji):
    result = await wire.diagram(minji, request=REQUEST_KO)
    assert result.response.content == (
        "❌ 요청 #1 실패: 모델이 쓴 답 4개 중 다이어그램으로 읽을 수 있는 것이 없었어요. 요청을 다르게 표현해 보세요"
    )
    [request] = await wire.bot.db.recent_requests()  # the log and the database stay English
    assert request.status == "failed" and request.error.startswith("none of the 4 answers")
    assert wire.posts() == []


# ---------------------------------------------------------------------------------- buttons


async def test_download_gives_a_korean_user_pptx_svg_drawio_and_mermaid_with_a_korean_note(wire, minji):
    await wire.diagram(minji, request=REQUEST_KO, candidates=4, top=2)
    message = wire.posts()[0]
    candidate = await candidate_of(wire, message)
    result = await minji.click(message, label="다운로드")

    [answer] = answers(result)
    assert answer.ephemeral
    assert answer.content == "편집용 다이어그램 #1 (요청 #1): PowerPoint, SVG, draw.io, Mermaid 파일이에요."
    uploaded = await files(answer)
    name = f"diagram-{candidate.id}"
    assert list(uploaded) == [f"{name}.pptx", f"{name}.svg", f"{name}.drawio", f"{name}.mmd"]
    nodes = json.loads(candidate.nodes_json)
    with zipfile.ZipFile(io.BytesIO(uploaded[f"{name}.pptx"])) as pptx:
        assert "ppt/slides/slide1.xml" in pptx.namelist()
    assert uploaded[f"{name}.svg"].lstrip().startswith(b"<svg")
    drawio = ElementTree.fromstring(uploaded[f"{name}.drawio"])
    assert drawio.tag == "mxfile"
    assert sum(cell.get("vertex") == "1" for cell in drawio.iter("mxCell")) == len(nodes)
    assert uploaded[f"{name}.mmd"].decode().startswith("flowchart")
    assert all(m.id != answer.id for m in wire.channel.history(viewer=wire.bob))


async def test_show_spec_and_remix_speak_korean_and_the_remix_is_posted_in_korean(wire, minji):
    await wire.diagram(minji, request=REQUEST_KO, candidates=4, top=2)
    first, second = wire.posts()

    [spec] = answers(await minji.click(second, label="노드 목록 보기"))
    assert spec.ephemeral and spec.content == "다이어그램 #2의 노드 목록이에요 (요청 #1):"
    assert [a.filename for a in spec.attachments] == [f"diagram-{(await candidate_of(wire, second)).id}.txt"]

    shown = await minji.click(first, label="고쳐서 그리기")
    assert shown.modal["title"] == "요청을 고쳐서 다시 그리기"
    [text_input] = [c for row in shown.modal["components"] for c in row["components"]]
    assert (text_input["label"], text_input["value"]) == ("요청", REQUEST_KO)
    edited = REQUEST_KO.replace("은닉 노드 3개", "은닉 노드 5개")
    result = await minji.submit_modal(shown, {"remix:request": edited})
    assert result.response.content.startswith("✅ 요청 #2: 후보 4개")
    remixed = wire.posts()[2:]
    assert [m.content.split(" · ")[:2] for m in remixed] == [["**#1** / 4", "요청 #2"], ["**#2** / 4", "요청 #2"]]
    assert all(labels(m) == KOREAN_BUTTONS for m in remixed)


# ---------------------------------------------------------------------------------- commands


async def test_synced_commands_carry_korean_descriptions_and_keep_english_names(wire):
    diagram = await wire.synced("diagram")
    assert diagram["description_localizations"] == {
        "ko": "문장으로 설명한 ML 모델이나 과정을 다이어그램으로 그려요. 결과는 반응으로 평가해 주세요."
    }
    options = {o["name"]: o for o in diagram["options"]}
    assert list(options) == ["request", "candidates", "top"]
    assert options["request"]["description_localizations"] == {
        "ko": "그릴 내용. 예: '입력 노드 2개, 은닉 노드 3개, 출력 노드 1개인 딥러닝 모델'"
    }
    assert options["request"]["max_length"] == 120  # the bounds survive translation

    for name in ["diagram", "admin"]:
        command = await wire.synced(name)
        subcommands = [o for o in command["options"] if o["type"] == 1]  # 1 = SUB_COMMAND
        described = [command, *command["options"], *(o for s in subcommands for o in s.get("options", []))]
        for part in described:
            korean = part["description_localizations"]
            assert list(korean) == ["ko"] and 0 < len(korean["ko"]) <= 100, (name, part["name"])
            assert korean["ko"] != part["description"]  # English stays the default
            assert not part.get("name_localizations")  # names: English for everyone


async def test_a_korean_user_runs_the_command_by_its_english_name(wire, minji):
    assert "diagram" in minji.available_commands(wire.channel)
    result = await wire.diagram(minji, request=REQUEST_KO, top=1)
    assert result.response.content.startswith("✅ 요청 #1") and len(wire.posts()) == 1


# ---------------------------------------------------------------------------------- screens


def message_screen(message) -> dict:
    """What a user sees of one message: text, files, buttons (emoji and label), reactions."""
    return {
        "text": message.content,
        "files": [a.filename for a in message.attachments],
        "buttons": [f"{child.emoji} {child.label}" for row in message.components for child in row.children],
        "reactions": [str(r.emoji) for r in message.reactions],
        "ephemeral": message.flags.ephemeral,
    }


def has_hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


def bot_texts(steps: list[dict]) -> list[str]:
    """Everything the bot wrote in a recorded flow (not what the users typed)."""
    found = []
    for record in steps:
        found += record.get("answer", {}).get("texts", [])
        for message in record.get("messages", []) + record.get("posts", []):
            found += [message["text"], *message["buttons"]]
        if "form" in record:
            found += [record["form"]["title"], *(f["label"] for f in record["form"]["fields"])]
    return found


class Recorder:
    """Runs user actions on the wire and records what came back: the answer (and its edits),
    private messages, a form, new posts in the channel."""

    def __init__(self, wire) -> None:
        self.wire = wire
        self.steps: list[dict] = []

    async def __call__(self, action: dict, act):
        wire = self.wire
        mark, seen = wire.mark(), len(wire.posts())
        result = await act()
        calls = wire.calls_since(mark)
        record = dict(action)
        callbacks = interaction_callbacks(calls)
        if callbacks:
            kind, ephemeral, _ = callbacks[0]
            response = result.response  # its latest state: the last edit, or the first followup
            texts = original_edits(calls) if kind == DEFERRED else []
            if response is not None and texts[-1:] != [response.content]:
                texts.append(response.content)
            uploaded = await files(response) if response is not None else {}
            record["answer"] = {
                "deferred": kind == DEFERRED,
                "ephemeral": ephemeral,
                "texts": texts,
                "files": list(uploaded),
                "file_texts": {name: data.decode() for name, data in uploaded.items() if name.endswith(TEXT_FILES)},
            }
            record["messages"] = [message_screen(m.message) for m in result.followups]
            if result.modal is not None:
                record["form"] = {
                    "title": result.modal["title"],
                    "fields": [
                        {"label": c["label"], "value": c.get("value", "")}
                        for row in result.modal["components"]
                        for c in row["components"]
                    ],
                }
        record["posts"] = [message_screen(m) for m in wire.posts()[seen:]]
        self.steps.append(record)
        return result


@pytest.mark.parametrize(
    "language, locale, names, request_text",
    [("en", "en-US", ("ada", "bob"), REQUEST), ("ko", "ko", ("minji", "jun"), REQUEST_KO)],
)
async def test_screens_record_the_diagram_flow_the_same_way_in_each_language(
    wire, tmp_path, language, locale, names, request_text
):
    name, other = names
    user, stranger = wire.join(name, locale), wire.join(other, locale)
    diagram = await wire.synced("diagram")

    def said(part):
        return part.get("description_localizations", {}).get(language, part["description"])

    picker = {
        "command": "diagram",
        "description": said(diagram),
        "options": [
            {"name": o["name"], "description": said(o), "required": o.get("required", False)}
            for o in diagram["options"]
        ],
    }
    record = Recorder(wire)
    await record(
        {
            "who": name,
            "does": "slash",
            "command": "diagram",
            "options": {"request": request_text, "candidates": 4, "top": 2},
        },
        lambda: wire.diagram(user, request=request_text, candidates=4, top=2),
    )
    first = wire.posts()[0]
    button = dict(zip(ENGLISH_BUTTONS, labels(first)))  # English name -> label as posted
    shown_as = dict(zip(ENGLISH_BUTTONS, message_screen(first)["buttons"]))  # with its emoji
    await record({"who": name, "does": "react", "emoji": FOUR, "post": 1}, lambda: user.react(first, FOUR))
    record.steps[-1]["rating"] = await wire.rating(user, first)
    for clicked in ("Show spec", "Download"):
        await record(
            {"who": name, "does": "click", "button": shown_as[clicked], "post": 1},
            lambda clicked=clicked: user.click(first, label=button[clicked]),
        )
    shown = await record(
        {"who": name, "does": "click", "button": shown_as["Remix"], "post": 1},
        lambda: user.click(first, label=button["Remix"]),
    )
    edited = request_text.replace("3", "5")
    await record(
        {"who": name, "does": "submit", "title": shown.modal["title"], "values": {"request": edited}},
        lambda: user.submit_modal(shown, {"remix:request": edited}),
    )
    await record(
        {"who": other, "does": "click", "button": shown_as["Reroll"], "post": 1},
        lambda: stranger.click(first, label=button["Reroll"]),
    )
    await record(
        {"who": name, "does": "slash", "command": "diagram", "options": {"request": " "}},
        lambda: wire.diagram(user, request=" "),
    )
    steps = record.steps

    # The same flow whatever the language: same steps, same shape of answers, posts and files.
    assert [len(s["posts"]) for s in steps] == [2, 0, 0, 0, 0, 2, 0, 0]
    assert [len(s.get("answer", {}).get("texts", [])) for s in steps] == [4, 0, 1, 1, 0, 4, 1, 1]
    assert steps[1]["rating"] == 4 and "form" in steps[4]
    assert [f.rsplit(".", 1)[1] for f in steps[2]["answer"]["files"]] == ["txt"]
    assert [f.rsplit(".", 1)[1] for f in steps[3]["answer"]["files"]] == ["pptx", "svg", "drawio", "mmd"]
    assert steps[3]["answer"]["file_texts"]["diagram-1.mmd"].startswith("flowchart")
    assert all(s["answer"]["ephemeral"] for s in steps[2:4] + steps[6:])
    assert not steps[0]["answer"]["ephemeral"] and not steps[5]["answer"]["ephemeral"]
    assert all(has_hangul(text) == (language == "ko") for text in bot_texts(steps)), bot_texts(steps)
    assert has_hangul(picker["description"]) == (language == "ko")

    folder = Path(os.environ.get(SCREENS_DIR) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    transcript = {
        "language": language,
        "locale": locale,
        "channel": wire.channel.name,
        "picker": picker,
        "steps": steps,
    }
    (folder / f"screens-{language}.json").write_text(
        json.dumps(transcript, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
