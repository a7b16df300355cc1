"""Every command the docs show still parses: a renamed flag, subcommand or choice fails here.

The documents: README.md, bot/README.md, docs/*.md and every model card (models/*/README.md,
found by glob, so a new card is covered when it lands). The commands: each line of a fenced code
block, and each inline code span, that starts a program of this project (`python -m <one of our
packages>`, `python bench/….py`, `diagrambot …`, with or without `.venv/bin/`), with `\\`
continuations joined; and in fenced blocks, `make TARGET` lines.

Concrete command lines are read by the program's own argparse parser, for real (flags, types,
choices, required arguments) and then stopped before any work (tests/cli_dry_run.py, one process
for all). A synopsis (`[--seed S]`, `stats|export`) and an inline span (which may hold a
placeholder such as `--limit N`) are checked by name: every option exists for the subcommand it
follows, and a listed `a|b` value is among the option's choices. `make` lines run as `make -n`.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ml", "storage", "training", "bot", "diagrambot")
PYTHON = re.compile(r"^(?:\.venv/bin/)?python3?$")
DIAGRAMBOT = re.compile(r"^(?:\.venv/bin/)?diagrambot$")


def documents() -> list[Path]:
    found = [ROOT / "README.md", ROOT / "bot" / "README.md"]
    found += sorted((ROOT / "docs").glob("*.md")) + sorted((ROOT / "models").glob("*/README.md"))
    return [path for path in found if path.is_file()]


@dataclass(frozen=True)
class Command:
    source: str  # file:line
    text: str
    words: tuple[str, ...]
    synopsis: bool  # placeholders possible: check names only

    def __str__(self) -> str:
        return f"{self.source}: {self.text}"


def _fenced_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) inside ``` blocks, `\\` continuations and indented synopsis
    continuations joined onto their first line."""
    lines, inside, out = text.splitlines(), False, []
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith("```"):
            inside = not inside
            continue
        if not inside:
            continue
        if out and (out[-1][1].endswith("\\") or (line.startswith(" ") and line.lstrip().startswith("["))):
            out[-1] = (out[-1][0], out[-1][1].removesuffix("\\").rstrip() + " " + line.strip())
        else:
            out.append((number, line.strip()))
    return out


def _inline_spans(text: str) -> list[tuple[int, str]]:
    spans = []
    prose = re.sub(r"```.*?```", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    for match in re.finditer(r"`([^`]+)`", prose):
        spans.append((prose.count("\n", 0, match.start()) + 1, " ".join(match.group(1).split())))
    return spans


def _words(line: str) -> list[str] | None:
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return None


def _ours(words: list[str]) -> bool:
    if not words:
        return False
    if DIAGRAMBOT.match(words[0]):
        return True
    if not PYTHON.match(words[0]) or len(words) < 2:
        return False
    if words[1] == "-m":
        return len(words) > 2 and words[2].split(".")[0] in PACKAGES
    return words[1].endswith(".py") and (ROOT / words[1]).is_file()


def commands() -> list[Command]:
    found = []
    for path in documents():
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(ROOT))
        for number, line in _fenced_lines(text):
            words = _words(line)
            if words and (_ours(words) or words[0] == "make"):
                synopsis = any(("[" in w or "|" in w) for w in words)
                found.append(Command(f"{name}:{number}", line, tuple(words), synopsis))
        for number, span in _inline_spans(text):
            words = _words(span)
            if words and _ours(words):
                found.append(Command(f"{name}:{number}", span, tuple(words), True))
    return found


def _expand(words: tuple[str, ...]) -> list[list[str]]:
    """A synopsis as argument lists: brackets dropped, and one list per alternative of a
    positional `a|b|c` (a subcommand or a placeholder); an option's `a|b` value stays whole."""
    plain = [w.strip("[]") for w in words]
    plain = [w for w in plain if w]
    slots = []
    for i, word in enumerate(plain):
        after_option = i > 0 and plain[i - 1].startswith("-")
        slots.append([word] if after_option or "|" not in word else word.split("|"))
    return [list(choice) for choice in itertools.product(*slots)]


