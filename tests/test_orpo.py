"""ORPO preference tuning: pairs from ratings and from sampled candidates, SFT's token ids, a few
real steps that lower the loss, and the job that only serves a generator that checks no worse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml.diagram import Diagram, Node
from ml.parser import serialize
from ml.prompt import answer_ids, prompt_ids, user_message
from storage import Database, RatedCandidate
from training import jobs, orpo, orpo_trainer
from training.orpo_job import JobSettings, orpo_job
from training.orpo_pairs import (
    CandidateScorer,
    Pair,
    PairSettings,
    choose_pair,
    rating_pairs,
    read_pairs,
    synthetic_pairs,
    write_pairs,
)
from training.orpo_trainer import ORPOSettings
from training.synthetic import Example

# ---------------------------------------------------------------- diagrams for a 2 -> 1 dense request


def node(i: int, x: int, y: int, targets=()) -> Node:
    return Node(i, x, y, "circle", 60, 60, "solid arrow", (255, 255, 255), (0, 0, 0), tuple(targets))


def dense_text(layers: list[int], gap: int = 200) -> str:
    """A dense network drawn layer by layer, `gap` px between the nodes of a layer."""
    nodes, ids = [], []
    next_id = 1
    for layer in layers:
        ids.append(list(range(next_id, next_id + layer)))
        next_id += layer
    for i, layer_ids in enumerate(ids):
        targets = ids[i + 1] if i + 1 < len(ids) else []
        top = 300 - gap * (len(layer_ids) - 1) // 2
        nodes += [node(nid, 200 + 400 * i, top + gap * j, targets) for j, nid in enumerate(layer_ids)]
    return serialize(Diagram(tuple(nodes)))


REQUEST = "A network with 2 inputs and 1 output"
EXAMPLE = Example(REQUEST, "dense", {"layers": [2, 1]}, dense_text([2, 1]), "test")
RIGHT = dense_text([2, 1])  # right structure, readable
SQUASHED = dense_text([2, 1], gap=10)  # right structure, nodes on top of each other
WRONG = dense_text([2, 2])  # wrong structure, readable


class FakeGenerator:
    def __init__(self, texts: list[str]):
        self.texts, self.calls = texts, []

    def generate(self, request: str, n: int, seed: int | None = None) -> list[str]:
        self.calls.append((request, n, seed))
        return [self.texts[i % len(self.texts)] for i in range(n)]


# ---------------------------------------------------------------- pairs from ratings


def rated(user: str, request: int, candidate: int, value: int, text: str | None = None) -> RatedCandidate:
    return RatedCandidate(user, request, f"request {request}", candidate, text or f"text {candidate}", value)


def test_rating_pairs_put_the_higher_rated_candidate_first():
    pairs = rating_pairs([rated("u1", 1, 10, 2), rated("u1", 1, 11, 5), rated("u1", 1, 12, 4)])
    assert [(p.chosen, p.rejected, p.margin) for p in pairs] == [
        ("text 11", "text 10", 3.0),
        ("text 12", "text 10", 2.0),
        ("text 11", "text 12", 1.0),
    ]
    assert all(p.prompt == "request 1" and p.source == "ratings" for p in pairs)
    assert (pairs[0].chosen_score, pairs[0].rejected_score) == (5.0, 2.0)
    assert pairs[0].info == {"request_id": 1, "chosen_candidate": 11, "rejected_candidate": 10}


def test_ties_single_candidates_and_other_users_give_no_pair():
    rows = [
        rated("u1", 1, 10, 3),
        rated("u1", 1, 11, 3),  # a tie
        rated("u1", 2, 20, 5),  # the only rated candidate of its request
        rated("u2", 2, 21, 1),  # ... another user rated the other one
        rated("u3", 3, 30, 4),
        rated("u3", 3, 31, 1, text="text 30"),
    ]  # same text: nothing to learn
    assert rating_pairs(rows) == []


def test_pairs_need_the_minimum_gap_and_keep_users_apart():
    rows = [rated("u1", 1, 10, 4), rated("u1", 1, 11, 3), rated("u2", 1, 10, 1), rated("u2", 1, 11, 5)]
    assert [(p.chosen, p.rejected) for p in rating_pairs(rows)] == [("text 10", "text 11"), ("text 11", "text 10")]
    assert [(p.chosen, p.rejected) for p in rating_pairs(rows, min_gap=2)] == [("text 11", "text 10")]


async def test_pairs_from_stored_ratings(tmp_path):
    db = await Database.open(tmp_path / "db.sqlite3", tmp_path / "data")
    try:
        request = await db.create_request("author", REQUEST)
        good = await db.add_candidate(request, 0, RIGHT, "[]")
        bad = await db.add_candidate(request, 1, WRONG, "[]")
        await db.set_rating("u1", good, 4)
        await db.set_rating("u1", bad, 2)
        await db.set_rating("u2", good, 5)
        (pair,) = rating_pairs(await db.rated_candidates())
    finally:
        await db.close()
    assert (pair.prompt, pair.chosen, pair.rejected, pair.margin) == (REQUEST, RIGHT, WRONG, 2.0)


def test_pairs_round_trip_through_jsonl(tmp_path):
    pairs = [Pair("p", "c", "r", "ratings", 1.0, 4.0, 3.0, {"request_id": 7})]
    assert write_pairs(pairs, tmp_path / "pairs.jsonl") == 1
    assert read_pairs(tmp_path / "pairs.jsonl") == pairs
    assert set(json.loads((tmp_path / "pairs.jsonl").read_text())) >= {
        "prompt",
        "chosen",
        "rejected",
        "source",
        "margin",
    }


# ---------------------------------------------------------------- pairs from sampled candidates


@pytest.fixture(scope="module")
def analytic():
    return CandidateScorer(use_cnn=False)


def test_chosen_is_structurally_right_and_most_readable(analytic):
    generator = FakeGenerator([SQUASHED, WRONG, RIGHT, SQUASHED])
    (pair,) = synthetic_pairs(generator, [EXAMPLE], PairSettings(k=4, seed=5), analytic, progress=False)
    assert generator.calls == [(REQUEST, 4, 5)]  # one batched generate of K candidates
    assert (pair.chosen, pair.rejected, pair.source) == (RIGHT, WRONG, "synthetic")
    assert pair.info["chosen_structure"] and not pair.info["rejected_structure"]
    assert pair.info["structure_rate"] == 0.75


def test_among_right_candidates_the_least_readable_is_rejected(analytic):
    scored = analytic.score([SQUASHED, RIGHT], "dense", {"layers": [2, 1]})
    assert all(s.structure for s in scored) and scored[1].readability - scored[0].readability > 1
    pair = choose_pair(REQUEST, scored, min_margin=0.5)
    assert (pair.chosen, pair.rejected) == (RIGHT, SQUASHED) and pair.margin > 1
    assert choose_pair(REQUEST, scored, min_margin=5.0) is None  # not a clear enough margin


def test_no_pair_without_a_right_candidate_or_without_a_difference(analytic):
    settings = PairSettings(k=3)
    assert (
        synthetic_pairs(FakeGenerator([WRONG, "no diagram here"]), [EXAMPLE], settings, analytic, progress=False) == []
    )
    assert synthetic_pairs(FakeGenerator([RIGHT]), [EXAMPLE], settings, analytic, progress=False) == []
    unparsable = analytic.score(["no diagram here"], "dense", {"layers": [2, 1]})[0]
    assert (unparsable.parsed, unparsable.structure, unparsable.readability) == (False, False, 0.0)


def test_the_cnn_joins_the_readability_when_its_weights_load():
    scorer = CandidateScorer(use_cnn=True)
    assert scorer.cnn is not None
    right, squashed = scorer.score([RIGHT, SQUASHED], "dense", {"layers": [2, 1]})
    assert 0 <= squashed.readability < right.readability <= 5


# ---------------------------------------------------------------- training on a toy model


@pytest.fixture(scope="module")
def toy_model(tmp_path_factory) -> Path:
    """A random 2-layer Llama with a tokenizer fit to these diagrams, saved like a trained model."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from training.tokenizer import build_tokenizer

    torch.manual_seed(0)
    tokenizer = build_tokenizer([user_message(REQUEST), RIGHT, WRONG, SQUASHED, dense_text([3, 2])], vocab_size=400)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    folder = tmp_path_factory.mktemp("toy")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


