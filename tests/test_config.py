"""config.toml: typed sections, documented example, unknown keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from diagrambot.config import PipelineSettings, load
from diagrambot.errors import UserError

ROOT = Path(__file__).resolve().parent.parent


def test_the_documented_example_loads():
    settings = load(ROOT / "config.example.toml")
    assert settings.generator.backend == "local"
    assert settings.generator.sampling.grammar is True
    assert settings.pipeline.candidates == 16 and settings.pipeline.top == 3
    assert settings.scoring.k == 5


def test_values_reach_nested_sections(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[generator]\nmodel = "/models/deepseek"\n[generator.sampling]\ntemperature = 0.5\n'
                    '[pipeline]\ncandidates = 4\n[bot]\nadmin_user_ids = [1]\n')
    settings = load(path)
    assert settings.generator.model == "/models/deepseek"
    assert settings.generator.sampling.temperature == 0.5 and settings.generator.sampling.top_p == 0.95
    assert settings.pipeline.candidates == 4
    assert settings.extra["bot"] == {"admin_user_ids": [1]}


@pytest.mark.parametrize("text, message", [
    ("[generator]\nmodle = 'x'\n", "unknown key"),
    ("[generator.sampling]\ntemprature = 1\n", "unknown key"),
    ("[generator\n", "config file"),
])
def test_mistakes_are_clear_errors(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load(path)


def test_missing_file_says_how_to_start_one(tmp_path):
    with pytest.raises(UserError, match="config.example.toml"):
        load(tmp_path / "nope.toml")


def test_no_file_means_the_embedded_defaults():
    settings = load(None)
    assert settings.generator.model.endswith("models/tiny-sft")


def test_candidate_count_defaults_and_bounds():
    pipeline = PipelineSettings(candidates=4, max_candidates=6)
    assert pipeline.candidate_count(None) == 4 and pipeline.candidate_count(6) == 6
    for wrong in (0, 7):
        with pytest.raises(ValueError, match="between 1 and 6"):
            pipeline.candidate_count(wrong)
