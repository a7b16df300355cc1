"""SFT: a few steps on a toy model lower the loss, save safetensors, and resume."""

from __future__ import annotations

import json

import pytest

from training.sft import parse_args
from training.sft_trainer import SFTSettings, TinyModelShape, tokenize_examples, train
from training.synthetic import generate, write_jsonl


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    write_jsonl(generate(48, "train", seed=3), folder / "train.jsonl")
    write_jsonl(generate(8, "val", seed=3), folder / "val.jsonl")
    return folder


def toy_settings(data, out, **overrides) -> SFTSettings:
    values = dict(
        preset="tiny",
        data=str(data),
        out=str(out),
        max_steps=24,
        batch_size=4,
        lr=1e-2,
        save_steps=8,
        logging_steps=2,
        warmup_ratio=0.0,
        tiny=TinyModelShape(
            hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, vocab_size=600
        ),
    )
    values.update(overrides)
    return SFTSettings(**values)


def test_a_few_steps_lower_the_loss_and_save_safetensors(toy_data, tmp_path):
    final = train(toy_settings(toy_data, tmp_path / "run"))
    record = json.loads((final / "training.json").read_text())
    losses = [entry["loss"] for entry in record["log_history"] if "loss" in entry]
    assert len(losses) >= 6
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 1.0
    assert (final / "model.safetensors").exists() and (final / "tokenizer.json").exists()
    assert list((tmp_path / "run").glob("checkpoint-*/model.safetensors"))


def test_resume_continues_from_the_last_checkpoint(toy_data, tmp_path):
    out = tmp_path / "run"
    train(toy_settings(toy_data, out, max_steps=8))
    final = train(toy_settings(toy_data, out, max_steps=12, resume=True))
    record = json.loads((final / "training.json").read_text())
    assert record["steps"] == 12
    steps = [entry["step"] for entry in record["log_history"] if "loss" in entry]
    # Started again from step 0, the log would hold steps 2..8 twice.
    assert steps == sorted(set(steps)) and max(steps) == 12, "resumed training must continue, not restart"


def test_loss_covers_the_answer_only(toy_data):
    from transformers import AutoTokenizer  # noqa: F401  (tokenizer comes from the tiny builder)

    from training.sft_trainer import build_tiny
    from training.synthetic import read_jsonl

    examples = read_jsonl(toy_data / "train.jsonl")[:4]
    tokenizer, _ = build_tiny(toy_settings(toy_data, "unused"), examples)
    rows = tokenize_examples(tokenizer, examples, max_length=4096)
    for row, example in zip(rows, examples):
        answer = [t for t, m in zip(row["input_ids"], row["completion_mask"]) if m]
        assert answer[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(answer, skip_special_tokens=True) == example.answer


def test_command_line_flags_reach_the_settings():
    settings = parse_args(
        [
            "--preset",
            "lora",
            "--base",
            "/models/deepseek",
            "--lora-r",
            "8",
            "--max-steps",
            "5",
            "--hidden-size",
            "64",
            "--layers",
            "2",
        ]
    )
    assert settings.preset == "lora" and settings.base == "/models/deepseek"
    assert settings.lora.r == 8 and settings.max_steps == 5
    assert settings.tiny.hidden_size == 64 and settings.tiny.num_hidden_layers == 2


def test_kept_checkpoints_map_to_training_minutes_and_a_learning_curve(toy_data, tmp_path):
    from training.learning_curve import checkpoints, learning_curve, minutes_by_step
    from training.model_card import write_card

    out = tmp_path / "run"
    final = train(toy_settings(toy_data, out, max_steps=16, keep_checkpoints=0))
    assert [step for step, _ in checkpoints(out)] == [8, 16]
    minutes = minutes_by_step(out)
    assert set(minutes) >= {8, 16} and 0 <= minutes[8] <= minutes[16]

    curve = learning_curve([out], toy_data / "val.jsonl", limit=3)
    assert [p["step"] for p in curve["points"]] == [8, 16]
    assert [p["minutes"] for p in curve["points"]] == [minutes[8], minutes[16]]
    for point in curve["points"]:
        assert point["results"]["all"]["n"] == 3 and 0 <= point["results"]["all"]["structure"] <= 1

    # A second stage continued from the first: its steps and minutes follow on.
    stage = tmp_path / "stage2"
    train(toy_settings(toy_data, stage, max_steps=8, keep_checkpoints=0, init=str(final)))
    both = learning_curve([out, stage], toy_data / "val.jsonl", limit=2)
    assert [p["step"] for p in both["points"]] == [8, 16, 24]
    assert both["points"][2]["minutes"] >= both["points"][1]["minutes"]
    # Continuing the first stage's measured curve gives the same steps without re-measuring it.
    after = learning_curve([stage], toy_data / "val.jsonl", limit=2, earlier=curve)
    assert [p["step"] for p in after["points"]] == [8, 16, 24]
    assert after["points"][:2] == curve["points"] and after["runs"] == [str(out), str(stage)]

    card = write_card(final, tmp_path / "card", [], curve=curve).read_text()
    assert (tmp_path / "card" / "learning_curve.png").exists()
    assert "## Learning curve" in card and "| 8 |" in card and "| 16 |" in card


def test_a_resumed_run_adds_its_minutes_to_the_timeline(toy_data, tmp_path):
    from training.learning_curve import minutes_by_step

    out = tmp_path / "run"
    train(toy_settings(toy_data, out, max_steps=8))
    first = minutes_by_step(out)[8]
    train(toy_settings(toy_data, out, max_steps=16, resume=True))
    assert minutes_by_step(out)[16] >= first


def test_heads_flag_reaches_the_shape():
    assert parse_args(["--heads", "8", "--layers", "6"]).tiny.num_attention_heads == 8
