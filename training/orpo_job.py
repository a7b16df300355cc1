"""The ratings job (`python -m training.retrain --kind orpo`): tune the serving generator with ORPO
on pairs from the users' ratings, and serve it only if it checks no worse."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from pathlib import Path

from training.options import option
from training.orpo_pairs import rating_pairs, write_pairs
from training.orpo_trainer import ORPOSettings, train

GENERATOR_KIND = "generator"  # model_versions.kind of a tuned generator


@dataclass
class JobSettings:
    min_pairs: int = option(16, "fewer rating pairs than this train nothing (the old generator stays)")
    min_gap: int = option(1, "least difference in stars for a rating pair")
    max_steps: int = option(200, "ORPO optimizer steps")
    max_minutes: float = option(60.0, "ORPO wall-time budget")
    check_requests: int = option(24, "synthetic validation requests for the no-worse structure check")
    seed: int = option(0, "seed of the training and of the check")


def structure_check(model: str, examples, seed: int = 0) -> dict:
    """Exact-structure rate and readability of one sampled candidate per example (training/evaluate)."""
    from ml.generator import GeneratorSettings, LocalGenerator
    from training.evaluate import evaluate_model

    return evaluate_model(LocalGenerator(GeneratorSettings(model=model)), examples, seed)["all"]


async def orpo_job(db, data_dir: Path, job: JobSettings) -> dict:
    """Tune the serving generator on the users' ratings; activate it only if it checks no worse.

    The base is the active generator version (else the embedded model). The new model is
    activated when its exact-structure rate on `check_requests` synthetic validation requests is
    no lower than the base's (same requests, same seeds). Returns the retrain contract's JSON.
    """
    from ml.paths import EMBEDDED_MODEL
    from training.synthetic import generate

    pairs = rating_pairs(await db.rated_candidates(), job.min_gap)
    active = await db.active_model(GENERATOR_KIND)
    base = active.path if active and Path(active.path).exists() else str(EMBEDDED_MODEL)
    if len(pairs) < job.min_pairs:
        return {
            "kind": "orpo",
            "status": "kept",
            "version_id": None,
            "metrics": {"pairs": len(pairs)},
            "message": f"only {len(pairs)} rating pairs (need {job.min_pairs}); the generator stays as it is",
        }
    out = stamped = Path(data_dir) / "models" / f"{GENERATOR_KIND}-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in itertools.count(2):
        if not out.exists():
            break
        out = stamped.with_name(f"{stamped.name}-{n}")
    write_pairs(pairs, out / "pairs.jsonl")
    final, record = train(
        ORPOSettings(
            model=base,
            pairs=str(out / "pairs.jsonl"),
            out=str(out),
            max_steps=job.max_steps,
            max_minutes=job.max_minutes,
            seed=job.seed,
        ),
        progress=False,
    )
    examples = generate(job.check_requests, "val", seed=job.seed)
    old, new = structure_check(base, examples, job.seed), structure_check(str(final), examples, job.seed)
    better = new["structure"] >= old["structure"]
    metrics = {
        "pairs": record["pairs"],
        "structure": new["structure"],
        "active_structure": old["structure"],
        "readability": new["readability"],
        "active_readability": old["readability"],
        "eval_loss_before": record["eval_before"].get("eval_loss"),
        "eval_loss_after": record["eval_after"].get("eval_loss"),
        "peak_memory_mb": record["memory"]["peak_mb"],
    }
    version_id = await db.add_model_version(GENERATOR_KIND, str(final), {**metrics, "base": base}, activate=better)
    return {"kind": "orpo", "status": "swapped" if better else "kept", "version_id": version_id, "metrics": metrics}
