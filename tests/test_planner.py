"""The planner (ml/planner.py): decoding held to the request, plans read and held, the drawer held to them."""

from __future__ import annotations

import json

import pytest

from ml.grammar import HEAD, extends, is_valid_prefix
from ml.parser import parse
from ml.planner import Plan, Planner, choose, new_model, parse_plan, plan_prefix_ok
from ml.reading import read
from training.plan_data import pairs, plan_text
from training.plan_train import plan_matches
from training.structure import failure, structure_ok

REQUEST = "Pipeline: invoice PDFs -> OCR -> extract line items -> postgres"


def ok(plan: str, request: str = REQUEST, complete: bool = False) -> bool:
    return plan_prefix_ok(plan.encode(), request.encode(), complete)


# ---------------------------------------------------------------- decoding constraint


def test_a_name_is_held_to_spans_of_the_request():
    assert ok("F invoice PDFs :data | OC")
    assert not ok("F invoice PDFz")  # a slip: not a piece of the request
    assert not ok("F invoice PDFs :data | OCR :process | postgress")


def test_a_name_is_whole_words_with_a_letter_in_it():
    assert not ok("F : :")  # punctuation is no name
    assert not ok("F Pi :")  # "Pi" is the start of "Pipeline", not a word of the request
    assert not ok("F CR :")  # nor is the middle of "OCR"
    assert ok("F 계약서 스캔 :data", "계약서 스캔한 뒤 법무팀 검토")  # a Korean ending stays behind
    assert not ok("F 형 :", "형태소 분석, 감성 분류")  # but a word is not cut inside
    assert ok("F LLM :model", "리트리버 → LLM으로 답변")


def test_a_kind_is_one_of_the_kinds_and_no_name_comes_twice():
    assert ok("F OCR :proc")
    assert not ok("F OCR :procedure")
    assert not ok("F OCR :process | OCR :process")


def test_edges_join_planned_nodes_once_and_not_to_themselves():
    assert ok("F OCR :process | postgres :database || 1>2", complete=True)
    assert not ok("F OCR :process | postgres :database || 1>3")
    assert not ok("F OCR :process | postgres :database || 1>1 ")
    assert not ok("F OCR :process | postgres :database || 1>2 1>2", complete=True)


def test_a_cnn_layer_is_a_normalised_label_or_the_requests_words():
    request = "cnn: input 32x32x3, conv 3x3 with 16 filters, BatchNorm, max pool, 10 outputs"
    assert ok("C Input 32x32x3 | Conv 3x3, 16 | BatchNorm | MaxPool 2x2 | Output 10", request, complete=True)
    assert not ok("C Input 32x32x3 | LayerNorm", request)
    assert not ok("C Input 32x32x3 | Conv 3x3, 1b", request)


def test_a_dense_plan_is_two_or_more_sizes():
    assert ok("L 784 128 10", "x", complete=True)
    assert not ok("L 784", "x", complete=True)
    assert not ok("L 78a", "x")
    assert not ok("X 1 2", "x")


def test_a_plan_is_complete_only_when_whole():
    assert not ok("F invoice PDFs :da", complete=True)
    assert not ok("F invoice PDFs :data", complete=True)  # the edge list has not begun
    assert ok("F invoice PDFs :data || ", complete=True)


def test_every_training_plan_is_reachable_under_the_constraint():
    for request, plan in pairs(300, seed=3):
        assert ok(plan, request, complete=True), (request, plan)
        assert parse_plan(plan) is not None


# ---------------------------------------------------------------- plans


def test_nodes_are_reordered_so_that_every_edge_points_forwards():
    plan = parse_plan("F dashboard :chart | raw logs :data | clean :process || 2>3 3>1")
    assert plan is not None
    assert [name for name, _ in plan.nodes] == ["raw logs", "clean", "dashboard"]
    assert plan.edges == ((0, 1), (1, 2))


def test_a_cycle_or_an_unknown_kind_is_no_plan():
    assert parse_plan("F a :data | b :process || 1>2 2>1") is None
    assert parse_plan("F a :data | b :widget || 1>2") is None
    assert parse_plan("F a :data | A :process || 1>2") is None  # the same name twice