REQUESTS = [REQUEST, "2 inputs, 1 output", "MLP: 2 -> 1", "a dense net 2 then 1"]


def toy_pairs(path: Path) -> Path:
    write_pairs(
        [Pair(r, RIGHT, rejected, "synthetic", 5.0, 10.0, 5.0) for r in REQUESTS for rejected in (WRONG, SQUASHED)],
        path,
    )
    return path


def test_the_trainer_sees_exactly_the_sft_token_ids(toy_model, tmp_path):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl.experimental.orpo import ORPOConfig

    tokenizer = AutoTokenizer.from_pretrained(toy_model)
    model = AutoModelForCausalLM.from_pretrained(toy_model)
    config = ORPOConfig(
        output_dir=str(tmp_path),
        max_length=512,
        use_cpu=True,
        bf16=False,
        report_to="none",
        remove_unused_columns=False,
        gradient_checkpointing=False,
    )
    trainer = orpo_trainer.make_trainer(
        model=model,
        args=config,
        processing_class=tokenizer,
        train_dataset=Dataset.from_list([{"prompt": REQUEST, "chosen": RIGHT, "rejected": WRONG}]),
    )
    row = trainer.train_dataset[0]
    prompt = prompt_ids(tokenizer, REQUEST)
    chosen, rejected = answer_ids(tokenizer, RIGHT), answer_ids(tokenizer, WRONG)
    assert row["prompt_input_ids"] == prompt
    assert row["chosen_input_ids"] == prompt + chosen and row["rejected_input_ids"] == prompt + rejected
    assert row["chosen_labels"] == [-100] * len(prompt) + chosen and chosen[-1] == tokenizer.eos_token_id
    # The SFT term is the NLL of the chosen answer alone: the same number as SFT's loss on that example.
    model.eval()
    batch = trainer.data_collator([row])
    with torch.no_grad():
        nll = trainer.concatenated_forward(model, batch)[4]
        sft = model(torch.tensor([prompt + chosen]), labels=torch.tensor([row["chosen_labels"]])).loss
    assert nll.item() == pytest.approx(sft.item(), rel=1e-5)


