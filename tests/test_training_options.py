"""Command lines built from settings dataclasses (training/options.py) and the shared wall-time budget."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from training import options
from training.budget import Deadline
from training.options import group, option


@dataclass
class Inner:
    r: int = option(16, "rank")
    targets: list[str] = option(default_factory=lambda: ["q", "v"], help="modules")
    hidden: int = option(4, "layers", flag="layers")
    secret: float = 1.0


@dataclass
class Outer:
    out: str = option(help="where to write")
    steps: int = option(200, "optimizer steps")
    name: str = option("tiny", "a preset", choices=("tiny", "lora"))
    resume: bool = option(False, "continue")
    cnn: bool = option(True, "use the CNN")
    checkpointing: bool | None = option(None, "unset = the preset's")
    seed: int | None = option(None, "fresh when unset")
    inner: Inner = group(Inner, prefix="lora-", skip=("secret",))


def parse(argv: list[str]) -> Outer:
    return options.build(Outer, options.add(options.parser(None), Outer).parse_args(argv))


def test_defaults_come_from_the_dataclass():
    assert parse(["--out", "o"]) == Outer(out="o")


def test_each_field_is_a_flag_with_its_type():
    settings = parse(
        [
            "--out",
            "o",
            "--steps",
            "5",
            "--name",
            "lora",
            "--resume",
            "--no-cnn",
            "--no-checkpointing",
            "--seed",
            "3",
            "--lora-r",
            "8",
            "--lora-targets",
            "a",
            "b",
            "--lora-layers",
            "2",
        ]
    )
    assert settings == Outer("o", 5, "lora", True, False, False, 3, Inner(8, ["a", "b"], 2))
    assert parse(["--out", "o", "--checkpointing"]).checkpointing is True


@pytest.mark.parametrize(
    "argv",
    [[], ["--out", "o", "--name", "big"], ["--out", "o", "--lora-secret", "2"], ["--out", "o", "--steps", "many"]],
)
def test_required_choices_skipped_fields_and_types_are_enforced(argv):
    with pytest.raises(SystemExit):
        parse(argv)


def test_help_shows_each_default_once_from_the_field():
    text = options.add(options.parser("Doc."), Outer).format_help()
    assert "optimizer steps (default: 200)" in text and "where to write" in text
    assert "--lora-r LORA_R" in text and "--lora-layers LORA_LAYERS" in text and "secret" not in text


def test_the_scripts_build_their_settings_from_the_same_fields():
    from training.orpo_job import JobSettings
    from training.retrain_job import RetrainSettings
    from training.sft import parse_args
    from training.sft_trainer import SFTSettings

    assert parse_args([]) == SFTSettings()
    shape = parse_args(["--hidden-size", "64"]).tiny
    assert (shape.hidden_size, shape.intermediate_size) == (64, 192)  # the MLP follows the width
    parser = options.add(options.parser(None), RetrainSettings)
    settings = options.build(RetrainSettings, parser.parse_args(["--orpo-min-pairs", "3", "--max-minutes", "2"]))
    assert settings.orpo == JobSettings(min_pairs=3) and settings.max_minutes == 2.0 and settings.seed is None


def test_a_deadline_passes_after_its_minutes_and_none_never_does():
    assert not Deadline(None).passed() and not Deadline(1.0).passed()
    deadline = Deadline(0.0)
    time.sleep(0.01)
    assert deadline.passed() and 0 < deadline.spent() < 1


def test_the_trainer_callback_stops_once_the_budget_is_spent(tmp_path):
    from transformers import TrainerControl, TrainerState

    from training.budget import time_budget

    state, timeline = TrainerState(global_step=3), tmp_path / "timeline.jsonl"
    unlimited = time_budget(0.0)
    assert not unlimited.on_step_end(None, state, TrainerControl()).should_training_stop
    spent = time_budget(1e-9, timeline)
    time.sleep(0.01)
    control = spent.on_step_end(None, state, TrainerControl())
    assert control.should_training_stop and control.should_save
    spent.on_save(None, state, control)
    assert timeline.read_text().startswith('{"step": 3, "minutes": ')
