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
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from typing import Callable

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
    latent: np.ndarray | None = None       # autoencoder embedding, once the learned scorers ran
    latent_version: str | None = None      # which autoencoder made it
    personal: object | None = None         # ml.scoring.personal.Prediction: source and neighbours
    repeat_of: int | None = None           # the rank of an earlier candidate that draws the same diagram

    @property
    def ok(self) -> bool:
        return self.diagram is not None

    @property
    def final(self) -> float:
        return self.scores.get("final_score", float("-inf"))

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.image.save(buffer, format="PNG")
        return buffer.getvalue()

    def to_json(self, image_path: str | None = None) -> dict:
        return {"rank": self.rank, "text": self.text,
                "nodes": self.diagram.as_lists() if self.diagram else None,
                "canonical": serialize(self.diagram) if self.diagram else None,
                "scores": {k: round(v, 4) for k, v in self.scores.items()},
                "image": image_path, "warnings": self.warnings, "error": self.error, "repeat_of": self.repeat_of,
                "personal": ({"source": self.personal.source, "neighbours": self.personal.neighbours}
                             if self.personal is not None else None)}


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
        report = readability(candidate.diagram)
        candidate.scores["readability"] = report.score
        candidate.scores.update({f"metric_{k}": v for k, v in report.metrics.items()})
        candidate.scores.setdefault("final_score", report.score)


def check_request(request: str) -> str:
    """The request with whitespace tidied (line breaks kept for bullet lists); RequestError if unusable."""
    lines = (" ".join(line.split()) for line in (request or "").strip().splitlines())
    request = "\n".join(line for line in lines if line)
    if not request:
        raise RequestError("the request is empty: describe the model or process to draw")
    if len(request) > MAX_REQUEST_CHARS:
        raise RequestError(f"the request is {len(request)} characters long; the limit is {MAX_REQUEST_CHARS}")
    return request


def distinct_first(ranked: list[Candidate]) -> list[Candidate]:
    """The ranking with repeats moved behind every distinct diagram, so the top few shown all differ.

    Samples often repeat one another exactly (same canonical text). A repeat stays in the list
    (nothing is lost), marked with the rank of the one it repeats (`repeat_of`), but never above a
    distinct one; `Result.distinct` leaves repeats out.
    """
    first: dict[str, Candidate] = {}
    distinct, repeats = [], []
    for candidate in ranked:
        key = serialize(candidate.diagram) if candidate.ok else None
        if key is not None and key in first:
            repeats.append((candidate, first[key]))
            continue
        if key is not None:
            first[key] = candidate
        distinct.append(candidate)
    ordered = [c for c in distinct if c.ok] + [c for c, _ in repeats] + [c for c in distinct if not c.ok]
    for rank, candidate in enumerate(ordered, start=1):
        candidate.rank = rank
    for candidate, original in repeats:
        candidate.repeat_of = original.rank
    return ordered


def run(request: str, generator: Generator, n: int = 8, scorers: list[Scorer] | None = None,
        seed: int | None = None, progress: Callable[[str], None] | None = None) -> Result:
    """Generate n candidates and return them all, best first (rank 1)."""
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
        candidate.image = render(parsed.diagram)
    timings["parse_render_s"] = time.perf_counter() - start
    start = time.perf_counter()
    good = [c for c in candidates if c.ok]
    for scorer in scorers or [readability_scorer]:
        if good:
            scorer(good)
    diagrams = [c.diagram for c in good]
    for candidate, share, grounded in zip(good, agreement(diagrams), grounding_of_candidates(request, diagrams)):
        candidate.scores["agreement"] = share
        candidate.scores["grounding"] = round(grounded, 2)  # near-equal grounding: a tie for agreement
    timings["score_s"] = time.perf_counter() - start
    candidates.sort(key=lambda c: (not c.ok, -c.scores.get("grounding", 0.0), -c.scores.get("agreement", 0.0),
                                   -c.final))
    candidates = distinct_first(candidates)
    return Result(request, getattr(generator, "name", type(generator).__name__), candidates, timings)
