"""The retrain job behind `python -m training.retrain` (its docstring has the contract with
training/jobs.py): fine-tune a scorer, validate it against the active one on the same held-out data,
register it and activate it only if no worse; re-embed every stored candidate when the autoencoder
changes; the generator's kind (orpo) is training/orpo_job.py. `checkpoint` marks where tests kill it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.diagram import Diagram
from ml.readability import readability
from ml.scoring import nets
from ml.scoring.images import render_input
from ml.scoring.ranking import ScoringSettings, resolve_path
from storage import Database
from training.fit import FitSettings
from training.jobs import JOB_ID_ENV, KINDS, checkpoint
from training.options import group, option
from training.orpo_job import JobSettings, orpo_job
from training.scorer_data import ScorerDataset, build, split_by_group
from training.train_ae import ae_metrics, train_ae
from training.train_cnn import blended_targets, regression_metrics, train_cnn

log = logging.getLogger(__name__)
DEFAULT_PATHS = {"cnn": ScoringSettings().cnn, "ae": ScoringSettings().ae}
# Lower is better for each kind's deciding metric.
DECIDING_METRIC = {"cnn": "mae", "ae": "reconstruction_mse"}
REEMBED_BATCH = 256  # candidates embedded and staged per transaction
COMMIT_ATTEMPTS = 5  # re-tries when candidates arrive between staging and the swap


@dataclass
class RetrainSettings:
    kind: str = option("all", "what to retrain: cnn | ae | all (both scorers) | orpo (the generator)", choices=KINDS)
    db: str = option("data/diagrambot.sqlite3", "the bot's database")
    data_dir: str = option("data", "the bot's data folder (new versions go to its models/)")
    bases: int = option(400, "fresh synthetic diagrams per run")
    per_base: int = option(4, "variants (clean + degraded) per synthetic diagram")
    epochs: int = option(6, "cnn/ae: training epochs")
    lr: float = option(5e-4, "cnn/ae: learning rate")
    max_minutes: float = option(10.0, "wall-time budget of each model's training (orpo's too)")
    seed: int | None = option(None, "seed of the synthetic data (default: a fresh one each run)")
    reembed_batch: int = option(REEMBED_BATCH, "ae: candidates embedded and staged per transaction")
    orpo: JobSettings = group(JobSettings, prefix="orpo-", skip=("max_minutes",))  # its budget: max_minutes


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
        groups.append(-candidate_id)  # negative: never collides with synthetic group ids
    if not images:
        return ScorerDataset(
            np.zeros((0, 3, 96, 160), np.float32), np.zeros(0, np.float32), np.zeros(0, int), np.zeros(0, str)
        )
    return ScorerDataset(
        np.stack(images), np.array(labels, np.float32), np.array(groups), np.array(["rated"] * len(images))
    )


def _concat(a: ScorerDataset, b: ScorerDataset) -> ScorerDataset:
    return ScorerDataset(
        np.concatenate([a.images, b.images]),
        np.concatenate([a.labels, b.labels]),
        np.concatenate([a.groups, b.groups]),
        np.concatenate([a.families, b.families]),
    )


async def active_path(db: Database, kind: str) -> str:
    version = await db.active_model(kind)
    return version.path if version else str(resolve_path(DEFAULT_PATHS[kind]))


def job_id() -> int | None:
    """This job's job_runs id (env DIAGRAMBOT_JOB_ID, set by the job runner); None when run by hand."""
    value = os.environ.get(JOB_ID_ENV, "")
    return int(value) if value.isdigit() else None


