"""Synthetic data: deterministic, parseable, structurally exact, and with a test split that train never sees."""

from __future__ import annotations

import re

import pytest

from ml.parser import parse
from training.structure import structure_ok
from training.synthetic import (
    CNN_TEMPLATES,
    DENSE_TEMPLATES,
    FAMILIES,
    FLOW_TEMPLATES,
    MAX_DENSE_NODES,
    MAX_SHOWN_NODES,
    OPEN_TEMPLATES,
    TEST_TEMPLATES,
    Example,
    cnn_layers,
    generate,
    held_out_phrasing,
    held_out_structure,
    main,
    plan_line,
    read_jsonl,
    structure_key,
    write_jsonl,
)

SPLITS = ("train", "val", "test")
PER_SPLIT = 300


@pytest.fixture(scope="module")
def splits() -> dict[str, list[Example]]:
    return {split: generate(PER_SPLIT, split, seed=0) for split in SPLITS}


@pytest.fixture(scope="module")
def big_train() -> list[Example]:
    return generate(3000, "train", seed=0)


# ---------------------------------------------------------------- determinism


@pytest.mark.parametrize("split", SPLITS)
def test_same_seed_same_examples(split):
    assert generate(45, split, seed=7) == generate(45, split, seed=7)


@pytest.mark.parametrize("split", SPLITS)
def test_different_seed_different_examples(split):
    a, b = generate(45, split, seed=7), generate(45, split, seed=8)
    assert [e.request for e in a] != [e.request for e in b]
    assert len({e.answer for e in a} ^ {e.answer for e in b}) > 10


def test_splits_differ_for_one_seed(splits):
    assert [e.request for e in splits["train"]] != [e.request for e in splits["val"]]


def test_generate_returns_the_asked_count():
    for count in (0, 1, 2, 7):
        assert len(generate(count, "test", seed=3)) == count


# ---------------------------------------------------------------- answers parse and draw the spec


@pytest.mark.parametrize("split", SPLITS)
def test_every_answer_parses_cleanly_and_is_structurally_exact(splits, split):
    for example in splits[split]:
        result = parse(example.answer)
        assert result.warnings == [], (example.request, result.warnings)
        assert structure_ok(result.diagram, example.family, example.spec), example.request


@pytest.mark.parametrize("split", SPLITS)
def test_reference_node_count_matches_spec(splits, split):
    for example in splits[split]:
        nodes = parse(example.answer).diagram.nodes
        if example.family == "dense":
            # A layer of more than 10 is drawn as 5 neurons and an ellipsis node (ml/dense.py).
            assert len(nodes) == sum(n if n <= 10 else 6 for n in example.spec["layers"])
        elif example.family == "cnn":
            assert [n.label for n in nodes] == example.spec["labels"]
        else:
            assert len(nodes) == len(example.spec["nodes"])


@pytest.mark.parametrize("split", SPLITS)
def test_references_stay_inside_canvas(splits, split):
    for example in splits[split]:
        for node in parse(example.answer).diagram.nodes:
            left, top, right, bottom = node.bbox
            assert 0 <= left and right <= 1000 and 0 <= top and bottom <= 600, (example.request, node)


# ---------------------------------------------------------------- the test split is unseen


def _unseen(example: Example) -> bool:
    return example.template in TEST_TEMPLATES or held_out_structure(example) or held_out_phrasing(example.request)


def test_test_split_requests_never_appear_in_train(splits, big_train):
    train_requests = {e.request for e in big_train} | {e.request for e in splits["train"]}
    leaked = [e.request for e in splits["test"] if e.request in train_requests]
    assert leaked == []


def test_test_split_structures_of_seen_templates_never_appear_in_train(splits, big_train):
    train_keys = {structure_key(e) for e in big_train}
    for example in splits["test"]:
        if example.template not in TEST_TEMPLATES:
            assert structure_key(example) not in train_keys, example.request


