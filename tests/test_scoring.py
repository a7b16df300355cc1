"""Learned scorers: whole-image input, the two networks, per-user k-NN, the final ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.diagram import Diagram, Node
from ml.pipeline import Candidate, readability_scorer
from ml.scoring import nets
from ml.scoring.images import INPUT_HEIGHT, INPUT_WIDTH, render_input
from ml.scoring.personal import PersonalPredictor, RatedDiagram
from ml.scoring.ranking import LearnedScorer, ScoringSettings, load_scorer, resolve_path
from training.fit import FitSettings
from training.scorer_data import DEGRADATIONS, build, split_by_group, variants
from training.train_cnn import train_cnn

BLACK, WHITE = (0, 0, 0), (255, 255, 255)


def node(nid, x, y, fill=(200, 200, 255), targets=()):
    return Node(nid, x, y, "rectangle", 60, 40, "solid arrow", fill, BLACK, tuple(targets))


def test_scorer_input_is_the_whole_canvas_with_its_aspect():
    assert INPUT_WIDTH / INPUT_HEIGHT == pytest.approx(1000 / 600)
    blank = render_input(Diagram((node(1, 500, 300),)))
    corner = render_input(Diagram((node(1, 500, 300), node(2, 960, 570, fill=(255, 0, 0)))))
    assert blank.shape == (3, INPUT_HEIGHT, INPUT_WIDTH) and blank.dtype == np.float32
    # A node in the far corner (outside any centre crop) changes the input there.
    assert np.abs(corner[:, -8:, -12:] - blank[:, -8:, -12:]).max() > 0.3
    assert 0.0 <= corner.min() and corner.max() <= 1.0


def test_cnn_outputs_stay_within_0_and_5_and_round_trip_through_files(tmp_path):
    model = nets.ReadabilityCNN().eval()
    images = np.random.default_rng(0).random((4, 3, INPUT_HEIGHT, INPUT_WIDTH), dtype=np.float32)
    scores = nets.predict(model, images)
    assert scores.shape == (4,) and ((0 <= scores) & (scores <= 5)).all()
    path = nets.save(model, tmp_path / "cnn", "cnn", {"mae": 1.0}, data_size=4)
    loaded, meta = nets.load(path)
    assert meta["kind"] == "cnn" and meta["data_size"] == 4 and meta["metrics"] == {"mae": 1.0}
    np.testing.assert_allclose(nets.predict(loaded, images), scores, rtol=1e-5)


def test_autoencoder_reconstructs_the_input_shape_and_embeds_to_its_latent_size():
    model = nets.ConvAutoencoder(latent=16).eval()
    images = torch.rand(2, 3, INPUT_HEIGHT, INPUT_WIDTH)
    assert model(images).shape == model.target(images).shape == (2, 3, INPUT_HEIGHT // 2, INPUT_WIDTH // 2)
    assert nets.predict(model, images.numpy()).shape == (2, 16)


def test_every_degradation_lowers_or_keeps_readability_on_average():
    import random

    from ml.readability import readability
    from training.synthetic import generate, reference_diagram
    rng = random.Random(0)
    bases = [reference_diagram(e) for e in generate(12, "train", seed=1)]
    for degrade in DEGRADATIONS:
        clean = np.mean([readability(b).score for b in bases])
        worse = np.mean([readability(degrade(b, rng)).score for b in bases])
        assert worse < clean, degrade.__name__


def test_variants_keep_the_clean_diagram_first():
    import random

    from training.synthetic import generate, reference_diagram
    base = reference_diagram(generate(1, "train")[0])
    out = variants(base, 5, random.Random(0))
    assert out[0] == base and len(out) == 5


def test_validation_split_is_by_diagram_never_by_augmented_copy():
    data = build(12, 4, seed=0, split="train", progress=False)
    train, val = split_by_group(data, 0.25)
    assert len(train) + len(val) == len(data)
    assert not set(train.groups) & set(val.groups)
    assert len(val) % 4 == 0  # whole groups only


def test_a_few_epochs_teach_the_cnn_something():
    data = build(40, 4, seed=0, split="train", progress=False)
    train, val = split_by_group(data, 0.25)
    untrained = np.abs(nets.predict(nets.ReadabilityCNN().eval(), val.images) - val.labels).mean()
    model, metrics = train_cnn(train, val, FitSettings(epochs=6, batch_size=32, lr=3e-3, patience=6), progress=False)
    assert metrics["mae"] < untrained
    assert set(metrics) >= {"mae", "spearman", "minutes", "epochs"}


def rated(user, value, latent):
    return RatedDiagram(user, value, np.asarray(latent, dtype=np.float32))


def test_knn_uses_the_users_own_ratings_when_there_are_enough():
    predictor = PersonalPredictor(k=3, min_ratings=3)
    ratings = [rated("ann", 5, [1, 0]), rated("ann", 5, [0.9, 0.1]), rated("ann", 1, [0, 1]),
               rated("bob", 1, [1, 0])]
    near_liked, near_disliked = predictor.predict(np.array([[1.0, 0.05], [0.05, 1.0]]), "ann", ratings)
    assert near_liked.source == "user" and near_liked.neighbours == 3
    assert near_liked.value > 4 and near_disliked.value < near_liked.value


def test_knn_falls_back_to_everyone_then_to_nothing():
    predictor = PersonalPredictor(k=3, min_ratings=3)
    others = [rated("bob", 2, [1, 0]), rated("cat", 2, [1, 0.1]), rated("dan", 2, [0.9, 0])]
    fallback = predictor.predict(np.array([[1.0, 0.0]]), "ann", others + [rated("ann", 5, [0, 1])])[0]
    assert fallback.source == "everyone" and fallback.value < 3
    nothing = predictor.predict(np.array([[1.0, 0.0]]), "ann", others[:1])[0]
    assert nothing.source == "none" and nothing.value is None and nothing.neighbours == 0


def test_knn_ignores_ratings_without_a_usable_latent():
    predictor = PersonalPredictor(k=3, min_ratings=1)
    ratings = [RatedDiagram("ann", 5, None), rated("ann", 2, [1, 0, 0])]  # wrong size for 2-d queries
    assert predictor.predict(np.array([[1.0, 0.0]]), "ann", ratings)[0].source == "none"


@pytest.fixture(scope="module")
def shipped() -> LearnedScorer:
    return LearnedScorer()


def test_shipped_scorer_weights_exist_with_metadata():
    settings = ScoringSettings()
    for path in (settings.cnn, settings.ae):
        assert resolve_path(path).exists()
        assert resolve_path(path).with_suffix(".json").exists()


def candidates_for(diagrams):
    out = [Candidate("", d) for d in diagrams]
    readability_scorer(out)
    return out


def test_final_score_blends_cnn_and_user_prediction_with_configured_weights(shipped):
    good = Diagram((node(1, 300, 300, targets=[2]), node(2, 700, 300)))
    candidates = candidates_for([good])
    latent = shipped.embed([good])[0]
    ratings = [rated("ann", 1, latent)] * 3
    shipped.for_user("ann", ratings)(candidates)
    scores = candidates[0].scores
    w_r, w_u = shipped.settings.readability_weight, shipped.settings.user_weight
    assert scores["user_score"] == pytest.approx(1.0, abs=1e-3)
    assert scores["final_score"] == pytest.approx((w_r * scores["cnn_score"] + w_u * 1.0) / (w_r + w_u))
    assert candidates[0].personal.source == "user"
    assert candidates[0].latent.shape == (shipped.ae.config["latent"],) and candidates[0].latent_version


def test_without_ratings_the_final_score_is_the_cnn_score(shipped):
    candidates = candidates_for([Diagram((node(1, 300, 300),))])
    shipped.for_user(None, [])(candidates)
    assert candidates[0].scores["final_score"] == candidates[0].scores["cnn_score"]
    assert "user_score" not in candidates[0].scores and candidates[0].personal.source == "none"


def test_shipped_cnn_scores_a_faded_diagram_below_the_clean_one(shipped):
    import random

    from training.scorer_data import low_contrast
    from training.synthetic import generate, reference_diagram
    for example in generate(3, "test", seed=4):
        clean = reference_diagram(example)
        candidates = candidates_for([clean, low_contrast(clean, random.Random(1))])
        shipped.for_user(None, [])(candidates)
        assert candidates[0].scores["cnn_score"] > candidates[1].scores["cnn_score"] + 0.5, example.family


def test_missing_scorer_weights_fall_back_to_analytic_ranking(tmp_path, caplog):
    settings = ScoringSettings(cnn=str(tmp_path / "none.safetensors"), ae=str(tmp_path / "none2.safetensors"))
    assert load_scorer(settings) is None
    assert "analytic readability" in caplog.text
