"""Persistence for diagrambot: SQLite (aiosqlite) plus content-addressed image files.

Everything that reads or writes the database goes through ``Database``; no
SQL lives outside this package.
"""

from .db import Database, NotFoundError, is_busy, utc_now
from .images import ImageStore
from .models import (
    JobRun,
    ModelVersion,
    Post,
    RatedCandidate,
    Rating,
    Request,
    StoredCandidate,
    User,
    UserRating,
)
from .schema import LATEST_VERSION, SchemaTooNewError

__all__ = [
    "StoredCandidate",
    "Database",
    "ImageStore",
    "JobRun",
    "LATEST_VERSION",
    "ModelVersion",
    "NotFoundError",
    "Post",
    "RatedCandidate",
    "Rating",
    "Request",
    "SchemaTooNewError",
    "User",
    "UserRating",
    "is_busy",
    "utc_now",
]
