"""The scorer retrain run by the nightly job: trains, validates against the active model, swaps or keeps."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ml.parser import serialize
from storage import Database
from training import retrain
from training.synthetic import generate, reference_diagram

ROOT = Path(__file__).resolve().parent.parent
TINY = argparse.Namespace(bases=6, per_base=2, epochs=1, lr=5e-4, max_minutes=1.0)


async def rated_db(path: Path) -> Database:
    db = await Database.open(path / "db.sqlite3", path)
    request = await db.create_request("ann", "a small network")
    for rank, example in enumerate(generate(3, "train", seed=2), start=1):
        diagram = reference_diagram(example)
        candidate = await db.add_candidate(request, rank, serialize(diagram), json.dumps(diagram.as_lists()),
                                           scores={"readability": 4.0})
        await db.set_rating("ann", candidate, 6 - rank)
    return db


@pytest.mark.parametrize("kind", ["cnn", "ae"])
async def test_retrain_records_a_version_and_activates_it_only_if_no_worse(tmp_path, kind):
    db = await rated_db(tmp_path)
    try:
        result = await retrain.retrain(db, kind, tmp_path, TINY)
        versions = await db.model_versions(kind)
        assert result["kind"] == kind and result["status"] in ("swapped", "kept")
        assert [v.id for v in versions] == [result["version_id"]]
        new = versions[0]
        assert Path(new.path).exists() and new.active == (result["status"] == "swapped")
        key = retrain.DECIDING_METRIC[kind]
        metrics = result["metrics"]
        assert (metrics[key] <= metrics[f"active_{key}"]) == (result["status"] == "swapped")
        if kind == "ae" and result["status"] == "swapped":
            candidates = await db.all_candidates()
            assert all(c.latent is not None and c.latent_model_version.startswith("ae-") for c in candidates)
    finally:
        await db.close()


async def test_rated_diagrams_enter_training_with_blended_targets(tmp_path):
    db = await rated_db(tmp_path)
    try:
        data = await retrain.rated_dataset(db)
    finally:
        await db.close()
    assert len(data) == 3 and (data.groups < 0).all()
    assert ((0 <= data.labels) & (data.labels <= 5)).all()
    assert len(np.unique(data.labels)) > 1  # ratings 5, 4, 3 pull the targets apart


def test_command_prints_one_json_line_last(tmp_path):
    import asyncio

    asyncio.run(_close(rated_db(tmp_path)))
    completed = subprocess.run(
        [sys.executable, "-m", "training.retrain", "--kind", "cnn", "--db", str(tmp_path / "db.sqlite3"),
         "--data-dir", str(tmp_path), "--bases", "4", "--per-base", "2", "--epochs", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    last = json.loads(completed.stdout.strip().splitlines()[-1])
    assert last["status"] in ("swapped", "kept") and last["kind"] == "cnn" and isinstance(last["version_id"], int)


async def _close(db_coroutine):
    db = await db_coroutine
    await db.close()