def test_the_reading_most_plans_agree_on_is_kept_and_ties_go_to_the_first_then_to_coverage():
    def plans(*texts):
        return [parse_plan(t) for t in texts]

    short, full = (
        "F invoice PDFs :data | OCR :process || 1>2",
        "F invoice PDFs :data | OCR :process | postgres :data || 1>2 2>3",
    )
    other = "F OCR :process | postgres :data || 1>2"
    assert choose(plans(short, full, full), REQUEST).key() == parse_plan(full).key()  # two votes beat greedy's 1.5
    assert choose(plans(short, full), REQUEST).key() == parse_plan(short).key()  # a tie: the greedy (first) one
    assert choose(plans(other, short, full), REQUEST).key() == parse_plan(other).key()  # greedy's half vote decides
    assert choose(plans(full, full, short, short), REQUEST).key() == parse_plan(full).key()
    # two samples tie, both above the greedy one: the one that copies more of the request wins
    assert choose(plans(other, short, full, full, short), REQUEST).key() == parse_plan(full).key()
    assert choose([], REQUEST) is None


def test_a_flowchart_plan_holds_labels_and_edges():
    plan = parse_plan("F lab results :data | doctor notes :data | risk model :model || 1>3 2>3")
    assert plan is not None
    held = plan.hold()
    assert [(n.id, n.targets, n.label) for n in held] == [
        (1, (3,), "lab results"),
        (2, (3,), "doctor notes"),
        (3, (), "risk model"),
    ]


def test_a_cut_layer_keeps_five_neurons_and_places_its_ellipsis_last():
    plan = Plan("dense", layers=(784, 3))
    assert plan.drawer_line() == "# layers: [101, 102, 103, 104, 105], [201, 202, 203]"
    held = plan.hold()
    assert held[-1].id == 100 and held[-1].label == "\u2026 784" and held[-1].placed == (101, 103, 104)
    assert held[0].targets == (201, 202, 203) and held[0].placed is None


def test_the_ellipsis_is_placed_from_the_neurons_drawn_before_it():
    from ml.plan import held_patterns

    plan = Plan("dense", layers=(784, 1))
    box = held_patterns(plan.hold())[-1]
    text = "".join(
        f'[{nid}, 80, {y}, "circle", 33, 33, "solid line", (1, 2, 3), (4, 5, 6), [201]],\n'
        for nid, y in ((101, 100), (102, 150), (103, 200), (104, 300), (105, 350))
    )
    pattern = box.at(text)  # type: ignore[union-attr]
    assert pattern.fullmatch(
        '[100, 80, 250, "rectangle", 33, 33, "solid line", (255, 255, 255), (255, 255, 255), [], "\u2026 784"]'
    )


def test_the_grammar_holds_the_list_to_the_plan():
    plan = parse_plan("F tweets :data | bert :model || 1>2")
    assert plan is not None
    from ml.plan import held_patterns

    hold = held_patterns(plan.hold())
    text = plan.drawer_line() + "\n" + HEAD
    node = '[1, 80, 300, "rectangle", 150, 70, "solid arrow", (222, 235, 247), (40, 40, 40), '
    assert extends(text, node + '[2], "tweets"],\n', hold)
    assert not extends(text, node + '[2], "tweet"],\n', hold)  # not the planned name
    assert not extends(text, node + "[], ", hold)  # not the planned edge
    assert is_valid_prefix(text)


def test_plan_matches_compares_as_the_structure_check_does():
    case = {"nodes": [["Raw CSV", "data"], ["train", "process"]], "edges": [["Raw CSV", "train"]]}
    assert plan_matches(parse_plan("F raw csv :data | Train :model || 1>2"), "flowchart", case)
    assert not plan_matches(parse_plan("F raw csv :data | Train :model || "), "flowchart", case)
    assert not plan_matches(parse_plan("L 2 3"), "flowchart", case)


# ---------------------------------------------------------------- decoding with a model


def test_decoded_plans_keep_to_the_request_even_from_random_weights():
    import torch

    torch.manual_seed(0)
    planner = Planner(new_model(layers=1, width=32, heads=2).eval(), samples=3)
    request = "시작 단계 -> 끝 단계"
    for text in planner._decode(request, 3, greedy=False):
        assert plan_prefix_ok(text.encode(), request.encode()), text
        plan = parse_plan(text)
        if plan is not None:
            assert all(name in request for name, _ in plan.nodes)


class FixedPlanner:
    """Stands in for the trained planner: always this reading."""

    def __init__(self, plan: Plan):
        self.fixed, self.last_timing = plan, {"plan_s": 0.0}

    def plan(self, request: str, seed: int | None = None) -> Plan:
        return self.fixed


@pytest.fixture(scope="module")
def drawer():
    from ml.generator import GeneratorSettings, LocalGenerator

    return LocalGenerator(GeneratorSettings(threads=1, planner=""))


