"""request -> generate -> parse -> render -> score -> rank: the product's one data path.

Candidates are ranked by what was asked first, then by how they look:
1. grounding (ml/grounding.py): how well the sizes and names drawn match the request's;
2. agreement (ml/consensus.py): how many other samples draw the same structure;
3. the scorers' final score: analytic readability, or the learned CNN and personal scores.
Correctness comes before taste: a tidy diagram of the wrong network is no use to anyone. On the
held-out split, ranking by grounding first picked a right diagram for 102 of 150 requests, against
77 by agreement alone (tiny-v6's samples; 104 had at least one right candidate among 8). With
tiny-v8's samples it picked a right one for 110 of the 111 requests that had one.
A candidate that does not parse is kept (with its error) and ranked last, so that nothing the
model wrote is lost and the user can see why.

Taste (the personal term in the final score) therefore only reorders candidates that are equally
right: same grounding and agreement. Among those, the few that are shown can also be chosen to
teach the bot something (`Exploration`): a user rates only what is shown, so when every shown
diagram has arrows, no rating says whether this user likes arrows. One slot of the shown few goes
to the equally right candidate whose style (ml/scoring/style.py) differs most from the others
shown, if its final score is within a margin of the best; the best stays first.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from ml.consensus import agreement
from ml.diagram import Diagram
from ml.generator import Generator
from ml.grounding import grounding_of_candidates
from ml.parser import ParseError, parse, serialize
from ml.prompt import MAX_REQUEST_CHARS
from ml.readability import readability
from ml.render import render
from ml.scores import Score
from ml.scoring import style
from ml.scoring.settings import EXPLORE_METHODS, ScoringSettings

if TYPE_CHECKING:
    from ml.scoring.personal import Prediction

# A scorer adds named scores to every parsed candidate and may set "final_score".
Scorer = Callable[[list["Candidate"]], None]


class RequestError(ValueError):
    """The request itself is unusable (empty, too long): nothing was generated."""


@dataclass
class Candidate:
    text: str
    diagram: Diagram | None = None
    image: Image.Image | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    scores: dict[str, float] = field(default_factory=dict)
    rank: int = 0
    latent: np.ndarray | None = None  # autoencoder embedding, once the learned scorers ran
    latent_version: str | None = None  # which autoencoder made it
    personal: Prediction | None = None  # the user's predicted rating: source and neighbours
    repeat_of: int | None = None  # the rank of an earlier candidate that draws the same diagram
    style: np.ndarray | None = None  # style features (ml/scoring/style.py), once parsed
    explored: bool = False  # shown for what its rating will teach (Exploration), not its score

    @property
    def ok(self) -> bool:
        return self.diagram is not None

    @property
    def drawn(self) -> Diagram:
        """The diagram of a candidate that parsed (callers keep to `ok` candidates)."""
        if self.diagram is None:
            raise ValueError(f"candidate {self.rank} did not parse: {self.error}")
        return self.diagram

    @property
    def final(self) -> float:
        return self.scores.get(Score.FINAL, float("-inf"))

    def png(self) -> bytes:
        if self.image is None:
            raise ValueError(f"candidate {self.rank} has no picture: it did not parse")
        buffer = io.BytesIO()
        self.image.save(buffer, format="PNG")
        return buffer.getvalue()

    def to_json(self, image_path: str | None = None) -> dict:
        return {
            "rank": self.rank,
            "text": self.text,
            "nodes": self.diagram.as_lists() if self.diagram else None,
            "canonical": serialize(self.diagram) if self.diagram else None,
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "image": image_path,
            "warnings": self.warnings,
            "error": self.error,
            "repeat_of": self.repeat_of,
            "explored": self.explored,
            "personal": (
                {
                    "source": self.personal.source,
                    "neighbours": self.personal.neighbours,
                    "model": getattr(self.personal, "model", None),
                }
                if self.personal is not None
                else None
            ),
        }


@dataclass
class Result:
    request: str
    model: str
    candidates: list[Candidate]
    timings: dict[str, float]

    @property
    def parsed(self) -> list[Candidate]:
        return [c for c in self.candidates if c.ok]

    @property
    def distinct(self) -> list[Candidate]:
        """Parsed candidates less repeats, best first: what is worth showing."""
        return [c for c in self.candidates if c.ok and c.repeat_of is None]


def readability_scorer(candidates: list[Candidate]) -> None:
    """Analytic readability (0-5) as the final score, with each metric kept."""
    for candidate in candidates:
        report = readability(candidate.drawn)
        candidate.scores[Score.READABILITY] = report.score
        candidate.scores.update({f"metric_{k}": v for k, v in report.metrics.items()})
        candidate.scores.setdefault(Score.FINAL, report.score)


def check_request(request: str) -> str:
    """The request with whitespace tidied (line breaks kept for bullet lists); RequestError if unusable."""
    lines = (" ".join(line.split()) for line in (request or "").strip().splitlines())
    request = "\n".join(line for line in lines if line)
    if not request:
        raise RequestError("the request is empty: describe the model or process to draw")
    if len(request) > MAX_REQUEST_CHARS:
        raise RequestError(f"the request is {len(request)} characters long; the limit is {MAX_REQUEST_CHARS}")
    return request


@dataclass(frozen=True)
class Exploration:
    """How the `shown` first places are filled among equally right candidates ([scoring] explore*).

    method "none": by final score. "slot": the best `shown - 1` by final score, then the one whose
    style differs most from theirs. "mmr": maximal marginal relevance, each next place to the
    best final score + `weight` x its style distance to those already placed. Either only considers
    candidates whose final score is within `margin` of the best one's, and never one less right.
    """

    method: str = "slot"
    shown: int = 3
    margin: float = 1.0
    weight: float = 5.0  # "mmr": final-score points per unit of style distance

    def __post_init__(self) -> None:
        if self.method not in EXPLORE_METHODS:
            raise ValueError(f"unknown exploration {self.method!r}; one of {', '.join(EXPLORE_METHODS)}")

    @classmethod
    def configured(cls, settings: ScoringSettings, shown: int = 3) -> Exploration:
        """The exploration [scoring] asks for, for a request that shows `shown` diagrams."""
        return cls(settings.explore, shown, settings.explore_margin, settings.explore_weight)


NO_EXPLORATION = Exploration("none")


def _style(candidate: Candidate) -> np.ndarray:
    if candidate.style is None:
        candidate.style = style.features(candidate.drawn)
    return candidate.style


def _spread(candidate: Candidate, placed: list[Candidate]) -> float:
    """How far a candidate's style is from the nearest of those already placed."""
    return min(style.distance(_style(candidate), _style(p)) for p in placed)


