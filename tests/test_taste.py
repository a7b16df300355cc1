"""Personal taste: style features, the per-user models, and the informative pick of the shown few."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from ml.diagram import Diagram
from ml.parser import serialize
from ml.pipeline import NO_EXPLORATION, Candidate, Exploration, rank, run
from ml.scoring import style
from ml.scoring.personal import PersonalPredictor, RatedDiagram
from ml.scoring.ranking import LearnedScorer, ScoringSettings
from training.layouts import Palette, dense_network

WARM = Palette((255, 170, 120), (255, 205, 160), (250, 150, 100))
COOL = Palette((150, 180, 255), (175, 205, 255), (120, 160, 250))


def net(layers=(3, 4, 2), palette=COOL, line="solid arrow") -> Diagram:
    return dense_network(list(layers), palette, line)


def feature(diagram: Diagram, name: str) -> float:
    return float(style.features(diagram)[style.NAMES.index(name)])


# ---------------------------------------------------------------------------------------- style features


def test_style_features_see_line_style_warmth_shape_and_orientation():
    arrows, dashed = net(line="solid arrow"), net(line="dashed line")
    assert feature(arrows, "line_arrow") == 1.0 and feature(arrows, "line_dashed") == 0.0
    assert feature(dashed, "line_dashed") == 1.0 and feature(dashed, "line_arrow") == 0.0
    assert feature(net(palette=WARM), "fill_warmth") > 0.6 > 0.4 > feature(net(palette=COOL), "fill_warmth")
    assert feature(net(palette=WARM), "fill_warm") == 1.0 and feature(net(palette=COOL), "fill_cool") == 1.0
    assert feature(arrows, "shape_circle") == 1.0
    boxes = Diagram(tuple(replace(n, shape="round rectangle") for n in arrows.nodes))
    assert feature(boxes, "shape_round") == 1.0 and feature(boxes, "shape_circle") == 0.0
    assert feature(arrows, "flow_horizontal") > 0.7  # layers left to right
    turned = Diagram(tuple(replace(n, x=n.y + 200, y=round(n.x * 0.5 + 50)) for n in arrows.nodes))
    assert feature(turned, "flow_horizontal") < 0.4
    assert style.features(Diagram(())).shape == (style.SIZE,)


def test_style_distance_is_zero_for_the_same_look_and_grows_with_differences():
    base = net()
    assert style.distance(style.features(base), style.features(net(layers=(3, 4, 2)))) == 0.0
    one = style.distance(style.features(base), style.features(net(line="dashed line")))
    two = style.distance(style.features(base), style.features(net(palette=WARM, line="dashed line")))
    assert 0 < one < two


# ---------------------------------------------------------------------------------------- per-user models


def rated(user, value, diagram, group=None):
    return RatedDiagram(user, float(value), np.zeros(4, np.float32), diagram, group)


def warm_lover(user="ann"):
    """Five ratings over two requests: warm fills 5, cool fills 1 (line style mixed)."""
    return [
        rated(user, 5, net((2, 3), WARM), 1),
        rated(user, 1, net((2, 3), COOL), 1),
        rated(user, 5, net((4, 2), WARM, "solid line"), 2),
        rated(user, 1, net((4, 2), COOL, "solid line"), 2),
        rated(user, 4, net((3, 3), WARM, "dashed line"), 2),
    ]


@pytest.mark.parametrize("method", ["ridge", "pairwise"])
def test_a_user_who_rated_warm_fills_high_is_predicted_to_like_a_new_warm_diagram_more(method):
    predictor = PersonalPredictor(min_ratings=3, method=method)
    styles = style.batch([net((5, 6, 1), WARM), net((5, 6, 1), COOL)])
    warm, cool = predictor.predict(np.zeros((2, 4)), "ann", warm_lover(), styles)
    assert warm.source == cool.source == "user" and warm.model == method
    assert warm.value > cool.value + 1.0


def test_pairwise_learns_from_what_was_shown_together_not_from_how_a_request_was_rated_overall():
    # Request 1 was liked whatever its look (no contrast); in request 2 the warm ones beat the cool
    # one. Across requests the cool diagrams average higher, so a plain regression prefers cool.
    ratings = [
        rated("ann", 5, net((2, 3), COOL), 1),
        rated("ann", 5, net((3, 2), COOL), 1),
        rated("ann", 5, net((2, 2), WARM), 1),
        rated("ann", 2, net((4, 3), WARM), 2),
        rated("ann", 2, net((3, 4), WARM), 2),
        rated("ann", 1, net((4, 4), COOL), 2),
    ]
    styles = style.batch([net((5, 2), WARM), net((5, 2), COOL)])
    latents = np.zeros((2, 4))
    warm, cool = PersonalPredictor(method="pairwise").predict(latents, "ann", ratings, styles)
    assert warm.value > cool.value
    warm, cool = PersonalPredictor(method="ridge").predict(latents, "ann", ratings, styles)
    assert warm.value < cool.value


def test_style_models_fall_back_to_everyone_then_to_the_latent_knn_then_to_nothing():
    predictor = PersonalPredictor(k=3, min_ratings=3, method="pairwise")
    styles = style.batch([net((5, 6, 1), WARM), net((5, 6, 1), COOL)])
    others = warm_lover("bob")
    mine = [rated("ann", 3, net((2, 2), COOL), 9)]
    everyone = predictor.predict(np.zeros((2, 4)), "ann", others + mine, styles)
    assert [p.source for p in everyone] == ["everyone"] * 2 and everyone[0].value > everyone[1].value
    # Ratings without their diagram (latents only): the k-NN on latents.
    latent_only = [RatedDiagram("ann", 5.0, np.array([1.0, 0.0])) for _ in range(3)]
    knn = predictor.predict(np.array([[1.0, 0.0]]), "ann", latent_only, style.batch([net()]))[0]
    assert knn.source == "user" and knn.model == "knn" and knn.value == pytest.approx(5.0)
    nothing = predictor.predict(np.zeros((1, 4)), "ann", mine, style.batch([net()]))[0]
    assert nothing.source == "none" and nothing.value is None


def test_unknown_personal_model_is_refused():
    with pytest.raises(ValueError, match="personal model"):
        PersonalPredictor(method="magic")


# ---------------------------------------------------------------------------------------- in the ranking


class ConstantCNN(torch.nn.Module):
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.full((len(images),), 4.0)


class FixedTexts:
    name = "fixed"

    def __init__(self, texts):
        self.texts = texts

    def generate(self, request, n, seed=None):
        return self.texts[:n]


@pytest.fixture(scope="module")
def flat_scorer() -> LearnedScorer:
    """The shipped autoencoder, a CNN that scores everything 4: only taste can order candidates."""
    shipped = LearnedScorer()
    return LearnedScorer(ScoringSettings(), cnn=(ConstantCNN(), {"version": "flat"}), ae=(shipped.ae, shipped.ae_meta))


def test_taste_puts_the_warm_one_first_among_equally_right_candidates(flat_scorer):
    texts = [serialize(net((3, 4, 2), COOL)), serialize(net((3, 4, 2), WARM))]
    request = "mlp with 3 inputs, 4 hidden and 2 outputs"
    plain = run(request, FixedTexts(texts), n=2, scorers=[flat_scorer.for_user("ann", [])])
    assert plain.candidates[0].text == texts[0]  # no ratings: a tie, kept in sample order
    personal = run(request, FixedTexts(texts), n=2, scorers=[flat_scorer.for_user("ann", warm_lover())])
    assert personal.candidates[0].text == texts[1]
    assert personal.candidates[0].scores["user_score"] > personal.candidates[1].scores["user_score"]
    assert personal.candidates[0].personal.model != "knn"  # the default model reads style, not latents


def test_taste_never_puts_a_structurally_wrong_diagram_first(flat_scorer):
    right, wrong = serialize(net((3, 4, 2), COOL)), serialize(net((3, 5, 2), WARM))
    result = run(
        "mlp with 3 inputs, 4 hidden and 2 outputs",
        FixedTexts([wrong, right]),
        n=2,
        scorers=[flat_scorer.for_user("ann", warm_lover())],
    )
    assert result.candidates[0].text == right
    assert result.candidates[1].scores["user_score"] > result.candidates[0].scores["user_score"]


# ---------------------------------------------------------------------------------------- the shown few


def scored(diagram: Diagram, final: float, grounding: float = 1.0, agreement: float = 1.0) -> Candidate:
    return Candidate(
        serialize(diagram), diagram, scores={"final_score": final, "grounding": grounding, "agreement": agreement}
    )


def shifted(diagram: Diagram, dx: int) -> Diagram:
    return Diagram(tuple(replace(n, x=n.x + dx) for n in diagram.nodes))


def arrows_and_one_dashed(dashed_final: float):
    """Equally right: arrows, plain lines, arrows again (moved a little), dashed lines."""
    return [
        scored(net((3, 4, 2), COOL), 4.5),
        scored(net((3, 4, 2), COOL, "solid line"), 4.4),
        scored(shifted(net((3, 4, 2), COOL), 5), 4.3),
        scored(net((3, 4, 2), COOL, "dashed line"), dashed_final),
    ]


def test_the_exploration_slot_shows_a_different_style_when_one_exists():
    greedy = rank(arrows_and_one_dashed(4.0), NO_EXPLORATION)
    assert [c.diagram.nodes[0].line_style for c in greedy[:3]] == ["solid arrow", "solid line", "solid arrow"]
    explored = rank(arrows_and_one_dashed(4.0), Exploration("slot", shown=3))
    assert [c.diagram.nodes[0].line_style for c in explored[:3]] == ["solid arrow", "solid line", "dashed line"]
    assert explored[2].explored and not any(c.explored for c in explored[:2] + explored[3:])
    assert explored[0].scores["final_score"] == 4.5  # the best stays first
    assert [c.rank for c in explored] == [1, 2, 3, 4]


def test_the_exploration_slot_keeps_score_order_when_the_other_style_scores_too_low():
    explored = rank(arrows_and_one_dashed(2.0), Exploration("slot", shown=3, margin=1.0))
    assert [c.scores["final_score"] for c in explored] == [4.5, 4.4, 4.3, 2.0]


def test_exploration_never_shows_a_less_right_candidate():
    candidates = arrows_and_one_dashed(4.0)
    candidates[3].scores["grounding"] = 0.9
    explored = rank(candidates, Exploration("slot", shown=3))
    assert [c.scores["final_score"] for c in explored] == [4.5, 4.4, 4.3, 4.0]


def test_mmr_spreads_the_shown_styles():
    same = [scored(shifted(net((3, 4, 2), COOL), i), 4.5 - i / 100) for i in range(3)]
    other = [scored(net((3, 4, 2), WARM, "dashed line"), 4.2)]
    shown = rank(same + other, Exploration("mmr", shown=3, weight=5.0))[:3]
    assert shown[0].final == 4.5 and any(c.diagram.nodes[0].line_style == "dashed line" for c in shown)
    plain = rank(same + other, Exploration("mmr", shown=3, weight=0.0))[:3]
    assert all(c.diagram.nodes[0].line_style == "solid arrow" for c in plain)


def test_scoring_settings_refuse_an_unknown_model_or_exploration_and_build_the_pipelines():
    from ml.errors import UserError

    with pytest.raises(UserError, match="personal_model"):
        ScoringSettings(personal_model="magic")
    with pytest.raises(UserError, match="explore"):
        ScoringSettings(explore="always")
    assert Exploration.configured(ScoringSettings(explore="mmr", explore_margin=0.5), shown=2) == Exploration(
        "mmr", shown=2, margin=0.5, weight=ScoringSettings().explore_weight
    )


def test_a_users_own_latent_ratings_come_before_everyone_elses_diagrams():
    predictor = PersonalPredictor(k=3, min_ratings=3, method="ridge")
    own = [RatedDiagram("ann", 1.0, np.array([1.0, 0.0])) for _ in range(3)]  # no diagrams
    prediction = predictor.predict(
        np.array([[1.0, 0.0]]), "ann", own + warm_lover("bob"), style.batch([net(palette=WARM)])
    )[0]
    assert prediction.source == "user" and prediction.model == "knn" and prediction.value == pytest.approx(1.0)