def test_every_test_example_is_unseen(splits):
    assert all(_unseen(e) for e in splits["test"])
    # Both reasons occur: held-out phrasings and held-out structures in seen phrasings.
    assert any(e.template in TEST_TEMPLATES for e in splits["test"])
    assert any(e.template not in TEST_TEMPLATES and held_out_structure(e) for e in splits["test"])


@pytest.mark.parametrize("split", ["train", "val"])
def test_no_train_or_val_example_is_unseen(splits, big_train, split):
    examples = big_train if split == "train" else splits[split]
    assert not any(e.template in TEST_TEMPLATES for e in examples)
    assert not any(held_out_structure(e) for e in examples)


def test_no_train_example_of_a_fixed_template_uses_a_held_out_phrase(big_train):
    # The free-combination templates could stumble on a test template's wording; those are dropped.
    # The open-vocabulary templates use "then" and "goes to" on purpose: users write them.
    fixed = [e for e in big_train if e.template not in OPEN_TEMPLATES]
    assert fixed and not any(held_out_phrasing(e.request) for e in fixed)
    assert any(held_out_phrasing(e.request) for e in big_train if e.template in OPEN_TEMPLATES)
    held_out = [e for e in generate(200, "test", seed=0) if e.template in TEST_TEMPLATES]
    assert held_out and all(held_out_phrasing(e.request) for e in held_out)


def test_free_combination_templates_are_used_in_every_family(big_train):
    families = {e.family for e in big_train if e.template == "composed"}
    assert families == set(FAMILIES)


# ---------------------------------------------------------------- the plan line


def test_every_answer_starts_with_its_plan(splits):
    for e in splits["train"] + splits["test"]:
        first, rest = e.answer.split("\n", 1)
        assert first == plan_line(e.family, e.spec)
        assert rest.startswith("[\n")


def test_dense_plan_lists_each_layers_node_numbers():
    assert plan_line("dense", {"layers": [2, 3, 1]}) == "# layers: [101, 102], [201, 202, 203], [301]"


def test_labelled_plans_name_every_node_in_drawing_order(splits):
    for e in splits["train"]:
        if e.family == "dense":
            continue
        diagram = parse(e.answer).diagram
        plan = e.answer.split("\n", 1)[0]
        items = re.findall(r'\[(\d+), "([^"]*)"', plan)
        # Names are written after a space, as in the request (training/tokenizer.py); parsing drops it.
        assert all(label.startswith(" ") for _, label in items)
        assert [(int(i), label.strip()) for i, label in items] == [(n.id, n.label) for n in diagram.nodes]


def test_flowchart_plan_gives_each_steps_type():
    spec = {"nodes": [["Raw CSV", "data"], ["Train", "process"]], "edges": [["Raw CSV", "Train"]]}
    assert plan_line("flowchart", spec) == '# nodes: [1, " Raw CSV", "data"][2, " Train", "process"]'


def test_test_templates_exist_in_each_family():
    for templates in (DENSE_TEMPLATES, CNN_TEMPLATES, FLOW_TEMPLATES):
        assert set(templates) & TEST_TEMPLATES
        assert set(templates) - TEST_TEMPLATES


def test_structure_key_ignores_phrasing(splits):
    example = splits["train"][0]
    rephrased = Example("something else entirely", example.family, example.spec, example.answer, "other")
    assert structure_key(rephrased) == structure_key(example)
    assert held_out_structure(rephrased) == held_out_structure(example)


# ---------------------------------------------------------------- families and phrasing


