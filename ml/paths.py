"""Where the shipped files are (models/, examples/), and how a configured path is found.

One place computes it: the folder that holds the `ml` package also holds `models/` and
`examples/`, in a checkout and after `pip install .` alike (pyproject.toml ships them as data).
"""

from __future__ import annotations

from pathlib import Path

INSTALL_ROOT = Path(__file__).resolve().parent.parent  # the checkout, or site-packages
MODELS = INSTALL_ROOT / "models"
EXAMPLES = INSTALL_ROOT / "examples"
EMBEDDED_MODEL = MODELS / "tiny-sft"
EMBEDDED_PLANNER = MODELS / "planner"
SHIPPED_SCORERS = MODELS / "scorers"


def resolve(path: str | Path) -> Path:
    """A configured path as given when it exists or is absolute (relative to the working folder);
    otherwise the shipped file of that name ("models/tiny-sft" from any folder, after any install)."""
    given = Path(path)
    if given.is_absolute() or given.exists():
        return given
    shipped = INSTALL_ROOT / given
    return shipped if shipped.exists() else given
