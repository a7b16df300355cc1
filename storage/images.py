"""Content-addressed PNG files under the data directory.

A file is named by the sha256 of its bytes (``images/ab/abcd....png``), so the
same picture is stored once however many candidates show it, and a name in the
database can be checked against the file. The store knows nothing about the
database: deciding whether a hash is still referenced is the caller's job.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path

from ml.atomic import write_atomically

log = logging.getLogger(__name__)

IMAGES_DIR = "images"
_SHA256 = re.compile(r"[0-9a-f]{64}")


class ImageStore:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)

    @staticmethod
    def digest(content: bytes) -> str:
        return hashlib.sha256(content).hexdigest()

    @staticmethod
    def relative_path(sha256: str) -> str:
        """Path relative to the data dir; sharded by the first two hex digits."""
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        return f"{IMAGES_DIR}/{sha256[:2]}/{sha256}.png"

    def path(self, relative: str) -> Path:
        return self.data_dir / relative

    def put(self, content: bytes) -> tuple[str, str]:
        """Store ``content`` if new; return ``(sha256, relative_path)``.

        Written to a temporary file, fsynced and renamed, so a crash never
        leaves a truncated file under a valid content name.
        """
        sha = self.digest(content)
        relative = self.relative_path(sha)
        target = self.path(relative)
        if target.exists():
            return sha, relative
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, content)
        log.debug("stored image %s", relative)
        return sha, relative

    def read(self, sha256: str) -> bytes | None:
        target = self.path(self.relative_path(sha256))
        try:
            return target.read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, sha256: str) -> bool:
        return self.path(self.relative_path(sha256)).exists()

    def delete(self, sha256: str) -> bool:
        """Remove the file for ``sha256``; return whether it existed."""
        target = self.path(self.relative_path(sha256))
        try:
            target.unlink()
        except FileNotFoundError:
            return False
        log.debug("deleted image %s", target)
        return True
