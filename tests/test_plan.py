"""The plan line read back (ml.plan), and decoding that holds a node list to its plan (ml.grammar)."""

from __future__ import annotations

import pytest

from ml.grammar import is_complete, is_valid_prefix
from ml.parser import parse
from ml.plan import (
    PlannedNode,
    mixes_item_forms,
    node_patterns,
    plan_slips,
    read_plan,
    repeats_a_name,
    strays_from_request,
)
from training.synthetic import generate, plan_line


@pytest.fixture(scope="module")
def examples():
    return {e.family: e for e in generate(60, "val", seed=3)}


def _plan_and_list(answer: str) -> tuple[str, str]:
    plan, _, body = answer.partition("\n")
    return plan, body


# ---------------------------------------------------------------- reading


def test_a_dense_plan_gives_ids_in_order_and_the_next_layer_as_targets():
    plan = read_plan("# layers: [101, 102], [201, 202, 203], [301]")
    assert [n.id for n in plan] == [101, 102, 201, 202, 203, 301]
    assert plan[0].targets == (201, 202, 203) and plan[2].targets == (301,) and plan[-1].targets == ()
    assert all(n.label is None for n in plan)


def test_a_cnn_plan_holds_labels_and_a_flowchart_plan_does_not():
    cnn = read_plan('# nodes: [1, "Input 28x28x1"][2, "Conv 3x3, 32"][3, "Output 10"]')
    assert cnn == (
        PlannedNode(1, label="Input 28x28x1"),
        PlannedNode(2, label="Conv 3x3, 32"),
        PlannedNode(3, label="Output 10"),
    )
    flow = read_plan('# nodes: [1, "Raw CSV", "data"][2, "Train", "process"]')
    assert flow == (PlannedNode(1), PlannedNode(2))


def test_escaped_labels_are_read_as_json():
    plan = read_plan('# nodes: [1, "say \\"hi\\""][2, "Donn\\u00e9es"]')
    assert [n.label for n in plan] == ['say "hi"', "Données"]


@pytest.mark.parametrize(
    "line",
    [
        "# just a comment",
        "# layers: [101, 102], ",  # unfinished
        "# layers: [101], [101]",  # the same node twice
        "# layers: [101] [201]",  # no separator
        '# nodes: [1, "A"] and [2, "B"]',  # chatter between items
        '# nodes: [1, "A\\q"]',  # not valid JSON
        "# nodes: [1][2]",  # no labels: nothing to hold
        "",
    ],
)
def test_anything_else_is_not_a_plan(line):
    assert read_plan(line) is None
    assert node_patterns(line) is None


def test_plans_written_for_training_read_back(examples):
    for family, example in examples.items():
        plan = read_plan(plan_line(family, example.spec))
        nodes = parse(example.answer).diagram.nodes
        assert [p.id for p in plan] == [n.id for n in nodes], family
        if family == "dense":
            assert [p.targets for p in plan] == [n.targets for n in nodes]
        if family == "cnn":
            assert [p.label.strip() for p in plan] == [n.label for n in nodes]  # written after a space


def test_a_flowchart_plan_may_not_name_a_node_twice():
    assert repeats_a_name('# nodes: [1, "Tune", "process"][2, "Train", "process"][3, "tune"')
    assert not repeats_a_name('# nodes: [1, "Tune", "process"][2, "Train", "process"][3, "Tun')
    # CNN plans repeat labels legitimately, and only a finished first item tells the two apart.
    assert not repeats_a_name('# nodes: [1, "MaxPool 2x2"][2, "MaxPool 2x2"')
    assert not repeats_a_name('# nodes: [1, "Tune"')
    assert not repeats_a_name("# layers: [101], [101")


# ---------------------------------------------------------------- decoding held to the plan


def test_generated_answers_are_valid_under_their_own_plans(examples):
    for example in examples.values():
        assert is_complete(example.answer)
        assert node_patterns(example.answer.partition("\n")[0]) is not None


def _first_invalid(text: str) -> int:
    return next(i for i in range(len(text) + 1) if not is_valid_prefix(text[:i]))


def test_a_cnn_list_may_not_relabel_a_planned_layer(examples):
    answer = examples["cnn"].answer
    plan, body = _plan_and_list(answer)
    second = read_plan(plan)[1].label
    broken = plan + "\n" + body.replace(f'"{second}"]', '"Conv 9x9, 999"]', 1)
    assert broken != answer and not is_complete(broken)
    assert _first_invalid(broken) > broken.index("Conv 9x9") - 2


def test_a_dense_list_must_wire_each_layer_to_the_next(examples):
    answer = examples["dense"].answer
    plan, body = _plan_and_list(answer)
    first = read_plan(plan)[0]
    wired = "[" + ", ".join(map(str, first.targets)) + "]"
    broken = plan + "\n" + body.replace(wired, "[" + str(first.targets[0]) + "]", 1)
    assert broken != answer and not is_complete(broken)


