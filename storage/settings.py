"""The [storage] section of config.toml: where the database and the image files live.

Kept beside the repository (not in the bot) because every process that opens the
database (the bot, `diagrambot retrain`, the retrain subprocess) must agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.errors import UserError

DEFAULT_DB_PATH = "data/diagrambot.sqlite3"
DEFAULT_DATA_DIR = "data"


@dataclass
class StorageSettings:
    db_path: str = DEFAULT_DB_PATH  # SQLite file (created and migrated on first open)
    data_dir: str = DEFAULT_DATA_DIR  # folder holding images/ (content-addressed PNGs)

    def __post_init__(self) -> None:
        # An empty path would open a throwaway database (SQLite) or write into the current folder.
        for name in ("db_path", "data_dir"):
            if not str(getattr(self, name)).strip():
                raise UserError(f"config: [storage] {name} must not be empty")
