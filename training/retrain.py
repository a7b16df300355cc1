"""Nightly / on-demand retrain of the learned scorers (and ORPO of the generator), run as a
subprocess by training/jobs.py.

    python -m training.retrain --kind cnn|ae|all|orpo --db data/diagrambot.sqlite3 --data-dir data

- cnn: fine-tune the active CNN on fresh synthetic variants plus every rated diagram in storage
  (target: the mean user rating blended with the analytic score);
- ae: fine-tune the active autoencoder on synthetic and stored diagrams, then re-embed every
  stored candidate with it;
- orpo: preference-tune the generator on pairs from the stored ratings (training/orpo.py) and
  activate it only if its exact-structure rate on synthetic validation requests is no worse.

A new version is written beside the old ones and activated only if its validation is no worse
than the active model's on the same held-out data; otherwise the old one stays. The last stdout
line is one JSON object: {"status": "swapped"|"kept", "kind", "version_id", "metrics"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ml.diagram import Diagram
from ml.readability import readability
from ml.scoring import nets
from ml.scoring.images import render_input
from ml.scoring.ranking import ScoringSettings, resolve_path
from storage import Database
from training.fit import FitSettings
from training.jobs import KINDS
from training.orpo import JobSettings, orpo_job
from training.scorer_data import ScorerDataset, build, split_by_group
from training.train_ae import ae_metrics, train_ae
from training.train_cnn import blended_targets, regression_metrics, train_cnn

log = logging.getLogger(__name__)
DEFAULT_PATHS = {"cnn": ScoringSettings().cnn, "ae": ScoringSettings().ae}
JOB_DEFAULTS = JobSettings()
# Lower is better for each kind's deciding metric.
DECIDING_METRIC = {"cnn": "mae", "ae": "reconstruction_mse"}


async def rated_dataset(db: Database) -> ScorerDataset:
    """Every stored candidate that someone rated, with its blended target."""
    by_candidate: dict[int, list[int]] = defaultdict(list)
    for rating in await db.all_ratings():
        by_candidate[rating.candidate_id].append(rating.value)
    images, labels, groups = [], [], []
    for candidate_id, values in by_candidate.items():
        candidate = await db.get_candidate(candidate_id)
        if candidate is None:
            continue
        diagram = Diagram.from_lists(json.loads(candidate.nodes_json))
        analytic = readability(diagram).score
        images.append(render_input(diagram))
        labels.append(blended_targets(np.array([analytic]), np.array([np.mean(values)]))[0])
        groups.append(-candidate_id)   # negative: never collides with synthetic group ids
    if not images:
        return ScorerDataset(np.zeros((0, 3, 96, 160), np.float32), np.zeros(0, np.float32),
                             np.zeros(0, int), np.zeros(0, str))
    return ScorerDataset(np.stack(images), np.array(labels, np.float32), np.array(groups),
                         np.array(["rated"] * len(images)))


def _concat(a: ScorerDataset, b: ScorerDataset) -> ScorerDataset:
    return ScorerDataset(np.concatenate([a.images, b.images]), np.concatenate([a.labels, b.labels]),
                         np.concatenate([a.groups, b.groups]), np.concatenate([a.families, b.families]))


async def active_path(db: Database, kind: str) -> str:
    version = await db.active_model(kind)
    return version.path if version else str(resolve_path(DEFAULT_PATHS[kind]))


async def retrain(db: Database, kind: str, data_dir: Path, args) -> dict:
    """Train one kind; activate the new version only if it validates no worse than the active one."""
    current_path = await active_path(db, kind)
    current, _ = nets.load(current_path)
    synthetic = build(args.bases, args.per_base, seed=int(time.time()) % 10_000, split="train", progress=False)
    train, val = split_by_group(synthetic, 0.2, seed=0)
    rated = await rated_dataset(db)
    if len(rated):
        rated_train, rated_val = split_by_group(rated, 0.2, seed=0)
        train, val = _concat(train, rated_train), _concat(val, rated_val)
    settings = FitSettings(epochs=args.epochs, max_minutes=args.max_minutes, lr=args.lr)
    if kind == "cnn":
        model, metrics = train_cnn(train, val, settings, start_from=current_path, progress=False)
        baseline = regression_metrics(current, val)
    else:
        model, metrics = train_ae(train, val, settings, progress=False, start_from=current_path)
        baseline = ae_metrics(current, val)
    key = DECIDING_METRIC[kind]
    better = metrics[key] <= baseline[key]
    path = nets.save(model, data_dir / "models" / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}", kind,
                     {**metrics, "baseline": baseline, "rated_examples": len(rated)}, len(train))
    version_id = await db.add_model_version(kind, str(path), {**metrics, "baseline": baseline}, activate=better)
    if better and kind == "ae":
        await reembed(db, model, nets.load(path)[1]["version"])
    return {"kind": kind, "status": "swapped" if better else "kept", "version_id": version_id,
            "metrics": {key: metrics[key], f"active_{key}": baseline[key], "train_size": len(train)}}


async def reembed(db: Database, model, version: str) -> int:
    """Give every stored candidate a latent from the new autoencoder."""
    count = 0
    async for candidate in db.iter_candidates():
        diagram = Diagram.from_lists(json.loads(candidate.nodes_json))
        latent = nets.predict(model, render_input(diagram)[None])[0]
        await db.set_latent(candidate.id, latent, f"ae-{version}")
        count += 1
    return count


async def main_async(args) -> dict:
    db = await Database.open(args.db, args.data_dir)
    try:
        if args.kind == "orpo":
            return await orpo_job(db, Path(args.data_dir), JobSettings(
                min_pairs=args.orpo_min_pairs, max_steps=args.orpo_max_steps, max_minutes=args.max_minutes,
                check_requests=args.orpo_check_requests))
        kinds = ["cnn", "ae"] if args.kind == "all" else [args.kind]
        results = [await retrain(db, kind, Path(args.data_dir), args) for kind in kinds]
    finally:
        await db.close()
    if len(results) == 1:
        return results[0]
    swapped = [r for r in results if r["status"] == "swapped"]
    return {"kind": "all", "status": "swapped" if swapped else "kept",
            "version_id": swapped[-1]["version_id"] if swapped else None,
            "metrics": {r["kind"]: r["metrics"] for r in results}, "results": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=KINDS, default="all")
    parser.add_argument("--db", default="data/diagrambot.sqlite3")
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--bases", type=int, default=400, help="fresh synthetic diagrams per run")
    parser.add_argument("--per-base", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--max-minutes", type=float, default=10.0)
    parser.add_argument("--orpo-min-pairs", type=int, default=JOB_DEFAULTS.min_pairs,
                        help="orpo: fewer rating pairs than this train nothing")
    parser.add_argument("--orpo-max-steps", type=int, default=JOB_DEFAULTS.max_steps)
    parser.add_argument("--orpo-check-requests", type=int, default=JOB_DEFAULTS.check_requests,
                        help="orpo: synthetic validation requests for the no-worse structure check")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    main()