def explore(ordered: list[Candidate], settings: Exploration) -> list[Candidate]:
    """The distinct parsed candidates, best first, with the first `shown` places chosen by `settings`.

    Only candidates as right as the first (same grounding and agreement) and within `margin` of
    its final score move; the first never does.
    """
    if settings.method == "none" or settings.shown < 2 or len(ordered) <= 2:
        return ordered
    best = ordered[0]
    tier_key = (best.scores.get(Score.GROUNDING, 0.0), best.scores.get(Score.AGREEMENT, 0.0))
    tier = [c for c in ordered if (c.scores.get(Score.GROUNDING, 0.0), c.scores.get(Score.AGREEMENT, 0.0)) == tier_key]
    eligible = [c for c in tier[1:] if c.final >= best.final - settings.margin]
    if not eligible:
        return ordered
    placed = [best]
    if settings.method == "slot":
        if len(tier) <= settings.shown:  # every equally right one is shown anyway
            return ordered
        placed = tier[: settings.shown - 1]
        greedy = tier[settings.shown - 1]
        rest = [c for c in eligible if all(c is not p for p in placed)]
        if not rest:
            return ordered
        pick = max(rest, key=lambda c: (round(_spread(c, placed), 6), c.final))
        if _spread(pick, placed) <= _spread(greedy, placed) + 1e-9:
            return ordered
        pick.explored = True
        placed = placed + [pick]
    else:
        rest = list(eligible)
        while len(placed) < settings.shown and rest:
            pick = max(rest, key=lambda c: c.final + settings.weight * _spread(c, placed))
            rest = [c for c in rest if c is not pick]
            pick.explored = pick is not tier[len(placed)]
            placed.append(pick)
    return placed + [c for c in ordered if all(c is not p for p in placed)]


