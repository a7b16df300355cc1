"""config.toml: typed sections, documented example, unknown keys refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from diagrambot.config import load
from ml.errors import UserError
from ml.settings import PipelineSettings

ROOT = Path(__file__).resolve().parent.parent


def test_the_documented_example_loads():
    settings = load(ROOT / "config.example.toml")
    assert settings.generator.backend == "local"
    assert settings.generator.sampling.grammar is True
    assert settings.pipeline.candidates == 16 and settings.pipeline.top == 3
    assert settings.scoring.k == 5


def test_values_reach_nested_sections(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[generator]\nmodel = "/models/deepseek"\n[generator.sampling]\ntemperature = 0.5\n'
        "[pipeline]\ncandidates = 4\n[bot]\nadmin_user_ids = [1]\n"
    )
    settings = load(path)
    assert settings.generator.model == "/models/deepseek"
    assert settings.generator.sampling.temperature == 0.5 and settings.generator.sampling.top_p == 0.95
    assert settings.pipeline.candidates == 4
    assert settings.bot.admin_user_ids == [1]


@pytest.mark.parametrize(
    "text, message",
    [
        ("[generator]\nmodle = 'x'\n", "unknown key"),
        ("[generator.sampling]\ntemprature = 1\n", "unknown key"),
        ("[generator\n", "config file"),
    ],
)
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


# ---------------------------------------------------------------- every value's type and bounds, at load


@pytest.mark.parametrize(
    "text, message",
    [
        ('[pipeline]\ncandidates = "x"\n', 'config: [pipeline] candidates must be an integer, got "x"'),
        ("[pipeline]\ncandidates = 2.5\n", "config: [pipeline] candidates must be an integer, got 2.5"),
        ("[pipeline]\ntop = true\n", "config: [pipeline] top must be an integer, got true"),
        ("[pipeline]\ncandidates = 0\n", "config: [pipeline] candidates must be between 1 and 256, got 0"),
        ("[pipeline]\ncandidates = 20\n", "config: [pipeline] candidates (20) must be at most max_candidates (16)"),
        ("[generator]\nmodel = 5\n", "config: [generator] model must be a string, got 5"),
        ("[generator]\nadapter = ['a']\n", 'config: [generator] adapter must be a string, got ["a"]'),
        ("[generator]\nsampling = 3\n", "config: [generator.sampling] must be a table, got 3"),
        (
            "[generator.sampling]\ngrammar = 'yes'\n",
            'config: [generator.sampling] grammar must be true or false, got "yes"',
        ),
        ("[generator.sampling]\ntop_p = nan\n", "config: [generator.sampling] top_p must be a number, got NaN"),
        ("[generator.sampling]\ntemperature = inf\n", "config: [generator.sampling] temperature must be a number"),
        ("[generator.sampling]\ntop_p = 1.5\n", "config: [generator.sampling] top_p must be between 0 and 1, got 1.5"),
        ("[generator.sampling]\nmax_new_tokens = -1\n", "max_new_tokens must be between 1 and 8192, got -1"),
        ("[scoring]\nk = 99999999999999999999\n", "config: [scoring] k must be between 1 and 100"),
        ("[scoring]\nreadability_weight = 0\nuser_weight = 0\n", "must not both be 0"),
        ("[pipline]\ncandidates = 4\n", "config: unknown table(s) [pipline]"),
        ("title = 'x'\n", "config: unknown table(s) [title]"),
    ],
)
def test_every_value_is_checked_at_load_with_one_line_naming_it(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(UserError) as caught:
        load(path)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_whole_numbers_are_read_as_floats_where_a_number_is_expected(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[generator.sampling]\ntemperature = 1\n[scoring]\nuser_weight = 0\n", encoding="utf-8")
    settings = load(path)
    assert type(settings.generator.sampling.temperature) is float and settings.generator.sampling.temperature == 1
    assert type(settings.scoring.user_weight) is float


@pytest.mark.parametrize(
    "data, message",
    [
        (b"[pipeline]\ncandidates = 4 # \xff\n", "not UTF-8 text (byte 28)"),
        (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested too deeply"),
        (b"# " + b"x" * (1024 * 1024) + b"\n", "larger than 1048576 bytes"),
    ],
)
def test_unreadable_files_are_one_clear_error(tmp_path, data, message):
    path = tmp_path / "config.toml"
    path.write_bytes(data)
    with pytest.raises(UserError, match=re.escape(message)):
        load(path)


def test_a_folder_as_config_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="cannot read it"):
        load(tmp_path)