def test_the_list_draws_exactly_the_planned_nodes_no_fewer_no_more():
    plan = '# nodes: [1, "A"][2, "B"]'
    one = '[1, 100, 300, "rectangle", 80, 40, "solid arrow", (255, 255, 255), (0, 0, 0), [2], "A"]'
    two = '[2, 300, 300, "rectangle", 80, 40, "solid arrow", (255, 255, 255), (0, 0, 0), [], "B"]'
    three = '[3, 500, 300, "rectangle", 80, 40, "solid arrow", (255, 255, 255), (0, 0, 0), [], "C"]'
    assert is_complete(f"{plan}\n[\n{one},\n{two}\n]")
    assert not is_valid_prefix(f"{plan}\n[\n{one}\n]")  # closed after one of two
    assert not is_valid_prefix(f"{plan}\n[\n{one},\n{two},")  # a third node after the last
    assert not is_valid_prefix(f"{plan}\n[\n{one},\n{three}")  # a node the plan never named
    assert not is_valid_prefix(f"{plan}\n[\n{two}")  # out of order
    # Without the plan the same lists are fine: only a plan in the known form holds anything.
    assert is_complete(f"# my own notes\n[\n{one},\n{three}\n]")


def test_flowchart_names_are_free_but_targets_must_be_planned_nodes():
    plan = '# nodes: [1, "Raw CSV", "data"][2, "Train", "process"]'
    node = '[1, 100, 300, "rectangle", 80, 40, "solid arrow", (255, 255, 255), (0, 0, 0), {targets}, "{name}"]'
    last = '[2, 300, 300, "rectangle", 80, 40, "solid arrow", (255, 255, 255), (0, 0, 0), [], "Train"]'
    renamed = node.format(targets="[2]", name="Logs")
    assert is_complete(f"{plan}\n[\n{renamed},\n{last}\n]")
    assert not is_valid_prefix(f"{plan}\n[\n" + node.format(targets="[7]", name="Raw CSV"))


def test_a_flowchart_plan_naming_a_node_twice_is_cut_at_the_repeat():
    text = '# nodes: [1, "Tune", "process"][2, "Tune", "process"]\n[\n'
    cut = _first_invalid(text)
    assert text[:cut].endswith('[2, "Tune"')


def test_whole_texts_are_judged_like_token_by_token_decoding():
    """is_valid_prefix / is_complete apply the plan's once-only names too, not only extends()."""
    node = '[{i}, {x}, 300, "rectangle", 80, 40, "solid arrow", (255, 255, 255), (0, 0, 0), [{t}], "{name}"]'
    body = (
        "[\n" + node.format(i=1, x=100, t=2, name="Tune") + ",\n" + node.format(i=2, x=300, t="", name="Train") + "\n]"
    )
    assert is_complete('# nodes: [1, "Tune", "process"][2, "Train", "process"]\n' + body)
    twice = '# nodes: [1, "Tune", "process"][2, "Tune", "process"]\n' + body
    assert not is_complete(twice) and not is_valid_prefix(twice)


def test_plan_items_keep_one_form():
    assert mixes_item_forms('# nodes: [1, "Train", "process"][2, "model"]')
    assert plan_slips('# nodes: [1, "Conv 3x3, 32"][2, "Tune", "process"]')
    assert not plan_slips('# nodes: [1, "Train", "process"][2, "Tune", "process"][3, "Tu')
    assert not is_valid_prefix('# nodes: [1, "Train", "process"][2, "model"]\n')


# ---------------------------------------------------------------- names held to the request

REQUEST = "Pipeline: scrape web pages, strip HTML -> 로그 수집"


@pytest.mark.parametrize(
    "line, strays",
    [
        ('# nodes: [1, " scrape web pages", "data"][2, " str', False),  # on its way to a span
        ('# nodes: [1, " scrape web pages", "data"][2, " stx', True),  # no span goes on like this
        ('# nodes: [1, " scrape web pages", "data"][2, " Join", "function"]', True),  # made up
        ('# nodes: [1, " scrape web pages", "data"][2, " 로그 수', False),  # Hangul spans
        ('# nodes: [1, " Scrape Web Pages", "data"]', True),  # a copy keeps the request's case
        ('# nodes: [1, " frames', True),  # the first name is held too
        ('# nodes: [1, " Conv 3x3, 3', False),  # a CNN plan's normalised labels
        ('# nodes: [1, " Input 28x28x1"][2, " MaxPool 2x2"][3, " Output 10"]', False),
        ('# nodes: [1, " Conv 3x3, 32"][2, " Dropout', True),
        ("# layers: [101, 102], [201]", False),  # dense plans name nothing
    ],
)
def test_plan_names_must_be_spans_of_the_request_or_layer_labels(line, strays):
    assert strays_from_request(line, REQUEST) is strays
