"""Grounding: the candidate whose sizes and names the request asked for scores highest."""

from __future__ import annotations

import pytest

from ml.diagram import Diagram, Node
from ml.grounding import grounding, grounding_of_candidates
from training.layouts import Layer, Step, dense_network, flowchart, layer_boxes

DENSE_REQUEST = "a deep learning model with 2 input nodes, 3 and 5 hidden nodes, 1 output node"
CNN_REQUEST = "a CNN: input 28x28x1, a 3x3 conv with 32 filters, output 10 classes"


def _chain(*labels: str) -> Diagram:
    kinds = ["input"] + ["hidden"] * (len(labels) - 2) + ["output"]
    return layer_boxes([Layer(label, 10, kind) for label, kind in zip(labels, kinds)])


def _pipeline(*labels: str) -> Diagram:
    steps = [Step(label, "process", (i + 1,) if i + 1 < len(labels) else ()) for i, label in enumerate(labels)]
    return flowchart(steps)


def test_dense_network_in_the_requested_order_scores_one():
    assert grounding(DENSE_REQUEST, dense_network([2, 3, 5, 1])) == 1.0


@pytest.mark.parametrize("wrong", [[2, 5, 3, 1], [2, 3, 1], [2, 3, 5, 5, 1], [3, 3, 5, 1]])
def test_swapped_missing_extra_or_resized_layer_scores_lower(wrong):
    right = grounding(DENSE_REQUEST, dense_network([2, 3, 5, 1]))
    assert grounding(DENSE_REQUEST, dense_network(wrong)) < right


def test_number_words_count_like_digits():
    words = "six inputs, then two neurons, then one output"
    digits = "6 inputs, then 2 neurons, then 1 output"
    assert grounding(words, dense_network([6, 2, 1])) == grounding(digits, dense_network([6, 2, 1])) == 1.0
    assert grounding(words, dense_network([2, 6, 1])) < 1.0


def test_unlabelled_node_count_counts_when_layers_do_not_match():
    two_columns = Diagram(
        (
            Node(1, 200, 300, "circle", 60, 60, "solid arrow", (255, 255, 255), (0, 0, 0), (2,)),
            Node(2, 700, 300, "circle", 60, 60, "solid arrow", (255, 255, 255), (0, 0, 0)),
        )
    )
    assert grounding("draw two nodes", two_columns) == 1.0
    assert grounding("draw three nodes", two_columns) < 1.0


def test_labelled_diagram_is_compared_by_the_numbers_in_its_labels():
    right = _chain("Input 28x28x1", "Conv 3x3, 32", "Output 10")
    wrong_filters = _chain("Input 28x28x1", "Conv 3x3, 64", "Output 10")
    assert grounding(CNN_REQUEST, right) == 1.0
    assert grounding(CNN_REQUEST, wrong_filters) < grounding(CNN_REQUEST, right)


def test_label_the_request_never_mentions_lowers_the_score():
    request = "a pipeline: Train, then Tune, then Deploy"
    asked = _pipeline("Train", "Tune", "Deploy")
    made_up = _pipeline("Train", "Tune", "Join", "Deploy")
    assert grounding(request, asked) == 1.0
    assert grounding(request, made_up) == pytest.approx(0.75)


def test_plural_in_the_request_matches_a_singular_label_and_case_is_ignored():
    request = "inputs go into a model which gives outputs"
    assert grounding(request, _chain("Input", "Model", "Output")) == 1.0
    assert grounding(request, _chain("Inputs", "MODEL", "Outputs")) == 1.0
    assert grounding(request, _chain("Input", "Encoder", "Output")) < 1.0


def test_a_vague_request_leaves_the_choice_to_agreement_and_scores():
    """No numbers and no shared words: every candidate grounds the same, whatever it draws."""
    request = "draw something nice"
    assert grounding(request, dense_network([2, 3, 1])) == grounding(request, dense_network([4, 4])) == 1.0
    assert (
        grounding(request, _pipeline("Load", "Clean")) == grounding(request, _pipeline("Fetch", "Store", "Plot")) == 0.0
    )


def test_numbers_the_request_gives_are_matched_however_the_diagram_carries_them():
    # A labelled pipeline of the asked length, labels without numbers: the node count matches.
    assert grounding("a pipeline of 3 steps: Load, Train, Deploy", _pipeline("Load", "Train", "Deploy")) == 1.0
    # Sizes in labels are not held against a request that gives none.
    assert (
        grounding(
            "a cnn with an input, a conv and an output layer", _chain("Input 28x28x1", "Conv 3x3, 32", "Output 10")
        )
        == 1.0
    )
    # Number words in labels count as numbers; a lone letter ("28x28") is no word to look for.
    assert grounding("two towers merge into one head", _chain("Two towers", "Merge", "One head")) == 1.0
    assert grounding("an input of 28 by 28 pixels", _chain("Input 28x28")) == 1.0


def test_request_without_numbers_still_separates_candidates_by_their_words():
    request = "a flowchart that loads data and cleans it"
    assert grounding(request, _pipeline("Load", "Clean")) == 1.0
    assert grounding(request, _pipeline("Load", "Plot")) == pytest.approx(0.5)


def test_a_candidate_that_leaves_out_a_step_the_others_drew_grounds_less():
    request = "Logs (data) goes to Train. Train (process) goes to Evaluate. Evaluate (process) goes to Deploy."
    whole = _pipeline("Logs", "Train", "Evaluate", "Deploy")
    short = _pipeline("Logs", "Train", "Deploy")  # every name it draws is asked for
    assert grounding(request, short) == grounding(request, whole) == 1.0
    assert grounding_of_candidates(request, [short, whole]) == [0.75, 1.0]
    # Alone, nothing shows that a step is missing: names are read off the candidates.
    assert grounding_of_candidates(request, [short]) == [1.0]


def test_candidates_without_labels_are_grounded_by_their_numbers_alone():
    scores = grounding_of_candidates(DENSE_REQUEST, [dense_network([2, 3, 5, 1]), dense_network([2, 5, 3, 1])])
    assert scores[0] == 1.0 and scores[1] < 1.0
    assert grounding_of_candidates(DENSE_REQUEST, []) == []