def test_the_drawer_draws_names_it_never_saw_exactly_as_planned(drawer):
    from ml.generator import PlannedGenerator

    request = "카카오톡 문의와 이메일 문의를 합쳐 문의 분류기로, 문의 분류기에서 담당팀 배정으로"
    plan = parse_plan(
        "F 카카오톡 문의 :data | 이메일 문의 :data | 문의 분류기 :model | 담당팀 배정 :process || 1>3 2>3 3>4"
    )
    assert plan is not None
    generator = PlannedGenerator(drawer, FixedPlanner(plan), "fixed")  # type: ignore[arg-type]
    texts = generator.generate(request, 3, seed=0)
    for text in texts:
        diagram = parse(text).diagram
        assert structure_ok(diagram, "flowchart", plan.spec()), text
        reading = read(text, diagram)
        assert reading is not None and reading.family == "flowchart"
        assert ("문의 분류기", "담당팀 배정") in reading.edges
    assert generator.last_plan == plan


def test_unplanned_candidates_are_drawn_without_the_plan_after_the_planned_ones(drawer, monkeypatch):
    from ml.generator import PlannedGenerator

    request = "카카오톡 문의와 이메일 문의를 합쳐 문의 분류기로"
    plan = parse_plan("F 카카오톡 문의 :data | 이메일 문의 :data | 문의 분류기 :model || 1>3 2>3")
    assert plan is not None
    monkeypatch.setattr(drawer.settings.sampling, "unplanned", 1)
    texts = PlannedGenerator(drawer, FixedPlanner(plan), "fixed").generate(request, 3, seed=0)  # type: ignore[arg-type]
    starts = [text.startswith(plan.drawer_line()) for text in texts]
    assert starts == [True, True, False], texts


# ---------------------------------------------------------------- failures


def test_a_failure_is_named_by_what_went_wrong():
    spec = {"nodes": [["route to team channels", "process"], ["archive", "data"]], "edges": []}

    def drawn(*labels):
        return parse(
            "[\n"
            + ",\n".join(
                f'[{i}, {100 + 200 * i}, 300, "rectangle", 100, 60, "solid arrow", (1, 2, 3), (4, 5, 6), [], '
                f"{json.dumps(label)}]"
                for i, label in enumerate(labels, 1)
            )
            + "\n]"
        ).diagram

    assert failure(drawn("route to team channels", "archive"), "flowchart", spec) is None
    assert failure(drawn("route to", "archive"), "flowchart", spec) == "segmentation"
    assert failure(drawn("route to team chanels", "archive"), "flowchart", spec) == "copy slip"
    assert failure(drawn("archive"), "flowchart", spec) == "dropped step"
    assert failure(drawn("a", "b", "c"), "flowchart", spec) == "extra step"


def test_plan_text_writes_what_parse_plan_reads():
    spec = {"nodes": [["a b", "data"], ["c", "model"]], "edges": [["a b", "c"]]}
    plan = parse_plan(plan_text("flowchart", spec))
    assert plan is not None and plan.spec() == spec


def test_show_spec_opens_with_the_reading_in_the_users_language():
    from bot.views import _reading_text

    text = (
        '# nodes: [1, "주문 로그", "data"][2, "대시보드", "chart"]\n[\n'
        '[1, 80, 300, "rectangle", 150, 70, "solid arrow", (1, 2, 3), (4, 5, 6), [2], "주문 로그"],\n'
        '[2, 500, 300, "rectangle", 150, 70, "solid arrow", (1, 2, 3), (4, 5, 6), [], "대시보드"]\n]'
    )
    diagram = parse(text).diagram
    korean = _reading_text(text, diagram, "ko")
    assert korean.startswith("요청을 단계 2개로 이해했어요: 주문 로그, 대시보드. 연결: 주문 로그 → 대시보드.")
    assert "Remix" in _reading_text(text, diagram, "en-US")
    dense = (
        '# layers: [101, 102], [201]\n[\n[101, 80, 250, "circle", 30, 30, "solid line", (1, 2, 3), (4, 5, 6), [201]],\n'
    )
    dense += '[102, 80, 350, "circle", 30, 30, "solid line", (1, 2, 3), (4, 5, 6), [201]],\n'
    dense += '[201, 500, 300, "circle", 30, 30, "solid line", (1, 2, 3), (4, 5, 6), []]\n]'
    assert "layers 2 → 1." in _reading_text(dense, parse(dense).diagram, None)
    assert _reading_text("[\n" + dense.split("[\n", 1)[1], parse(dense).diagram, None) == ""  # no plan line
