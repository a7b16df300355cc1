"""The GPU training loop (training.sft_gpu), run on CPU at toy sizes: data, batches, labels, schedule, saving."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from ml.prompt import answer_ids, prompt_ids
from training.learning_curve import checkpoints, minutes_by_step, trained_on
from training.model_card import write_card
from training.sft_gpu import (
    IGNORE,
    LoopSettings,
    TokenizedExamples,
    collate,
    learning_rate,
    length_batches,
    main,
    prepare,
    train,
)
from training.synthetic import generate

EMBEDDED = Path(__file__).resolve().parents[1] / "models" / "tiny-sft"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    prepare(str(EMBEDDED), out, examples=30, val=6, workers=1, seed=5, families=("flowchart", "dense"), chunk=20)
    return out


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A 2-layer model with the embedded tokenizer (and its chat template)."""
    folder = tmp_path_factory.mktemp("small")
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDED)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_prepared_examples_are_the_sft_tokens_of_the_drawn_examples(data):
    tokenizer = AutoTokenizer.from_pretrained(EMBEDDED)
    stored = TokenizedExamples.load(data, "train")
    assert len(stored) == 30 and len(TokenizedExamples.load(data, "val")) == 6
    # chunks of 20 use the seeds "5.0" and "5.1"; families come in the order asked for
    drawn = generate(20, "train", "5.0", ("flowchart", "dense")) + generate(10, "train", "5.1", ("flowchart", "dense"))
    assert [e.family for e in drawn[:4]] == ["flowchart", "dense", "flowchart", "dense"]
    starts = stored.starts
    for i in (0, 21, 29):
        prompt, answer = prompt_ids(tokenizer, drawn[i].request), answer_ids(tokenizer, drawn[i].answer)
        assert stored.prompt_lengths[i] == len(prompt)
        assert stored.ids[starts[i] : starts[i] + stored.lengths[i]].tolist() == prompt + answer
    assert json.loads((data / "meta.json").read_text())["examples"] == 30


def test_workers_draw_the_same_examples_as_one_process(data, tmp_path):
    prepare(str(EMBEDDED), tmp_path, examples=30, val=6, workers=2, seed=5, families=("flowchart", "dense"), chunk=20)
    one, two = TokenizedExamples.load(data, "train"), TokenizedExamples.load(tmp_path, "train")
    assert np.array_equal(one.ids, two.ids) and np.array_equal(one.prompt_lengths, two.prompt_lengths)


def test_labels_cover_the_answer_and_nothing_else():
    examples = TokenizedExamples(
        np.arange(10, 19, dtype=np.uint16), np.array([5, 4], dtype=np.int32), np.array([2, 3], dtype=np.int32)
    )
    ids, mask, labels = collate(examples, np.array([1, 0]), pad_id=0)
    assert ids.tolist() == [[15, 16, 17, 18, 0], [10, 11, 12, 13, 14]]
    assert mask.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert labels.tolist() == [[IGNORE] * 3 + [18, IGNORE], [IGNORE] * 2 + [12, 13, 14]]


def test_batches_group_similar_lengths_and_cover_every_example_each_round():
    lengths = np.random.default_rng(0).integers(10, 500, size=400)
    batches = length_batches(lengths, 8, np.random.default_rng(1), pool=10)
    first_round = [next(batches) for _ in range(50)]
    assert sorted(np.concatenate(first_round).tolist()) == list(range(400))
    spread = np.mean([np.ptp(lengths[b]) for b in first_round])
    assert spread < np.ptp(lengths) / 4  # random batches of 8 would span most of the range


def test_learning_rate_warms_up_then_decays_to_its_floor():
    settings = LoopSettings(lr=1e-3, warmup=0.1, min_lr_ratio=0.05)
    assert learning_rate(settings, 0.05) == pytest.approx(5e-4)
    assert learning_rate(settings, 0.1) == pytest.approx(1e-3)
    assert learning_rate(settings, 0.55) == pytest.approx(5.25e-4)
    assert learning_rate(settings, 1.0) == pytest.approx(5e-5)


