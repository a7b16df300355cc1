"""config.toml (tomllib) into typed settings; every key is documented in config.example.toml.

Every value is checked when it is loaded, against its dataclass field's type and the bounds in
BOUNDS, so a mistake is one clear line naming the table and key, not a traceback later on.
Unknown keys and tables are errors, not silently ignored: a typo in a setting should not go unnoticed.
Secrets (the bot token) never live here in the tracked example; they come from the environment.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from bot.settings import BotSettings
from ml.errors import UserError
from ml.generator import GeneratorSettings
from ml.prompt import MAX_REQUEST_CHARS
from ml.scoring.settings import ScoringSettings
from ml.settings import PipelineSettings
from storage.settings import StorageSettings
from training.settings import ScheduleSettings

MAX_CONFIG_BYTES = 1024 * 1024
# Inclusive bounds of the numeric settings, by "table.key".
BOUNDS: dict[str, tuple[float, float]] = {
    "generator.threads": (0, 1024),
    "generator.timeout_s": (1, 3600),
    "generator.sampling.temperature": (0, 5),
    "generator.sampling.top_p": (0, 1),
    "generator.sampling.max_new_tokens": (1, 8192),
    "generator.sampling.grammar_top_k": (1, 1024),
    "generator.sampling.plans": (0, 64),
    "generator.sampling.unplanned": (0, 64),
    "scoring.readability_weight": (0, 100),
    "scoring.user_weight": (0, 100),
    "scoring.k": (1, 100),
    "scoring.min_ratings": (1, 1000),
    "scoring.personal_alpha": (0, 1000),
    "scoring.explore_margin": (0, 5),
    "scoring.explore_weight": (0, 100),
    "pipeline.candidates": (1, 256),
    "pipeline.top": (1, 256),
    "pipeline.max_candidates": (1, 256),
    "bot.dev_guild_id": (0, 2**64 - 1),
    "bot.max_request_chars": (1, MAX_REQUEST_CHARS),
    "bot.per_user_pending_limit": (1, 100),
    "bot.queue_limit": (1, 10_000),
    "bot.workers": (1, 64),
    "schedule.timeout_s": (1, 7 * 24 * 3600),
}


@dataclass
class Settings:
    """The whole config.toml: one typed section per table, each defined beside the code it configures."""

    generator: GeneratorSettings = field(default_factory=GeneratorSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    scoring: ScoringSettings = field(default_factory=ScoringSettings)
    bot: BotSettings = field(default_factory=BotSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)


TABLES = tuple(f.name for f in dataclasses.fields(Settings))


_KINDS = {
    bool: ("true or false", "booleans"),
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
}


def _fits(value, kind: type) -> bool:
    """Whether a TOML value is of a field's type: no bool for an int, a finite number for a float."""
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return (_fits(value, int) and abs(value) <= 2**53) or (isinstance(value, float) and math.isfinite(value))
    return isinstance(value, kind)


def _show(value) -> str:
    """A value as one short line (TOML-like, control characters escaped)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _checked(value, hint, where: str, name: str, secret: bool):
    """The value, if it has the field's type and lies within BOUNDS; else a UserError saying what is wrong."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None: TOML has no null
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is list:
        item = typing.get_args(hint)[0]
        ok = isinstance(value, list) and all(_fits(v, item) for v in value)
        expected = f"a list of {_KINDS[item][1]}"
    else:
        item = hint
        ok = _fits(value, hint)
        expected = _KINDS[hint][0]
    got = "a value of another type" if secret else _show(value)
    if not ok:
        raise UserError(f"config: [{where}] {name} must be {expected}, got {got}")
    low, high = BOUNDS.get(f"{where}.{name}", (None, None))
    if low is not None and not low <= value <= high:
        raise UserError(f"config: [{where}] {name} must be between {low} and {high}, got {got}")
    if item is float:
        return [float(v) for v in value] if isinstance(value, list) else float(value)
    return value


def _build(cls, values: dict, where: str):
    """One section's dataclass from its TOML table, every value checked against the field's type."""
    if not isinstance(values, dict):
        raise UserError(f"config: [{where}] must be a table, got {_show(values)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(values) - set(fields)
    if unknown:
        raise UserError(f"config: unknown key(s) in [{where}]: {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{where}.{name}" if where else name)
        else:
            kwargs[name] = _checked(value, hint, where, name, secret=not fields[name].repr)
    return cls(**kwargs)


def _read(path: Path) -> dict:
    """The TOML tables of a config file of at most MAX_CONFIG_BYTES, or a UserError saying why not."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise UserError(f"config file {path} not found (copy config.example.toml to start one)") from None
    except OSError as error:
        raise UserError(f"config file {path}: cannot read it ({error.strerror or error})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise UserError(f"config file {path} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise UserError(f"config file {path}: not UTF-8 text (byte {error.start})") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"config file {path}: {error}") from None
    except RecursionError:
        raise UserError(f"config file {path}: values are nested too deeply") from None


def load(path: str | Path | None) -> Settings:
    """Settings from a TOML file, every table built and checked now; None gives the built-in defaults."""
    if path is None:
        return Settings()
    path = Path(path)
    data = _read(path)
    unknown = set(data) - set(TABLES)
    if unknown:
        raise UserError(
            f"config: unknown table(s) {', '.join(f'[{t}]' for t in sorted(unknown))} (known: {', '.join(TABLES)})"
        )
    settings = _build(Settings, data, "")  # the root: each table is one section
    if settings.scoring.readability_weight + settings.scoring.user_weight == 0:
        raise UserError("config: [scoring] readability_weight and user_weight must not both be 0")
    return settings
