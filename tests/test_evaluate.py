"""The open-vocabulary evaluation: hand-written cases, label matching, invented labels, the card's table."""

import json

from ml.diagram import Diagram
from training.evaluate import SETS, invented_words, read_cases
from training.layouts import Layer, Step, dense_network, flowchart, layer_boxes
from training.model_card import eval_table
from training.structure import label_matches, shape_ok, structure_ok


def _flow(*names_and_targets) -> Diagram:
    return flowchart([Step(name, "process", targets) for name, targets in names_and_targets])


def test_the_frozen_sets_state_an_exact_structure_for_every_case():
    for name in ("hand-en", "hand-ko", "disjoint"):
        cases = read_cases(SETS[name])
        assert len(cases) >= {"hand-en": 80, "hand-ko": 40, "disjoint": 100}[name]
        assert {c.family for c in cases} == {"dense", "cnn", "flowchart"} or name == "disjoint"
        for case in cases:
            if case.family == "flowchart":
                names = [n[0] for n in case.spec["nodes"]]
                assert all(a in names and b in names for a, b in case.spec["edges"]), case.id
    korean = read_cases(SETS["hand-ko"])
    assert all(any("\uac00" <= ch <= "\ud7a3" for ch in c.request) for c in korean)


def test_a_flowchart_is_right_only_with_the_requests_names_and_edges():
    spec = {
        "nodes": [["scrape web pages", "data"], ["strip HTML", "function"], ["deduplicate", "function"]],
        "edges": [["scrape web pages", "strip HTML"], ["strip HTML", "deduplicate"]],
    }
    right = _flow(("scrape web pages", (1,)), ("Strip HTML.", (2,)), ("deduplicate", ()))
    assert structure_ok(right, "flowchart", spec) and shape_ok(right, "flowchart", spec)
    renamed = _flow(("scrape web pages", (1,)), ("Join", (2,)), ("deduplicate", ()))
    assert shape_ok(renamed, "flowchart", spec) and not structure_ok(renamed, "flowchart", spec)
    rewired = _flow(("scrape web pages", (1, 2)), ("strip HTML", ()), ("deduplicate", ()))
    assert not shape_ok(rewired, "flowchart", spec) and not structure_ok(rewired, "flowchart", spec)


def test_an_expected_label_may_list_its_accepted_forms():
    assert label_matches("Dropout 0.5", ["드롭아웃 0.5", "Dropout 0.5"])
    assert label_matches("  global average pooling ", "Global average pooling")
    assert not label_matches("Dropout 0.3", ["드롭아웃 0.5", "Dropout 0.5"])
    boxes = layer_boxes([Layer("Input 28x28", 784, "input"), Layer("드롭아웃 0.5", 10), Layer("Output 10", 10)])
    assert structure_ok(boxes, "cnn", {"labels": ["Input 28x28", ["Dropout 0.5", "드롭아웃 0.5"], "Output 10"]})


def test_a_large_layer_drawn_cut_short_counts_by_its_size_label():
    assert structure_ok(dense_network([784, 128, 10]), "dense", {"layers": [784, 128, 10]})
    assert not structure_ok(dense_network([784, 128, 10]), "dense", {"layers": [784, 64, 10]})


def test_invented_words_are_label_words_neither_asked_nor_fixed():
    request = "Pipeline: scrape web pages, strip HTML -> 로그 수집"
    diagram = _flow(("scrape web pages", (1,)), ("Join tables", (2,)), ("로그 수집", (3,)), ("Output 3", ()))
    invented, words = invented_words(request, diagram)
    # scrape, web, pages, 로그, 수집 and output (fixed) are fine; join, tables and the 3 are made up.
    assert (invented, words) == (3, 9)
    assert invented_words("two nodes", dense_network([2, 2])) == (0, 0)


def test_read_cases_takes_hand_written_and_generated_lines(tmp_path):
    path = tmp_path / "cases.jsonl"
    rows = [
        {
            "id": "en-1",
            "request": "a -> b",
            "family": "flowchart",
            "kind": "chain",
            "spec": {"nodes": [["a", "data"], ["b", "process"]], "edges": [["a", "b"]]},
        },
        {"request": "2-3-1 mlp", "family": "dense", "spec": {"layers": [2, 3, 1]}, "answer": "...", "template": "list"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    cases = read_cases(path)
    assert [c.id for c in cases] == ["en-1", "cases-2"] and cases[1].spec == {"layers": [2, 3, 1]}


def test_the_cards_table_has_a_row_per_set_and_family():
    summary = {
        "n": 4,
        "parse": 1.0,
        "shape": 0.75,
        "exact": 0.5,
        "structure": 0.5,
        "invented": 0.02,
        "readability": 4.9,
        "seconds": 1.2,
        "failures": [],
    }
    table = eval_table({"hand-en": {"all": summary, "dense": summary}, "hand-ko": {"all": summary}})
    assert "| hand-en / dense | 4 | 100.0 % | 75.0 % | 50.0 % | 2.0 % | 4.90 | 1.20 |" in table
    assert table.count("\n") == 4