@pytest.mark.parametrize("preset, method", [("tiny", ""), ("tiny", "lora"), ("lora", "")])
def test_a_few_orpo_steps_lower_the_loss_and_save_a_loadable_model(toy_model, tmp_path, preset, method):
    from safetensors import safe_open

    from ml.generator import GeneratorSettings, LocalGenerator, SamplingSettings

    settings = ORPOSettings(
        model=str(toy_model),
        pairs=str(toy_pairs(tmp_path / "pairs.jsonl")),
        out=str(tmp_path / "run"),
        preset=preset,
        method=method,
        max_steps=8,
        batch_size=4,
        lr=1e-2,
        warmup_ratio=0.0,
        eval_fraction=0.0,
        logging_steps=1,
        threads=1,
    )
    final, record = orpo_trainer.train(settings, progress=False)
    before, after = record["eval_before"], record["eval_after"]
    assert after["eval_loss"] < before["eval_loss"]  # the ORPO loss...
    assert after["eval_log_odds_ratio"] > before["eval_log_odds_ratio"]  # ...and its preference term
    assert record["steps"] == 8 and record["lora"] == (preset == "lora" or method == "lora")
    assert record["gradient_checkpointing"] == (preset == "lora")
    assert record["memory"]["peak_mb"] >= record["memory"]["loaded_mb"] > 0
    tokenizer = generator_tokenizer(toy_model)
    assert record["max_length"] == max(
        len(prompt_ids(tokenizer, r)) + len(answer_ids(tokenizer, t)) for r in REQUESTS for t in (WRONG, SQUASHED)
    )  # taken from the data
    assert json.loads((final / "training.json").read_text())["log_history"]
    with safe_open(str(final / "model.safetensors"), "pt") as weights:
        assert not [k for k in weights.keys() if "lora" in k]  # merged: a plain model folder
    generator = LocalGenerator(GeneratorSettings(model=str(final), sampling=SamplingSettings(max_new_tokens=4)))
    assert len(generator.generate(REQUEST, 2, seed=0)) == 2


