"""The request -> generate -> parse -> render -> score -> rank path, and `diagrambot generate`."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from diagrambot.cli import main
from ml.geometry import layers_by
from ml.parser import serialize
from ml.pipeline import RequestError, check_request, run
from ml.prompt import MAX_REQUEST_CHARS
from training.layouts import dense_network

GOOD = (
    '[\n[1, 200, 300, "circle", 60, 60, "solid arrow", (255, 255, 255), (0, 0, 0), [2]],\n'
    '[2, 700, 300, "circle", 60, 60, "solid arrow", (255, 255, 255), (0, 0, 0), []]\n]'
)
OVERLAPPING = (
    '[\n[1, 200, 300, "circle", 60, 60, "solid arrow", (255, 255, 255), (0, 0, 0), [2]],\n'
    '[2, 210, 300, "circle", 60, 60, "solid arrow", (255, 255, 255), (0, 0, 0), []]\n]'
)


class FixedTexts:
    """A generator backend double: returns the given texts (the pipeline is what is under test)."""

    name = "fixed"

    def __init__(self, texts):
        self.texts = texts
        self.calls = []

    def generate(self, request, n, seed=None):
        self.calls.append((request, n, seed))
        return self.texts[:n]


def test_candidates_are_ranked_best_first_and_unparseable_kept_last():
    generator = FixedTexts([OVERLAPPING, "I cannot draw that.", GOOD])
    result = run("two nodes", generator, n=3, seed=5)
    assert generator.calls == [("two nodes", 3, 5)]
    assert [c.rank for c in result.candidates] == [1, 2, 3]
    best, worse, broken = result.candidates
    assert best.text == GOOD and worse.text == OVERLAPPING
    assert best.scores["final_score"] > worse.scores["final_score"]
    assert broken.error and not broken.ok and broken.image is None
    assert isinstance(best.image, Image.Image) and best.image.size == (1000, 600)
    assert set(result.timings) >= {"generate_s", "parse_render_s", "score_s"}


def test_every_component_score_is_kept():
    result = run("two nodes", FixedTexts([GOOD]), n=1)
    scores = result.candidates[0].scores
    assert "readability" in scores and "metric_node_overlap" in scores and "final_score" in scores


def test_progress_reports_each_stage():
    stages = []
    run("two nodes", FixedTexts([GOOD]), n=1, progress=stages.append)
    assert stages == ["generating", "scoring"]


@pytest.mark.parametrize("request_text", ["", "   \n  ", "x" * (MAX_REQUEST_CHARS + 1)])
def test_unusable_requests_are_refused_before_generating(request_text):
    generator = FixedTexts([GOOD])
    with pytest.raises(RequestError):
        run(request_text, generator, n=1)
    assert generator.calls == []


def test_request_whitespace_is_tidied_but_bullets_keep_their_lines():
    assert check_request("  a   network \t with 2 inputs ") == "a network with 2 inputs"
    assert check_request("Network:\n- input: 2\n\n- output: 1") == "Network:\n- input: 2\n- output: 1"


def test_generate_command_writes_result_json_and_pictures(tmp_path, capsys):
    out = tmp_path / "result"
    code = main(
        [
            "generate",
            "A neural network with 2 inputs, 3 hidden nodes and 1 output",
            "-n",
            "3",
            "--top",
            "2",
            "--seed",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    document = json.loads((out / "result.json").read_text())
    assert document["request"].startswith("A neural network")
    assert len(document["candidates"]) == 3
    assert [c["rank"] for c in document["candidates"]] == [1, 2, 3]
    first = document["candidates"][0]
    assert set(first) >= {"rank", "text", "nodes", "scores", "image", "warnings"}
    assert (out / first["image"]).exists()
    assert Image.open(out / first["image"]).size == (1000, 600)
    node = first["nodes"][0]
    assert len(node) in (10, 11) and isinstance(node[7], list) and len(node[7]) == 3
    assert "generate_s" in document["timings"] and "total_s" in document["timings"]
    assert "#1" in capsys.readouterr().out


def test_generate_command_samples_the_configured_number_of_candidates_by_default(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[pipeline]\ncandidates = 2\n")
    out = tmp_path / "result"
    assert main(["generate", "2 inputs, 1 output", "--seed", "1", "--config", str(config), "--out", str(out)]) == 0
    assert len(json.loads((out / "result.json").read_text())["candidates"]) == 2


def test_generate_command_refuses_bad_arguments_with_one_line(tmp_path, capsys):
    assert main(["generate", "", "--out", str(tmp_path)]) == 2
    assert main(["generate", "two nodes", "-n", "1000", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("diagrambot generate:") for line in err)


SPLIT_REQUEST = "a deep learning model with 2 input nodes, 3 and 5 hidden nodes, 1 output node"


def _dense_texts(*layer_lists):
    return [serialize(dense_network(layers)) for layers in layer_lists]


def _top_layer_sizes(result):
    return [len(layer) for layer in layers_by(result.candidates[0].diagram, "x")]


def test_split_vote_is_decided_by_the_request_not_the_majority():
    texts = _dense_texts([2, 5, 3, 1], [2, 3, 5, 1], [2, 5, 3, 1], [2, 3, 5, 1], [2, 5, 3, 1])
    result = run(SPLIT_REQUEST, FixedTexts(texts), n=5)
    best, majority = result.candidates[0], result.candidates[-1]
    assert _top_layer_sizes(result) == [2, 3, 5, 1]
    assert best.scores["agreement"] == 0.4 and majority.scores["agreement"] == 0.6
    assert best.scores["grounding"] == 1.0 > majority.scores["grounding"]


def test_agreement_decides_when_grounding_ties():
    texts = _dense_texts([2, 3, 5, 1], [2, 5, 3, 1], [2, 5, 3, 1], [2, 3, 5, 1], [2, 5, 3, 1])
    result = run("a deep learning model", FixedTexts(texts), n=5)
    assert len({c.scores["grounding"] for c in result.candidates}) == 1
    assert _top_layer_sizes(result) == [2, 5, 3, 1]
    # The two distinct drawings first (majority ahead), then their repeats.
    assert [c.scores["agreement"] for c in result.candidates] == [0.6, 0.4, 0.6, 0.6, 0.4]


def test_repeated_samples_never_push_a_distinct_diagram_out_of_the_top_three():
    # Three identical samples of the best diagram and two others: the top three must be three different drawings.
    texts = _dense_texts([2, 3, 5, 1], [2, 3, 5, 1], [2, 3, 5, 1], [2, 3, 4, 1], [2, 5, 3, 1])
    result = run(SPLIT_REQUEST, FixedTexts(texts), n=5)
    top = [serialize(c.diagram) for c in result.candidates[:3]]
    assert len(set(top)) == 3
    assert _top_layer_sizes(result) == [2, 3, 5, 1]
    repeats = result.candidates[3:]
    assert all(serialize(c.diagram) == top[0] for c in repeats)
    assert all(c.repeat_of == 1 for c in repeats)
    assert [c.rank for c in result.candidates] == [1, 2, 3, 4, 5]
    assert [c.rank for c in result.distinct] == [1, 2, 3]