def test_training_grows_the_model_learns_and_saves_it_in_the_asked_dtype(data, small_model, tmp_path):
    settings = LoopSettings(
        data=str(data),
        init=str(small_model),
        out=str(tmp_path / "run"),
        grow=2,
        max_minutes=5,
        max_steps=12,
        batch_size=8,
        lr=3e-3,
        warmup=0.1,
        save_dtype="bfloat16",
    )
    final = train(settings)
    report = json.loads((final / "training.json").read_text())
    assert (
        report["steps"] == 12 and report["examples"] == 30 and report["examples_seen"] == 3 * 30
    )  # 4 batches a round: 8, 8, 8, 6 and report["error"] is None
    val = [entry["eval_loss"] for entry in report["log_history"] if "eval_loss" in entry]
    assert val[-1] < val[0]
    with safe_open(final / "model.safetensors", "pt") as f:
        assert f.get_tensor("model.embed_tokens.weight").dtype == torch.bfloat16
    model = AutoModelForCausalLM.from_pretrained(final, dtype=torch.float32)
    assert model.config.num_hidden_layers == 4 and model.config.use_cache
    assert AutoTokenizer.from_pretrained(final).chat_template


def test_a_run_that_keeps_only_its_final_model_feeds_the_learning_curve_and_the_card(data, small_model, tmp_path):
    run = tmp_path / "run"
    final = train(LoopSettings(data=str(data), init=str(small_model), out=str(run), max_steps=3, batch_size=4))
    assert checkpoints(run) == [(3, final)]
    assert list(minutes_by_step(run)) == [3] and trained_on(final) == "CPU"
    card = write_card(final, tmp_path / "card", []).read_text()
    assert "3 steps (max 3" in card and "on a 2-core CPU" in card and "30 synthetic training examples" in card
    assert (tmp_path / "card" / "loss_curve.png").exists()


def test_the_command_line_runs_both_stages(small_model, tmp_path, capsys):
    main(
        [
            "prepare",
            "--tokenizer",
            str(small_model),
            "--out",
            str(tmp_path / "d"),
            "--examples",
            "8",
            "--val",
            "4",
            "--workers",
            "1",
            "--families",
            "cnn",
        ]
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["families"] == ["cnn"]
    main(
        [
            "train",
            "--data",
            str(tmp_path / "d"),
            "--init",
            str(small_model),
            "--out",
            str(tmp_path / "r"),
            "--max-steps",
            "2",
            "--batch-size",
            "4",
        ]
    )
    assert (tmp_path / "r" / "final" / "model.safetensors").exists()
    shutil.rmtree(tmp_path / "r")


def test_an_unknown_family_is_refused_with_the_choices(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["prepare", "--out", str(tmp_path / "d"), "--families", "dense,flowcharts"])
    assert "unknown families ['flowcharts']" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_an_error_mid_run_still_saves_the_model_so_far_and_says_so(data, small_model, tmp_path, monkeypatch):
    import training.sft_gpu as loop

    real, calls = loop.collate, []

    def collate_that_fails_on_the_third_batch(*args):
        calls.append(1)
        if len(calls) == 3 + 1:  # the first call is the opening validation pass (6 examples, one batch)
            raise MemoryError("out of memory")
        return real(*args)

    monkeypatch.setattr(loop, "collate", collate_that_fails_on_the_third_batch)
    with pytest.raises(RuntimeError, match="training stopped early .*MemoryError"):
        train(
            LoopSettings(data=str(data), init=str(small_model), out=str(tmp_path / "run"), max_steps=10, batch_size=8)
        )
    report = json.loads((tmp_path / "run" / "final" / "training.json").read_text())
    assert report["steps"] == 2 and report["error"] == "MemoryError: out of memory"
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "final").config.num_hidden_layers == 2