def distinct_first(ranked: list[Candidate], exploration: Exploration | None = None) -> list[Candidate]:
    """The ranking with repeats moved behind every distinct diagram, so the top few shown all differ.

    Samples often repeat one another exactly (same canonical text). A repeat stays in the list
    (nothing is lost), marked with the rank of the one it repeats (`repeat_of`), but never above a
    distinct one; `Result.distinct` leaves repeats out. With `exploration`, the first places among
    the distinct ones are then chosen by it (`explore`).
    """
    first: dict[str, Candidate] = {}
    distinct, repeats = [], []
    for candidate in ranked:
        key = serialize(candidate.drawn) if candidate.ok else None
        if key is not None and key in first:
            repeats.append((candidate, first[key]))
            continue
        if key is not None:
            first[key] = candidate
        distinct.append(candidate)
    parsed = [c for c in distinct if c.ok]
    if exploration is not None:
        parsed = explore(parsed, exploration)
    ordered = parsed + [c for c, _ in repeats] + [c for c in distinct if not c.ok]
    for rank, candidate in enumerate(ordered, start=1):
        candidate.rank = rank
    for candidate, original in repeats:
        candidate.repeat_of = original.rank
    return ordered


def rank(candidates: list[Candidate], exploration: Exploration | None = None) -> list[Candidate]:
    """Scored candidates best first: grounding, agreement, final score; repeats behind; the shown
    first places picked by `exploration` (ranks set)."""
    for candidate in candidates:
        candidate.explored = False
    ordered = sorted(
        candidates,
        key=lambda c: (not c.ok, -c.scores.get(Score.GROUNDING, 0.0), -c.scores.get(Score.AGREEMENT, 0.0), -c.final),
    )
    return distinct_first(ordered, exploration)


def run(
    request: str,
    generator: Generator,
    n: int = 8,
    scorers: list[Scorer] | None = None,
    seed: int | None = None,
    progress: Callable[[str], None] | None = None,
    exploration: Exploration | None = None,
) -> Result:
    """Generate n candidates and return them all, best first (rank 1).

    `exploration`: how the first few shown are picked among equally right candidates (default:
    `Exploration()`, one slot of three for a different style; `NO_EXPLORATION` for score order)."""
    request = check_request(request)
    progress = progress or (lambda stage: None)
    timings: dict[str, float] = {}
    progress("generating")
    start = time.perf_counter()
    texts = generator.generate(request, n, seed)
    timings["generate_s"] = time.perf_counter() - start

    progress("scoring")
    start = time.perf_counter()
    candidates = [Candidate(text) for text in texts]
    for candidate in candidates:
        try:
            parsed = parse(candidate.text)
        except ParseError as error:
            candidate.error = str(error)
            continue
        candidate.diagram, candidate.warnings = parsed.diagram, parsed.warnings
        candidate.style = style.features(parsed.diagram)
        candidate.image = render(parsed.diagram)
    timings["parse_render_s"] = time.perf_counter() - start
    start = time.perf_counter()
    good = [c for c in candidates if c.ok]
    for scorer in scorers or [readability_scorer]:
        if good:
            scorer(good)
    diagrams = [c.drawn for c in good]
    for candidate, share, grounded in zip(good, agreement(diagrams), grounding_of_candidates(request, diagrams)):
        candidate.scores[Score.AGREEMENT] = share
        candidate.scores[Score.GROUNDING] = round(grounded, 2)  # near-equal grounding: a tie for agreement
    timings["score_s"] = time.perf_counter() - start
    candidates = rank(candidates, Exploration() if exploration is None else exploration)
    return Result(request, getattr(generator, "name", type(generator).__name__), candidates, timings)