async def retrain(db: Database, kind: str, data_dir: Path, args) -> dict:
    """Train one kind; activate the new version only if it validates no worse than the active one.

    `args`: a RetrainSettings (or any object with its scorer fields); `args.seed`: the synthetic
    data's seed (None: a fresh one each run, from the clock)."""
    current_path = await active_path(db, kind)
    current, current_meta = nets.load(current_path)
    seed = int(time.time()) % 10_000 if args.seed is None else args.seed
    synthetic = build(args.bases, args.per_base, seed=seed, split="train", progress=False)
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
    checkpoint("trained")
    key = DECIDING_METRIC[kind]
    better = metrics[key] <= baseline[key]
    path = nets.save(
        model,
        data_dir / "models" / f"{kind}-{nets.new_version()}",
        kind,
        {**metrics, "baseline": baseline, "rated_examples": len(rated)},
        len(train),
    )
    checkpoint("saved")
    version_id = await db.add_model_version(kind, str(path), {**metrics, "baseline": baseline}, job_id=job_id())
    checkpoint("registered")
    if kind == "ae":  # the active autoencoder and the candidates' latents change together
        if better:  # embed with the file as saved: exactly what the bot will serve
            saved, saved_meta = nets.load(path)
            await reembed(db, saved, nets.latent_version(saved_meta), version_id, args.reembed_batch)
        else:  # a bot that served it late may have left latents of another version
            await reembed(db, current, nets.latent_version(current_meta), None, args.reembed_batch)
    elif better:
        await db.activate_model_version(version_id)
    checkpoint("committed")
    return {
        "kind": kind,
        "status": "swapped" if better else "kept",
        "version_id": version_id,
        "metrics": {key: metrics[key], f"active_{key}": baseline[key], "train_size": len(train)},
    }


def _embed(model, candidates) -> list[tuple[int, np.ndarray | None]]:
    """(id, latent) per candidate; None for one whose stored diagram cannot be read or drawn."""
    pairs: list[tuple[int, np.ndarray | None]] = []
    for candidate in candidates:
        try:
            image = render_input(Diagram.from_lists(json.loads(candidate.nodes_json)))
        except Exception as error:  # noqa: BLE001 - one bad row must not stop the job
            log.warning(
                "candidate %d cannot be embedded (%s: %s); it gets no latent", candidate.id, type(error).__name__, error
            )
            pairs.append((candidate.id, None))
            continue
        pairs.append((candidate.id, nets.predict(model, image[None])[0]))
    return pairs


async def reembed(db: Database, model, version: str, activate: int | None = None, batch: int = REEMBED_BATCH) -> int:
    """Give every stored candidate a latent from autoencoder `version`, activating model version
    `activate` in the same transaction; returns how many latents changed.

    Latents are staged a page at a time (a kill leaves only staging rows, cleared here first by
    the next job), then swapped in with the activation at once; candidates stored meanwhile are
    staged before the swap, which refuses to run while any is missing."""
    await db.clear_latent_staging()
    checkpoint("staging")
    for _ in range(COMMIT_ATTEMPTS):
        after = 0
        while page := await db.unstaged_candidates(version, batch, after):
            await db.stage_latents(version, await asyncio.to_thread(_embed, model, page))
            after = page[-1].id
            checkpoint("reembedding")
        checkpoint("reembedded")
        changed = await db.commit_latents(version, activate)
        if changed is not None:
            log.info("%d candidate latents now from %s", changed, version)
            return changed
    raise RuntimeError(f"candidates kept arriving during {COMMIT_ATTEMPTS} attempts to commit {version}")


async def run_job(settings: RetrainSettings) -> dict:
    """Run the retrain `settings.kind` asks for; returns the contract's result (one dict)."""
    db = await Database.open(settings.db, settings.data_dir)
    checkpoint("opened")
    try:
        if settings.kind == "orpo":
            return await orpo_job(
                db, Path(settings.data_dir), dataclasses.replace(settings.orpo, max_minutes=settings.max_minutes)
            )
        kinds = ["cnn", "ae"] if settings.kind == "all" else [settings.kind]
        results = [await retrain(db, kind, Path(settings.data_dir), settings) for kind in kinds]
    finally:
        await db.close()
    if len(results) == 1:
        return results[0]
    swapped = [r for r in results if r["status"] == "swapped"]
    return {
        "kind": "all",
        "status": "swapped" if swapped else "kept",
        "version_id": swapped[-1]["version_id"] if swapped else None,
        "metrics": {r["kind"]: r["metrics"] for r in results},
        "results": results,
    }
