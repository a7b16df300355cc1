"""Learned scorers: whole-image input, the two networks, per-user k-NN, the final ranking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml import atomic
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
    ratings = [rated("ann", 5, [1, 0]), rated("ann", 5, [0.9, 0.1]), rated("ann", 1, [0, 1]), rated("bob", 1, [1, 0])]
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


class ConstantCNN(torch.nn.Module):
    """A readability "CNN" that scores every image 4.0, so the blend can be checked by hand."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.full((len(images),), 4.0)


def test_final_score_blends_cnn_and_user_prediction_with_configured_weights(shipped):
    good = Diagram((node(1, 300, 300, targets=[2]), node(2, 700, 300)))
    scorer = LearnedScorer(
        ScoringSettings(readability_weight=1.0, user_weight=3.0),
        cnn=(ConstantCNN(), {"version": "constant"}),
        ae=(shipped.ae, shipped.ae_meta),
    )
    candidates = candidates_for([good])
    latent = shipped.embed([good])[0]
    scorer.for_user("ann", [rated("ann", 2, latent)] * 3)(candidates)  # three ratings of 2 at distance 0
    scores = candidates[0].scores
    assert scores["cnn_score"] == 4.0
    assert scores["user_score"] == pytest.approx(2.0, abs=1e-6)
    assert scores["final_score"] == pytest.approx(2.5, abs=1e-6)  # (1 * 4.0 + 3 * 2.0) / (1 + 3)
    assert candidates[0].personal.source == "user"
    assert candidates[0].latent.shape == (shipped.ae.config["latent"],)
    assert candidates[0].latent_version == nets.latent_version(shipped.ae_meta)


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


# ---------------------------------------------------------------- model files: atomic, checked, reported


def test_a_failed_save_leaves_the_previous_file_whole_and_no_debris(tmp_path, monkeypatch):
    model = nets.ConvAutoencoder(latent=8).eval()
    path = nets.save(model, tmp_path / "ae", "ae", {"round": 1}, data_size=1)
    before = path.read_bytes(), path.with_suffix(".json").read_text()

    def crash(_fd):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", crash)  # the write dies before its rename
    with pytest.raises(OSError, match="disk full"):
        nets.save(nets.ConvAutoencoder(latent=8).eval(), tmp_path / "ae", "ae", {"round": 2}, data_size=2)
    assert (path.read_bytes(), path.with_suffix(".json").read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ae.json", "ae.safetensors"]
    assert nets.load(path)[1]["metrics"] == {"round": 1}


def test_two_saves_in_the_same_second_get_different_versions(tmp_path):
    model = nets.ConvAutoencoder(latent=8).eval()
    first = nets.load(nets.save(model, tmp_path / "a", "ae", {}, 0))[1]["version"]
    second = nets.load(nets.save(model, tmp_path / "b", "ae", {}, 0))[1]["version"]
    assert first != second  # their latents must never pass for each other's


@pytest.mark.parametrize("damage", ["truncate", "delete-metadata", "delete-weights"])
def test_loading_a_damaged_model_file_names_the_file_and_the_reason(tmp_path, damage):
    path = nets.save(nets.ConvAutoencoder(latent=8).eval(), tmp_path / "ae", "ae", {}, 0)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    else:
        (path.with_suffix(".json") if damage == "delete-metadata" else path).unlink()
    with pytest.raises(nets.ModelLoadError, match="ae.safetensors"):
        nets.load(path)


def test_unreadable_shipped_weights_fall_back_to_analytic_ranking_with_an_error(tmp_path, caplog):
    cnn = nets.save(nets.ReadabilityCNN().eval(), tmp_path / "cnn", "cnn", {}, 0)
    ae = nets.save(nets.ConvAutoencoder().eval(), tmp_path / "ae", "ae", {}, 0)
    ae.write_bytes(ae.read_bytes()[:100])
    assert load_scorer(ScoringSettings(cnn=str(cnn), ae=str(ae))) is None
    assert any(r.levelname == "ERROR" and "ae.safetensors" in r.getMessage() for r in caplog.records)


def test_reload_reports_what_it_could_not_load_and_keeps_that_model_serving(tmp_path, caplog):
    from diagrambot.config import Settings
    from ml.service import DiagramService

    service = DiagramService(Settings(), generator=object())
    serving = service.scorer
    cnn = nets.save(nets.ReadabilityCNN().eval(), tmp_path / "cnn-2", "cnn", {}, 0)
    result = service.reload(cnn=str(cnn), ae=str(tmp_path / "ae-missing.safetensors"))
    assert result.loaded == {"cnn": str(cnn)} and set(result.failed) == {"ae"} and not result.ok
    assert "ae-missing" in result.failed["ae"] and "could not load ae" in result.describe()
    assert service.scorer.settings.cnn == str(cnn)  # the new CNN serves
    assert service.scorer.ae is serving.ae and service.scorer.ae_version == serving.ae_version
    assert any(r.levelname == "ERROR" and "ae-missing" in r.getMessage() for r in caplog.records)

    assert service.reload().ok  # no paths: the configured defaults again
    assert service.scorer.settings.cnn == ScoringSettings().cnn