@pytest.mark.parametrize("split", SPLITS)
def test_all_families_present_in_every_split(splits, split):
    counts = {f: sum(e.family == f for e in splits[split]) for f in FAMILIES}
    assert set(counts) == {"dense", "cnn", "flowchart"}
    assert all(count >= PER_SPLIT // 4 for count in counts.values()), counts


@pytest.mark.parametrize("split", SPLITS)
def test_templates_vary(splits, split):
    for family in FAMILIES:
        assert len({e.template for e in splits[split] if e.family == family}) >= 2


@pytest.mark.parametrize("split", SPLITS)
def test_dense_requests_never_use_cnn_nouns(splits, split):
    dense = [e for e in splits[split] if e.family == "dense"]
    assert dense
    for example in dense:
        text = example.request.lower()
        assert "conv" not in text and "cnn" not in text, example.request


@pytest.mark.parametrize("split", SPLITS)
def test_cnn_requests_always_use_cnn_nouns(splits, split):
    cnn = [e for e in splits[split] if e.family == "cnn"]
    assert cnn
    for example in cnn:
        text = example.request.lower()
        assert any(word in text for word in ("conv", "cnn", "filters", "합성곱", "컨볼루션")), example.request


@pytest.mark.parametrize("split", SPLITS)
def test_dense_requests_name_a_dense_network(splits, split):
    words = (
        "neural",
        "network",
        "mlp",
        "net",
        "deep learning",
        "neurons",
        "perceptron",
        "autoencoder",
        "nn",
        "신경망",
        "네트워크",
        "퍼셉트론",
        "딥러닝",
        "오토인코더",
        "뉴럴넷",
        "은닉층",
        "layers",
    )
    for example in splits[split]:
        if example.family == "dense":
            assert any(w in example.request.lower() for w in words), example.request


@pytest.mark.parametrize("split", SPLITS)
def test_dense_specs_respect_max_nodes(splits, split):
    for example in splits[split]:
        if example.family == "dense":
            layers = example.spec["layers"]
            assert 3 <= len(layers) and all(n >= 1 for n in layers)
            if max(layers) <= 10:
                assert sum(layers) <= MAX_DENSE_NODES, layers
            else:  # drawn cut short: what is drawn stays bounded
                assert sum(n if n <= 10 else 6 for n in layers) <= MAX_SHOWN_NODES, layers


def test_dense_size_lists_are_spelled_out(big_train):
    """Templates that list the sizes as digits list exactly the spec's layers."""
    checked = 0
    for example in big_train:
        if example.family == "dense" and example.template in ("arrows", "sizes"):
            assert [int(n) for n in re.findall(r"\d+", example.request)] == example.spec["layers"]
            checked += 1
    assert checked > 50


def test_cnn_requests_name_input_and_outputs(splits):
    for example in splits["train"] + splits["test"]:
        if example.family == "cnn":
            h, w, c = example.spec["input"]
            text = example.request.lower()
            assert f"{h}x{w}x{c}" in text or f"({h}, {w}, {c})" in text, example.request
            assert str(example.spec["outputs"]) in text, example.request
            labels = [layer.label for layer in cnn_layers(example.spec)]
            assert labels == example.spec["labels"]


def test_flowchart_requests_name_every_node(splits):
    for example in splits["train"] + splits["test"]:
        if example.family == "flowchart":
            for label, _kind in example.spec["nodes"]:
                assert label in example.request, (label, example.request)


# ---------------------------------------------------------------- files and CLI


def test_jsonl_round_trip(tmp_path, splits):
    examples = splits["val"][:20]
    path = tmp_path / "nested" / "val.jsonl"
    write_jsonl(examples, path)
    assert read_jsonl(path) == examples
    assert Example.from_json(examples[0].to_json()) == examples[0]


def test_main_writes_three_readable_splits(tmp_path, capsys):
    out = tmp_path / "data"
    main(["--out", str(out), "--train", "12", "--val", "6", "--test", "9", "--seed", "5"])
    for split, count in (("train", 12), ("val", 6), ("test", 9)):
        path = out / f"{split}.jsonl"
        assert path.exists()
        examples = read_jsonl(path)
        assert len(examples) == count
        assert examples == generate(count, split, seed=5)
    assert "train" in capsys.readouterr().out
