"""config.toml (tomllib) into typed settings; every key is documented in config.example.toml.

Unknown keys are errors, not silently ignored: a typo in a setting should not go unnoticed.
Secrets (the bot token) never live here in the tracked example; they come from the environment.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from diagrambot.errors import UserError
from ml.generator import GeneratorSettings
from ml.scoring.ranking import ScoringSettings


@dataclass
class PipelineSettings:
    candidates: int = 16         # sampled per request, in one batch
    top: int = 3                 # shown to the user
    max_candidates: int = 16     # upper bound a user may ask for

    def candidate_count(self, requested: int | None) -> int:
        """How many candidates to sample: the request's count, or the default; ValueError says the bounds."""
        n = self.candidates if requested is None else requested
        if not 1 <= n <= self.max_candidates:
            raise ValueError(f"candidates must be between 1 and {self.max_candidates}")
        return n


@dataclass
class Settings:
    generator: GeneratorSettings = field(default_factory=GeneratorSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    scoring: ScoringSettings = field(default_factory=ScoringSettings)
    extra: dict = field(default_factory=dict)   # sections owned by other packages (bot, storage, ...)


def _build(cls, values: dict, where: str):
    if not isinstance(values, dict):
        raise UserError(f"config: [{where}] must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise UserError(f"config: unknown key(s) in [{where}]: {', '.join(sorted(unknown))}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{where}.{name}")
        else:
            kwargs[name] = value
    return cls(**kwargs)


def load(path: str | Path | None) -> Settings:
    """Settings from a TOML file; None or a missing default file gives the built-in defaults."""
    if path is None:
        return Settings()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"config file {path} not found (copy config.example.toml to start one)") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"config file {path}: {error}") from None
    settings = Settings(
        generator=_build(GeneratorSettings, data.pop("generator", {}), "generator"),
        pipeline=_build(PipelineSettings, data.pop("pipeline", {}), "pipeline"),
        scoring=_build(ScoringSettings, data.pop("scoring", {}), "scoring"),
    )
    settings.extra = data
    return settings


def section(settings: Settings, name: str, cls):
    """A section owned by another package, built into its own dataclass."""
    return _build(cls, settings.extra.get(name, {}), name)
