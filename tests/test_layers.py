"""The code's one way down, enforced: which package may import which, and no import circles.

    ml  <-  storage  <-  training  <-  bot  <-  diagrambot (the CLI and config: the roof)

Each package imports only the packages to its left. `ml` (the drawing core and its models)
imports nothing of ours, so it runs anywhere; `storage` keeps diagrams and ratings and checks
imported node lists with ml's parser; `training` fits ml's models on storage's data; `bot` is the
Discord front end; only `diagrambot` wires everything together. Every import counts, including
those inside functions and under TYPE_CHECKING: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["ml", "storage", "training", "bot", "diagrambot"]  # each may import those before it


def modules() -> dict[str, Path]:
    found = {}
    for package in ORDER:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def imports_of(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Our modules that `name` imports (a `from package import module` counts as the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def test_each_package_imports_only_the_packages_below_it():
    wrong = []
    for name, targets in graph().items():
        rank = ORDER.index(name.split(".")[0])
        wrong += [f"{name} imports {t}" for t in targets if ORDER.index(t.split(".")[0]) > rank]
    assert wrong == []


def test_no_module_imports_itself_through_others():
    edges = graph()
    circles, done, path = [], set(), []

    def visit(name: str) -> None:  # depth-first; a module met again on the current path closes a circle
        if name in path:
            circles.append(path[path.index(name) :] + [name])
            return
        if name in done:
            return
        path.append(name)
        for target in sorted(edges[name]):
            visit(target)
        path.pop()
        done.add(name)

    for name in sorted(edges):
        visit(name)
    assert circles == []


def test_the_layer_check_sees_a_lazy_import(tmp_path):
    """The checker itself: an import from a higher layer inside a function is caught."""
    known = {"ml.x": Path("ml/x.py"), "bot.y": Path("bot/y.py"), "bot": Path("bot/__init__.py")}
    source = tmp_path / "x.py"
    source.write_text("def f():\n    from bot.y import thing\n    from bot import y\n", encoding="utf-8")
    assert imports_of("ml.x", source, known) == {"bot", "bot.y"}


def test_drawing_commands_do_not_load_torch(tmp_path):
    """`diagrambot render`, `score` and `db` start fast: torch (seconds, hundreds of MB) is never imported."""
    from test_storage_cli import populate  # a database with requests, candidates, posts and ratings

    db, data = tmp_path / "db.sqlite3", tmp_path / "data"
    populate(db, data)
    script = f"""
import sys
from diagrambot.cli import main
codes = [main(["render", "examples/dense_network.txt", "-o", r"{tmp_path / "x.png"}"]),
         main(["score", "examples/cnn_layers.txt"]),
         main(["db", "stats", "--db", r"{db}", "--data-dir", r"{data}"])]
heavy = sorted({{m.split(".")[0] for m in sys.modules}} & {{"torch", "transformers", "sklearn", "discord"}})
print("HEAVY", codes, heavy)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "HEAVY [0, 0, 0] []"  # every command ran to the end, `db stats` included
    stats = json.loads(lines[-2])  # what `db stats` printed: it read the database
    assert stats["path"] == str(db) and stats["bytes"] > 0
    assert {k: v for k, v in stats.items() if k in ("users", "requests", "candidates", "ratings")} == {
        "users": 2,
        "requests": 2,
        "candidates": 2,
        "ratings": 3,
    }
