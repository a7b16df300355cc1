"""Plain, immutable records returned by the repository.

Callers get these instead of raw rows so that nothing outside ``storage/``
depends on column order or SQL types. Times are UTC ISO-8601 strings with
microseconds (``2025-01-31T12:00:00.000000+00:00``): readable in exports and
ordered correctly as text. User ids are strings (Discord ids or names such as
``"cli"``); message, channel and guild ids are ints (Discord snowflakes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

RequestStatus = Literal["queued", "running", "done", "failed"]
JobStatus = Literal["running", "ok", "failed", "interrupted"]

REQUEST_STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed")
# interrupted: the process running the job died (found at the next start-up), nothing was recorded.
JOB_STATUSES: tuple[str, ...] = ("running", "ok", "failed", "interrupted")
RATING_MIN, RATING_MAX = 1, 5


@dataclass(frozen=True)
class User:
    id: str
    name: str | None
    created: str


@dataclass(frozen=True)
class Request:
    id: int
    uid: str
    user_id: str
    guild_id: int | None
    channel_id: int | None
    text: str
    created: str
    status: str
    error: str | None
    finished: str | None
    remix_of: int | None = None  # the request this one was remixed from (the Remix button)


@dataclass(frozen=True)
class StoredCandidate:
    id: int
    uid: str
    request_id: int
    rank: int
    model_text: str
    nodes_json: str
    image_path: str | None  # relative to the data dir
    image_sha256: str | None
    readability: float | None
    cnn_score: float | None
    user_score: float | None
    final_score: float | None
    scores: dict[str, Any] = field(compare=False)
    latent: np.ndarray | None = field(compare=False, repr=False)
    latent_model_version: str | None = None


@dataclass(frozen=True)
class Post:
    message_id: int
    channel_id: int
    candidate_id: int
    created: str


@dataclass(frozen=True)
class Rating:
    user_id: str
    candidate_id: int
    value: int
    created: str
    updated: str


@dataclass(frozen=True)
class UserRating:
    """A user's rating joined with what ranking learns from: the rated candidate's latent (k-NN),
    its node list (style features) and its request (the diagrams shown together)."""

    candidate_id: int
    value: int
    updated: str
    latent: np.ndarray | None = field(compare=False, repr=False)
    latent_model_version: str | None = None
    nodes_json: str | None = field(default=None, compare=False, repr=False)
    request_id: int | None = None


@dataclass(frozen=True)
class RatedCandidate:
    """One user's rating of one candidate, with the model's text and its request's text.

    Two of these with the same user and request make a preference pair (training/orpo_pairs.py).
    """

    user_id: str
    request_id: int
    request_text: str
    candidate_id: int
    model_text: str
    value: int


@dataclass(frozen=True)
class ModelVersion:
    id: int
    kind: str
    path: str
    metrics: dict[str, Any] = field(compare=False)
    created: str = ""
    active: bool = False
    job_id: int | None = None  # the job that trained it (None: registered by hand or by older code)


@dataclass(frozen=True)
class JobRun:
    id: int
    kind: str
    started: str
    finished: str | None
    status: str
    log: str | None
    owner: str | None = None  # "host:pid" of the process running it (None: older code)