def _program(words: list[str]) -> tuple[dict, list[str]]:
    if DIAGRAMBOT.match(words[0]):
        return {"module": "diagrambot"}, words[1:]
    if words[1] == "-m":
        return {"module": words[2]}, words[3:]
    return {"path": words[1]}, words[2:]


def test_the_docs_show_commands_of_every_kind():
    found = commands()
    sources = {c.source.split(":")[0] for c in found}
    # The README's command line, re-create commands and benches, the bot's start, and the model cards'.
    assert {"README.md", "bot/README.md", "models/tiny-sft/README.md", "models/tiny-orpo/README.md"} <= sources
    assert {"models/scorers/README.md"} <= sources  # its commands are inline, in a table
    texts = [c.text for c in found]
    assert any(t.startswith("diagrambot generate") for t in texts)
    assert any("training.sft_gpu train" in t for t in texts) and any(t.startswith("make ") for t in texts)


def test_every_documented_command_parses(tmp_path):
    found = [c for c in commands() if c.words[0] != "make"]
    batch, owners = [], []
    for command in found:
        for argv in _expand(command.words) if command.synopsis else [list(command.words)]:
            program, rest = _program(argv)
            batch.append({**program, "argv": rest, "mode": "names" if command.synopsis else "parse"})
            owners.append(command)
    source = tmp_path / "commands.json"
    source.write_text(json.dumps(batch), encoding="utf-8")
    results = _dry_run(source)
    assert len(results) == len(batch)
    failures = [f"{owner}\n    -> {result['error']}" for owner, result in zip(owners, results) if not result["ok"]]
    assert not failures, "documented commands that no longer parse:\n" + "\n".join(failures)


def _dry_run(source: Path) -> list[dict]:
    """tests/cli_dry_run.py on a batch file: each command parsed by its own program, none run."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "cli_dry_run.py"), str(source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,  # a hang guard: about 20 s here, mostly importing torch and transformers once
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_every_documented_make_target_exists():
    for command in (c for c in commands() if c.words[0] == "make"):
        done = subprocess.run(["make", "-n", *command.words[1:]], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}: {done.stderr.strip()}"


def test_the_checker_catches_a_renamed_flag_a_lost_choice_and_a_bad_value(tmp_path):
    """The dry run itself: it refuses what argparse would refuse, and runs none of the work."""
    batch = [
        {"module": "training.evaluate", "argv": ["models/tiny-sft", "--split", "x.jsonl"], "mode": "parse"},
        {"module": "training.evaluate", "argv": ["models/tiny-sft", "--limit", "N"], "mode": "parse"},
        {"module": "training.evaluate", "argv": ["models/tiny-sft", "--limit", "N"], "mode": "names"},
        {"module": "diagrambot", "argv": ["retrain", "--kind", "cnn|ae|everything"], "mode": "names"},
        {"module": "diagrambot", "argv": ["db", "stats", "--db", "x", "--out", "y"], "mode": "names"},
        {"module": "diagrambot", "argv": ["db", "export", "--db", "x", "--out", "y"], "mode": "names"},
        {
            "module": "diagrambot",
            "argv": ["render", "examples/cnn_layers.txt", "-o", str(tmp_path / "x.png")],
            "mode": "parse",
        },
    ]
    source = tmp_path / "batch.json"
    source.write_text(json.dumps(batch), encoding="utf-8")
    ok = [r["ok"] for r in _dry_run(source)]
    # --split is gone (--sets now); N is no number but passes by name; "everything" is no --kind;
    # --out is export's, not stats'.
    assert ok == [False, False, True, False, False, True, True]
    assert not (tmp_path / "x.png").exists()  # parsed, not run
