"""Preference pairs for ORPO, saved as JSONL {"prompt", "chosen", "rejected", "source", margins}.

Pairs come from two places:
- synthetic: K candidates sampled from the SFT model per synthetic request (one batched generate);
  chosen = structurally right and most readable (analytic readability, averaged with the CNN's
  when its weights load), rejected = the worst (structure wrong, else least readable); a pair is
  kept only with a clear margin;
- ratings (storage): for each request, two of its candidates rated by the same user, the
  higher-rated one chosen; ties give no pair and users are never mixed.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from training.options import option

log = logging.getLogger(__name__)

STRUCTURE_POINTS = 5.0  # a right structure outweighs any readability gap (0-5)


@dataclass
class Pair:
    """One preference: for `prompt` (the user's request), `chosen` is better than `rejected`."""

    prompt: str
    chosen: str
    rejected: str
    source: str  # synthetic | ratings
    margin: float  # chosen_score - rejected_score
    chosen_score: float  # synthetic: readability + STRUCTURE_POINTS if right; ratings: stars
    rejected_score: float
    info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def write_pairs(pairs: Iterable[Pair], path: str | os.PathLike[str]) -> int:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [pair.to_json() + "\n" for pair in pairs]
    path.write_text("".join(lines), encoding="utf-8")
    return len(lines)


def read_pairs(path: str | os.PathLike[str]) -> list[Pair]:
    return [Pair(**json.loads(line)) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def rating_pairs(rows: Iterable[Any], min_gap: int = 1) -> list[Pair]:
    """Higher- vs lower-rated candidates of one request by one user (rows: storage.RatedCandidate).

    Every two candidates of a request that the same user rated at least `min_gap` stars apart give
    one pair; equal ratings and identical texts give none, and two users' ratings are never paired.
    """
    groups: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row.user_id, row.request_id)].append(row)
    pairs = []
    for (_, request_id), rated in sorted(groups.items()):
        for a, b in itertools.combinations(sorted(rated, key=lambda r: r.candidate_id), 2):
            high, low = (a, b) if a.value >= b.value else (b, a)
            gap = high.value - low.value
            if gap == 0 or gap < min_gap or high.model_text == low.model_text:
                continue
            pairs.append(
                Pair(
                    high.request_text,
                    high.model_text,
                    low.model_text,
                    "ratings",
                    float(gap),
                    float(high.value),
                    float(low.value),
                    {
                        "request_id": request_id,
                        "chosen_candidate": high.candidate_id,
                        "rejected_candidate": low.candidate_id,
                    },
                )
            )
    return pairs


@dataclass
class PairSettings:
    k: int = option(8, "candidates sampled per synthetic request")
    min_margin: float = option(0.5, "synthetic: least chosen - rejected score (readability points)")
    min_gap: int = option(1, "ratings: least difference in stars")
    cnn: bool = option(True, "average the CNN's readability into the analytic one (--no-cnn: analytic only)")
    seed: int = option(0, "sampling seed of the first request (+1 per request)")


@dataclass(frozen=True)
class Scored:
    text: str
    parsed: bool
    structure: bool
    readability: float  # 0-5; 0 when the text does not parse

    @property
    def score(self) -> float:
        return self.readability + (STRUCTURE_POINTS if self.structure else 0.0)


class CandidateScorer:
    """Structure and readability of one request's candidates (analytic, plus the CNN if it loads)."""

    def __init__(self, use_cnn: bool = True):
        self.cnn = None
        if use_cnn:
            from ml.scoring import nets
            from ml.scoring.ranking import ScoringSettings, resolve_path

            path = resolve_path(ScoringSettings().cnn)
            if path.exists():
                self.cnn, _ = nets.load(path)
            else:
                log.warning("CNN weights %s missing: pairs are scored by analytic readability only", path)

    def score(self, texts: Sequence[str], family: str, spec: dict) -> list[Scored]:
        from ml.diagram import Diagram
        from ml.parser import ParseError, parse
        from ml.readability import readability
        from training.structure import structure_ok

        diagrams: list[Diagram | None] = []
        for text in texts:
            try:
                diagrams.append(parse(text).diagram)
            except ParseError:
                diagrams.append(None)
        parsed = [d for d in diagrams if d is not None]
        values = [readability(d).score for d in parsed]
        if self.cnn is not None and parsed:
            from ml.scoring import nets
            from ml.scoring.images import batch, render_input

            cnn = nets.predict(self.cnn, batch([render_input(d) for d in parsed]))
            values = [(a + min(max(float(c), 0.0), 5.0)) / 2 for a, c in zip(values, cnn)]
        by_diagram = iter(values)
        return [
            Scored(text, False, False, 0.0)
            if d is None
            else Scored(text, True, structure_ok(d, family, spec), next(by_diagram))
            for text, d in zip(texts, diagrams)
        ]


def choose_pair(request: str, scored: Sequence[Scored], min_margin: float, info: dict | None = None) -> Pair | None:
    """Best structurally right candidate vs the worst one, if they are a clear margin apart."""
    ranked = sorted(scored, key=lambda s: s.score)
    if not ranked:
        return None
    chosen, rejected = ranked[-1], ranked[0]
    margin = chosen.score - rejected.score
    if not chosen.structure or chosen.text == rejected.text or margin < min_margin:
        return None
    return Pair(
        request,
        chosen.text,
        rejected.text,
        "synthetic",
        round(margin, 4),
        round(chosen.score, 4),
        round(rejected.score, 4),
        {
            **(info or {}),
            "chosen_structure": chosen.structure,
            "rejected_structure": rejected.structure,
            "chosen_readability": round(chosen.readability, 4),
            "rejected_readability": round(rejected.readability, 4),
        },
    )


def synthetic_pairs(
    generator, examples, settings: PairSettings, scorer: CandidateScorer | None = None, progress: bool = True
) -> list[Pair]:
    """Sample `settings.k` candidates per example (one batched generate each) and keep the clear pairs."""
    from tqdm import tqdm

    scorer = scorer or CandidateScorer(settings.cnn)
    pairs, right = [], 0
    for i, example in enumerate(tqdm(examples, desc="pairs", disable=not progress)):
        texts = generator.generate(example.request, settings.k, seed=settings.seed + i)
        scored = scorer.score(texts, example.family, example.spec)
        right += any(s.structure for s in scored)
        pair = choose_pair(
            example.request,
            scored,
            settings.min_margin,
            {"family": example.family, "structure_rate": sum(s.structure for s in scored) / len(scored)},
        )
        if pair is not None:
            pairs.append(pair)
    log.info("%d requests: %d with a structurally right candidate, %d pairs kept", len(examples), right, len(pairs))
    return pairs


def stored_rating_pairs(
    db_path: str | os.PathLike[str], data_dir: str | os.PathLike[str] = "", min_gap: int = 1
) -> list[Pair]:
    """`rating_pairs` over the ratings in a database file (its data folder: `data_dir`, else beside it)."""
    import asyncio

    from storage import Database

    async def rows():
        db = await Database.open(db_path, data_dir or Path(db_path).parent)
        try:
            return await db.rated_candidates()
        finally:
            await db.close()

    return rating_pairs(asyncio.run(rows()), min_gap)