def test_the_8bit_optimizer_only_with_bitsandbytes_on_cuda(monkeypatch):
    import importlib.util

    assert orpo_trainer._optimizer(use_cpu=True) == "adamw_torch"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "bitsandbytes" else None)
    assert orpo_trainer._optimizer(use_cpu=False) == "paged_adamw_8bit"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert orpo_trainer._optimizer(use_cpu=False) == "adamw_torch"


def generator_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


# ---------------------------------------------------------------- the job


async def make_db(tmp_path: Path, ratings: list[tuple[str, str, int]]) -> Database:
    """One request with candidates RIGHT / WRONG / SQUASHED; ratings as (user, text, value)."""
    db = await Database.open(tmp_path / "db.sqlite3", tmp_path / "data")
    request = await db.create_request("author", REQUEST)
    ids = {
        text: await db.add_candidate(request, rank, text, "[]") for rank, text in enumerate((RIGHT, WRONG, SQUASHED))
    }
    for user, text, value in ratings:
        await db.set_rating(user, ids[text], value)
    return db


async def test_the_job_trains_nothing_with_too_few_pairs(tmp_path):
    db = await make_db(tmp_path, [("u1", RIGHT, 5), ("u2", WRONG, 1)])
    try:
        result = await orpo_job(db, tmp_path / "data", JobSettings(min_pairs=1))
        assert (result["status"], result["version_id"], result["metrics"]) == ("kept", None, {"pairs": 0})
        assert "only 0 rating pairs" in result["message"] and await db.model_versions() == []
    finally:
        await db.close()


async def test_the_job_serves_the_tuned_generator_only_if_it_checks_no_worse(tmp_path, toy_model, monkeypatch):
    """The real job: ORPO trains the active (toy) generator, structure_check scores both on synthetic
    requests, and the tuned one is activated only if it scores no lower. Only the network's sampling is
    scripted, so that the structure rates are known: each model folder answers the first `share` of
    the check requests with the right diagram and the rest with no diagram."""
    import ml.generator
    from training.synthetic import generate

    job = JobSettings(min_pairs=3, check_requests=2, max_steps=1)
    checks = generate(job.check_requests, "val", seed=job.seed)
    answers = {example.request: example.answer for example in checks}
    shares = {str(toy_model): 0.5}  # the active model draws the first request right
    upcoming = [0.5, 0.0]  # each newly tuned model: as good, then worse

    class ScriptedGenerator:
        def __init__(self, settings):
            if settings.model not in shares:  # a model the job has just tuned
                shares[settings.model] = upcoming.pop(0)
            self.name, self.share = Path(settings.model).name, shares[settings.model]

        def generate(self, request: str, n: int, seed: int | None = None) -> list[str]:
            right = list(answers).index(request) < self.share * len(answers)
            return [answers[request] if right else "no diagram here"] * n

    monkeypatch.setattr(ml.generator, "LocalGenerator", ScriptedGenerator)
    db = await make_db(tmp_path, [("u1", RIGHT, 5), ("u1", WRONG, 1), ("u1", SQUASHED, 3)])
    try:
        await db.add_model_version("generator", str(toy_model), {}, activate=True)
        first = await orpo_job(db, tmp_path / "data", job)
        assert first["status"] == "swapped" and first["metrics"]["pairs"] == 3
        assert first["metrics"]["structure"] == first["metrics"]["active_structure"] == 0.5  # a tie is no worse
        active = await db.active_model("generator")
        assert active.id == first["version_id"] and active.metrics["base"] == str(toy_model)
        assert (Path(active.path) / "model.safetensors").exists() and Path(active.path) != toy_model

        second = await orpo_job(db, tmp_path / "data", job)
        assert second["status"] == "kept"
        assert (second["metrics"]["structure"], second["metrics"]["active_structure"]) == (0.0, 0.5)
        assert (await db.active_model("generator")).id == first["version_id"]
        versions = await db.model_versions("generator")
        assert versions[-1].metrics["base"] == active.path and not versions[-1].active  # tuned from the active one
    finally:
        await db.close()


