"""The catalogues (bot/locales) and bot.i18n: both languages complete, consistent, and chosen by locale.

The wire-level behaviour (what a Korean-locale user sees) is tests/test_e2e_korean.py; here are the
checks that need no Discord: keys and placeholders, what the code asks for, Discord's limits, the
register of the Korean, the queue's texts and the restart notice.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest
from discord import app_commands
from fakes import FakeInteraction, FakeService, FixedTextsGenerator, admin_command, fake_user, running_bot

from bot import i18n
from bot.client import restart_notice
from bot.settings import BotSettings

BOT = Path(__file__).resolve().parent.parent / "bot"
KEY = re.compile(
    r"""["']((?:command|refusal|progress|failure|caption|button|error|restart|admin|retrain)\.[a-z_]+)["']"""
)


@pytest.fixture(scope="module")
def catalogues():
    return {language: i18n.read_catalogue(language) for language in i18n.LANGUAGES}


def test_english_and_korean_hold_the_same_keys_with_the_same_placeholders(catalogues):
    english, korean = catalogues["en"], catalogues["ko"]
    assert sorted(english) == sorted(korean)
    for key in english:
        assert i18n.placeholders(english[key]) == i18n.placeholders(korean[key]), key
        assert korean[key].strip(), key


@pytest.mark.parametrize(
    "damage, named",
    [
        (lambda ko: ko.pop("button.reroll"), "ko.toml lacks button.reroll"),
        (lambda ko: ko.update({"progress.done": ko["progress.done"].replace("{shown}", "{count}")}), "progress.done"),
        (lambda ko: ko.update({"button.extra": "덤"}), "button.extra, which en.toml lacks"),
    ],
)
def test_a_missing_key_or_different_placeholders_stop_loading(catalogues, damage, named):
    korean = dict(catalogues["ko"])
    damage(korean)
    with pytest.raises(i18n.CatalogueError, match=re.escape(named)):
        i18n.check({"en": catalogues["en"], "ko": korean})


def test_every_key_the_bot_asks_for_exists_and_every_entry_is_used(catalogues):
    used = {key for path in BOT.glob("*.py") for key in KEY.findall(path.read_text(encoding="utf-8"))}
    assert used - catalogues["en"].keys() == set()  # nothing would fail at runtime
    assert catalogues["en"].keys() - used == set()  # nothing is dead weight to translate


def test_korean_for_the_korean_locale_and_english_for_every_other():
    assert i18n.text("button.reroll", discord.Locale.korean) == "다시 그리기"
    others = [locale for locale in discord.Locale if locale is not discord.Locale.korean]
    assert len(others) > 25
    assert {i18n.text("button.reroll", locale) for locale in others} == {"Reroll"}
    assert i18n.text("button.reroll", None) == "Reroll"
    assert i18n.text("refusal.pending", discord.Locale.korean, limit=2) == (
        "⚠️ 이미 기다리는 요청이 2개 있어요. 하나가 끝날 때까지 기다려 주세요."
    )


def test_command_descriptions_fit_discords_limit_in_both_languages(catalogues):
    for language, catalogue in catalogues.items():
        for key, value in catalogue.items():
            if key.startswith("command."):
                assert 1 <= len(value) <= 100, (language, key, len(value))


def test_korean_is_polite_haeyo_throughout_and_keeps_the_emoji(catalogues):
    formal_or_plain = re.compile(r"(습니다|니다|한다|이다|된다)[.\s]*$")
    for key, korean in catalogues["ko"].items():
        for sentence in re.split(r"(?<=[.!?])\s+", korean):
            assert not formal_or_plain.search(sentence), (key, sentence)
        english = catalogues["en"][key]
        leading = re.match(r"[^\w\s*`#{(]*", english).group()
        assert korean.startswith(leading), key  # ⏳ ✅ ❌ ⚠️ ⛔ 🔧 as in English


async def test_the_translator_gives_korean_descriptions_only_for_korean_and_leaves_names_alone():
    translator = i18n.Translator()
    context = app_commands.TranslationContext(app_commands.TranslationContextLocation.command_description, None)
    described = i18n.described("command.diagram")
    assert described.message.startswith("Draw a diagram")  # English is the default Discord stores
    assert (await translator.translate(described, discord.Locale.korean, context)).startswith("문장으로")
    assert await translator.translate(described, discord.Locale.japanese, context) is None
    name = app_commands.TranslationContext(app_commands.TranslationContextLocation.command_name, None)
    assert await translator.translate(app_commands.locale_str("diagram"), discord.Locale.korean, name) is None


def test_the_restart_notice_says_it_in_english_and_in_korean():
    cut_off = [SimpleNamespace(id=number, user_id=7) for number in range(1, 13)]
    lines = restart_notice(cut_off).splitlines()
    assert lines[0] == (
        "<@7> ❌ Request #1 was not finished: the bot restarted before this request finished. "
        "Please send it again. / 요청 #1: 봇이 다시 시작되어 끝내지 못했어요. 다시 보내 주세요."
    )
    assert len(lines) == 11
    assert lines[-1] == ("… and 2 more request(s) in this channel. / … 이 채널에 끝내지 못한 요청이 2개 더 있어요.")


async def test_queue_places_and_the_pending_limit_reach_a_korean_user_in_korean(tmp_path):
    gate = threading.Event()
    service = FakeService(FixedTextsGenerator(gate=gate))
    async with running_bot(tmp_path, service) as bot:

        def korean(user):
            interaction = FakeInteraction(bot, user=user)
            interaction.locale = discord.Locale.korean
            return interaction

        ada, minji = fake_user(name="ada"), fake_user(name="minji")
        command = bot.tree.get_command("diagram").callback
        await command(FakeInteraction(bot, user=ada), request="a model")  # runs, held at the gate
        waiting = [korean(minji), korean(minji)]
        for interaction in waiting:
            await command(interaction, request="모델")
        refused = korean(minji)
        await command(refused, request="모델")
        assert [i.texts("edit")[0] for i in waiting] == [
            "⏳ 요청 #2: 대기열 1번째예요 (앞에 요청 1개). 다이어그램은 이 채널에 올라와요.",
            "⏳ 요청 #3: 대기열 2번째예요 (앞에 요청 2개). 다이어그램은 이 채널에 올라와요.",
        ]
        assert refused.ephemeral == ["⚠️ 이미 기다리는 요청이 2개 있어요. 하나가 끝날 때까지 기다려 주세요."]
        gate.set()
        await bot.queue.join()
        assert waiting[0].last_text.startswith("✅ 요청 #2: 후보 4개")
        assert [m.content.split(" · ")[1] for m in waiting[0].channel.messages] == ["요청 #2"] * 3


async def test_admin_answers_follow_the_admins_locale(tmp_path):
    admin = fake_user(name="admin")
    async with running_bot(tmp_path, bot_settings=BotSettings(admin_user_ids=[admin.id], workers=2)) as bot:

        async def answer(name, locale):
            interaction = FakeInteraction(bot, user=admin)
            if locale is not None:
                interaction.locale = locale
            await admin_command(bot, name, interaction)
            return [text for text in interaction.ephemeral if text]  # not the empty private defer

        assert await answer("queue", discord.Locale.korean) == ["실행 중 0개, 대기 중 0개 (워커 2개)"]
        assert await answer("queue", discord.Locale.british_english) == ["0 running, 0 waiting (2 workers)"]
        assert await answer("jobs", discord.Locale.korean) == ["아직 실행된 작업이 없어요."]
        assert await answer("jobs", None) == ["No jobs have run yet."]
