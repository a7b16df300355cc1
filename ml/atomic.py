"""Files written so that a crash or a kill never leaves one half-written under its final name.

Model weights, their metadata and stored images are all written this way: to a temporary file in
the same folder, fsynced, then renamed over the target (a rename within a folder is atomic), and
the folder fsynced so that the rename itself survives a power cut.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, content: bytes) -> None:
    """Write `content` to `path` through a fsynced temporary file in the same folder and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        folder = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return  # (not possible on every platform)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
