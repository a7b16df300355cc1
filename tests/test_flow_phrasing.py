"""Open-vocabulary flowchart requests: every name is in the request as typed, every graph is one the layout draws."""

import random

import pytest

from ml.parser import parse
from training.flow_phrasing import describe, is_chain, particle, random_graph
from training.names import kind_of, random_name
from training.structure import structure_ok
from training.synthetic import disjoint_split, generate, training_words


@pytest.mark.parametrize("korean", [False, True])
def test_every_name_is_in_the_request_and_targets_point_forwards(korean):
    for seed in range(300):
        rng = random.Random(seed)
        steps = random_graph(rng, korean)
        request = describe(steps, rng, korean)
        assert 2 <= len(steps) <= 8
        assert len({s.label.lower() for s in steps}) == len(steps)
        for i, step in enumerate(steps):
            assert step.label in request, (step.label, request)
            assert all(t > i for t in step.targets)
        # every step is connected to the graph
        touched = {i for i, s in enumerate(steps) if s.targets} | {t for s in steps for t in s.targets}
        assert touched == set(range(len(steps)))


def test_graph_shapes_include_chains_merges_and_branches():
    shapes = {"chain": 0, "merge": 0, "branch": 0}
    for seed in range(200):
        steps = random_graph(random.Random(seed))
        incoming = [sum(i in s.targets for s in steps) for i in range(len(steps))]
        shapes["chain"] += is_chain(steps)
        shapes["merge"] += max(incoming) > 1
        shapes["branch"] += max(len(s.targets) for s in steps) > 1
    assert all(count > 20 for count in shapes.values()), shapes


def test_korean_particles_follow_the_last_syllable():
    rng = random.Random(0)
    assert particle("데이터", "을/를", rng) == "데이터를" and particle("모델", "을/를", rng) == "모델을"
    assert particle("모델", "으로/로", rng) == "모델로"  # ㄹ takes 로
    assert particle("수집", "으로/로", rng) == "수집으로" and particle("전처리", "으로/로", rng) == "전처리로"
    assert particle("이미지", "와/과", rng) == "이미지와" and particle("텍스트", "와/과", rng) == "텍스트와"
    assert particle("결과", "이/가", rng) == "결과가" and particle("문장", "이/가", rng) == "문장이"


def test_names_are_mostly_made_up_and_kinds_follow_keywords():
    rng = random.Random(5)
    names = [random_name(rng) for _ in range(500)]
    assert len(set(names)) > 450
    assert kind_of("customer table", True) == "database" and kind_of("XGBoost model", False) == "model"
    assert kind_of("SHAP report", False) == "chart" and kind_of("frobnicate", True) == "data"
    assert kind_of("frobnicate", False) == "process" and kind_of("로그 데이터", False) == "data"


def test_open_templates_make_exact_answers():
    examples = [e for e in generate(400, "train", seed=9) if e.template in ("free", "ko")]
    assert len(examples) > 50
    for example in examples:
        assert structure_ok(parse(example.answer).diagram, example.family, example.spec), example.request


def test_the_disjoint_split_shares_no_word_with_training_names():
    seen = training_words()
    examples = disjoint_split(60, seed=3)
    assert {e.template for e in examples} == {"disjoint-en", "disjoint-ko"}
    for example in examples:
        for name, _ in example.spec["nodes"]:
            assert name in example.request
            assert not any(word.casefold() in seen for word in name.split()), name