async def test_the_retrain_subprocess_runs_the_orpo_kind_and_keeps_the_contract(tmp_path):
    db = await make_db(tmp_path, [("u1", RIGHT, 5)])
    try:
        outcome = await jobs.run_retrain(db, "orpo", timeout_s=300)
        assert outcome.status == "kept" and "only 0 rating pairs" in outcome.message
        assert (await db.recent_jobs())[0].kind == "orpo"
        assert jobs._conflicts("orpo") == ("orpo",) and "orpo" not in jobs._conflicts("all")
        assert jobs._model_kinds("orpo") == ("generator",)
    finally:
        await db.close()


async def test_the_schedule_runs_orpo_after_the_scorers_only_when_enabled():
    from bot.scheduler import RetrainScheduler
    from training.settings import ScheduleSettings

    calls = []

    async def retrain(kind: str) -> jobs.JobOutcome:
        calls.append(kind)
        return jobs.JobOutcome(kind, "kept")

    for enabled, expected in ((False, ["all"]), (True, ["all", "orpo"])):
        calls.clear()
        outcome = await RetrainScheduler(ScheduleSettings(orpo=enabled), retrain).run_scheduled()
        assert calls == expected and outcome.kind == "all"


async def test_the_bot_reloads_an_activated_generator(tmp_path):
    from fakes import FakeService

    from bot.retrain import reload_models

    db = await Database.open(tmp_path / "db.sqlite3", tmp_path / "data")
    try:
        await db.add_model_version("generator", "data/models/generator-1/final", {}, activate=True)
        service = FakeService()
        await reload_models(db, service)
        assert service.reloads == [{"cnn": None, "ae": None, "generator": "data/models/generator-1/final"}]
    finally:
        await db.close()


def test_the_service_swaps_in_a_tuned_generator_only_over_the_embedded_model(toy_model):
    from diagrambot.config import Settings
    from ml.generator import GeneratorSettings
    from ml.service import DiagramService

    embedded = DiagramService(Settings(), generator=FakeGenerator([RIGHT]))
    embedded.reload(generator=str(toy_model))
    # the tuned model replaces the drawer; the shipped planner still reads the request for it
    assert embedded.generator.name == f"{toy_model.name}+planner"
    assert embedded.settings.generator.model == str(toy_model)

    other = DiagramService(
        Settings(generator=GeneratorSettings(model="deepseek-ai/deepseek-coder-1.3b-instruct")),
        generator=FakeGenerator([RIGHT]),
    )
    other.reload(generator=str(toy_model))
    assert isinstance(other.generator, FakeGenerator)


def test_the_cli_builds_pairs_from_a_database(tmp_path, capsys):
    import asyncio

    async def fill():
        db = await make_db(tmp_path, [("u1", RIGHT, 4), ("u1", WRONG, 1)])
        await db.close()

    asyncio.run(fill())
    orpo.main(
        [
            "pairs",
            "--db",
            str(tmp_path / "db.sqlite3"),
            "--data-dir",
            str(tmp_path / "data"),
            "--out",
            str(tmp_path / "rated.jsonl"),
        ]
    )
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["pairs"] == 1
    (pair,) = read_pairs(tmp_path / "rated.jsonl")
    assert (pair.chosen, pair.rejected) == (RIGHT, WRONG)
