"""Korean and English for everything the bot says, chosen the way Discord tells us.

The words live in bot/locales/en.toml and ko.toml, keyed by short names (`progress.done`), with
str.format `{placeholders}`. Both catalogues are read and compared when this module is imported:
a key missing in either language, or placeholders that differ, stop the bot at start-up instead
of failing in front of a user.

Replies follow the requester's `interaction.locale` (`text(key, interaction.locale, ...)`):
Korean for discord.Locale.korean, English for every other locale. Command and option
descriptions reach Discord through discord.py's own mechanism: `locale_str` in the commands and
`Translator` installed on the tree, which fills in the Korean at sync. Command and option *names*
stay English for everyone (see bot/README.md).
"""

from __future__ import annotations

import string
import tomllib
from importlib import resources
from typing import Any

import discord
from discord import app_commands

DEFAULT = "en"
LANGUAGES = (DEFAULT, "ko")


class CatalogueError(RuntimeError):
    """bot/locales is incomplete or inconsistent: the bot must not start with it."""


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """TOML tables as dotted keys: [progress] done = ... -> "progress.done"."""
    flat = {}
    for key, value in table.items():
        name = prefix + key
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        elif isinstance(value, str):
            flat[name] = value
        else:
            raise CatalogueError(f"{name}: expected text, found {type(value).__name__}")
    return flat


def read_catalogue(language: str) -> dict[str, str]:
    """One language's catalogue (package data, so it travels with an installed bot)."""
    source = resources.files("bot").joinpath("locales", f"{language}.toml").read_text(encoding="utf-8")
    return _flatten(tomllib.loads(source))


def placeholders(template: str) -> set[str]:
    """The {names} a template fills in ({{ and }} are literal braces, not placeholders)."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def check(catalogues: dict[str, dict[str, str]]) -> None:
    """Every key in every language, with the same placeholders; CatalogueError lists what is not."""
    reference = catalogues[DEFAULT]
    problems = []
    for language, catalogue in catalogues.items():
        problems += [f"{language}.toml lacks {key}" for key in sorted(reference.keys() - catalogue.keys())]
        problems += [
            f"{language}.toml has {key}, which {DEFAULT}.toml lacks"
            for key in sorted(catalogue.keys() - reference.keys())
        ]
        problems += [
            f"{language}.toml {key} fills in {sorted(placeholders(catalogue[key]))}, "
            f"{DEFAULT}.toml {sorted(placeholders(reference[key]))}"
            for key in sorted(reference.keys() & catalogue.keys())
            if placeholders(catalogue[key]) != placeholders(reference[key])
        ]
    if problems:
        raise CatalogueError("bot/locales: " + "; ".join(problems))


def load() -> dict[str, dict[str, str]]:
    catalogues = {language: read_catalogue(language) for language in LANGUAGES}
    check(catalogues)
    return catalogues


CATALOGUES = load()


def language(locale: discord.Locale | str | None) -> str:
    """ "ko" for Korean, "en" for every other locale and for none (no interaction to ask)."""
    return "ko" if locale in (discord.Locale.korean, "ko") else DEFAULT


def text(key: str, locale: discord.Locale | str | None = None, **values: Any) -> str:
    """The catalogue entry in the locale's language, its placeholders filled in."""
    return CATALOGUES[language(locale)][key].format(**values)


def locale_of(interaction: Any) -> discord.Locale | None:
    """The user's Discord language; objects without one (test doubles) read as English."""
    return getattr(interaction, "locale", None)


class Localized(Exception):
    """An error whose message is a catalogue entry: str() is English (logs, the database),
    `text(locale)` is what the user reads."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(text(key, None, **values))
        self.key, self.values = key, values

    def text(self, locale: discord.Locale | str | None) -> str:
        return text(self.key, locale, **self.values)


def described(key: str) -> app_commands.locale_str:
    """A command or option description: English is what Discord stores, `key` finds the Korean."""
    return app_commands.locale_str(text(key), key=key)


class Translator(app_commands.Translator):
    """Gives Discord the Korean descriptions when the tree syncs (`tree.set_translator`).

    Only strings made by `described` carry a key; names and choices have none and stay as they
    are. Other locales get None, so Discord shows them the English default.
    """

    async def translate(
        self, message: app_commands.locale_str, locale: discord.Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        key = message.extras.get("key")
        if key is None or language(locale) == DEFAULT:
            return None
        return text(key, locale)
