"""Hostile input at every edge: parser, score, render, db import, --ratings and config loading.

Each target runs in its own child process over its share of generated inputs (random node lists,
then mutated: dense target lists, huge and non-finite numbers, long and unclosed strings, deep
nesting, truncation, stray bytes) plus the known blow-ups written out by hand. An input passes when
the code answers or refuses it with its documented error; any other exception is a traceback.
Per target the bench reports inputs run, refusals, tracebacks, the slowest input's seconds and the
child's peak RSS. Goal (issue 20): no traceback, no input over 2 s, no target over 500 MB.

    python bench/fuzz.py [--inputs 100000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import resource
import tempfile
import time
import traceback
from pathlib import Path

from _common import ROOT, emit

SHAPES = ["rectangle", "round rectangle", "circle", "ellipse", "", "triangle"]
STYLES = ["solid arrow", "solid line", "dashed line", "dotted", ""]
STRANGE_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e309", "-1e309", "10**9", str(2**70), "-0", "0x1F", "1_000"]
STRANGE_TEXT = ['"', '\\"', "'", "\n", "\x00", "[", "]", "(", ")", "<&>", "🙂", "한글", "\u202e", "\\", "\ud7a3"]

# Share of the inputs per target: parsing is cheap, rendering and importing cost milliseconds.
SHARES = {"parser": 0.5, "score": 0.15, "ratings": 0.14, "config": 0.15, "render": 0.03, "import": 0.03}


# ---------------------------------------------------------------------- generators


def _number(rng: random.Random, low: int, high: int) -> str:
    roll = rng.random()
    if roll < 0.04:
        return rng.choice(STRANGE_NUMBERS)
    if roll < 0.08:
        return str(rng.uniform(-1e6, 1e6))
    return str(rng.randint(low, high))


def _text(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(STRANGE_TEXT) * rng.choice([1, 100, 5000])
    letters = "abcdefghijklmnopqrstuvwxyz ABCXYZ0123456789가나다라"
    word = "".join(rng.choice(letters) for _ in range(rng.randint(0, 24)))
    if roll < 0.2:
        word += rng.choice(STRANGE_TEXT)
    return word


def node_rows(rng: random.Random) -> list[list]:
    """A node list as Python values; sometimes huge, sometimes every node pointing at every other."""
    n = rng.choice([0, 1, 2, 3, 5, 8, 12, 20, 40, rng.randint(1, 120), rng.randint(300, 500)])
    ids = list(range(1, n + 1))
    dense = rng.random() < 0.15
    rows = []
    for i in ids:
        targets = [t for t in ids if t != i] if dense else rng.sample(ids, min(len(ids), rng.randint(0, 3)))
        if rng.random() < 0.03:
            targets = targets * 50  # repeated targets
        rows.append(
            [
                i,
                rng.randint(-50, 1100),
                rng.randint(-50, 700),
                rng.choice(SHAPES),
                rng.randint(0, 300),
                rng.randint(0, 300),
                rng.choice(STYLES),
                tuple(rng.randint(0, 255) for _ in range(3)),
                tuple(rng.randint(0, 255) for _ in range(3)),
                targets,
                _text(rng),
            ]
        )
    return rows


def clean_rows(rng: random.Random) -> list[list]:
    """A node list every checker accepts as it is (the valid path of imports and ratings files)."""
    ids = list(range(1, rng.randint(1, 30) + 1))
    return [
        [
            i,
            rng.randint(40, 960),
            rng.randint(40, 560),
            rng.choice(SHAPES[:3]),
            rng.randint(20, 200),
            rng.randint(20, 120),
            rng.choice(STYLES[:3]),
            [rng.randint(0, 255) for _ in range(3)],
            [rng.randint(0, 255) for _ in range(3)],
            sorted(rng.sample([t for t in ids if t != i], min(len(ids) - 1, rng.randint(0, 3)))),
            rng.choice(["Input", "Conv 3x3", "중간층", "feature store", None]),
        ]
        for i in ids
    ]


def _render_value(value, rng: random.Random) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return _number(rng, value, value) if rng.random() < 0.05 else str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        return "(" + ", ".join(_render_value(v, rng) for v in value) + ")"
    return "[" + ", ".join(_render_value(v, rng) for v in value) + "]"


def node_text(rng: random.Random) -> str:
    """Model-like output: a node list as text, then mutated the way broken output looks."""
    text = "[\n" + ",\n".join(_render_value(row, rng) for row in node_rows(rng)) + "\n]"
    for _ in range(rng.choice([0, 0, 1, 2, 5])):
        roll, at = rng.random(), rng.randint(0, len(text))
        if roll < 0.3:
            text = text[:at]  # cut off mid-generation
        elif roll < 0.6:
            text = text[:at] + rng.choice(STRANGE_TEXT) * rng.randint(1, 20) + text[at:]
        elif roll < 0.8:
            text = text[:at] + text[at + rng.randint(1, 40) :]  # dropped tokens
        else:
            text = text[:at] + rng.choice(STRANGE_NUMBERS) + text[at:]
    return text


def known_blowups() -> list[str]:
    """The inputs issue 20 reproduced, written out: each once, in every text target."""
    ids = range(1, 121)
    everyone = (
        "[\n"
        + ",\n".join(
            f'[{i}, {i * 8}, {(i * 37) % 600}, "circle", 10, 10, "solid arrow", (1, 2, 3), (4, 5, 6), '
            f'{[t for t in ids if t != i]}, "n{i}"]'
            for i in ids
        )
        + "\n]"
    )
    return [
        everyone,
        '"\\"' * 70_000,
        "[" * 100_000,
        "(" * 100_000,
        '["' * 50_000,
        '[1, 1e309, -1e309, "circle", Infinity, NaN, "solid arrow", (0, 0, 0), (0, 0, 0), [], "x"]',
    ]


# ---------------------------------------------------------------------- targets


def _parsed(text: str):
    """The parse result, or None when the parser refuses the text (its documented answer)."""
    from ml.parser import ParseError, parse

    try:
        return parse(text)
    except ParseError:
        return None


def parse_target(text: str) -> bool:
    return _parsed(text) is None


def score_target(text: str) -> bool:
    from ml.commands import score_report

    result = _parsed(text)
    if result is not None:
        score_report(result)
    return result is None


def render_target(text: str) -> bool:
    from ml.render import render_png

    result = _parsed(text)
    if result is not None:
        render_png(result.diagram, scale=0.5)
    return result is None


def _cli(argv: list[str]) -> bool:
    """The real command line; exit status 2 is a refusal, an exception escaping main a traceback."""
    import contextlib
    import io

    from diagrambot.cli import main

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        return main(argv) != 0


class _Workspace:
    """One temporary folder per child: a database to import into, files to hand to the CLI."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fuzz-"))
        self.file = self.dir / "input"

    def write(self, data: str | bytes) -> str:
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogatepass")
        self.file.write_bytes(data)
        return str(self.file)


_WORK: _Workspace | None = None


def _work() -> _Workspace:
    global _WORK
    _WORK = _WORK or _Workspace()
    return _WORK


def import_target(data: str) -> bool:
    work = _work()
    return _cli(
        ["db", "import", work.write(data), "--db", str(work.dir / "db.sqlite3"), "--data-dir", str(work.dir / "data")]
    )


def ratings_target(data: str) -> bool:
    from ml.commands import read_ratings
    from ml.errors import UserError

    try:
        read_ratings(_work().write(data), None)
    except UserError:
        return True
    return False


def config_target(data: str) -> bool:
    from diagrambot.config import load
    from ml.errors import UserError

    try:
        load(_work().write(data))  # every table, bot, storage and schedule included
    except UserError:
        return True
    return False


def _sometimes(rng: random.Random, good, *bad):
    """Mostly a valid value, so that whole files get through to the database too."""
    return rng.choice(bad) if rng.random() < 0.15 else good


def import_text(rng: random.Random) -> str:
    """An export file: a header, then records with hostile fields."""
    latent = [rng.uniform(-3, 3) for _ in range(_sometimes(rng, 32, 3, 0, 1000))]
    if latent and rng.random() < 0.1:
        latent[0] = rng.choice([math.nan, math.inf])
    scores = {"readability": _sometimes(rng, 4.2, math.nan, math.inf, -1.0, "x", None)}
    nodes = _sometimes(rng, json.dumps(clean_rows(rng), ensure_ascii=False), node_text(rng), "not json", "[" * 10_000)
    request_uid, candidate_uid = (_sometimes(rng, f"{rng.getrandbits(128):032x}", "x", "C" * 32) for _ in "rc")
    stamp = _sometimes(
        rng, "2026-12-01T10:00:00.000000+00:00", "zzzz", "", "2026-13-45T99:99:99", "2026-12-01T10:00:00Z"
    )
    records = [
        {"type": "header", "format": _sometimes(rng, 1, 2)},
        {"type": "user", "id": "u1", "name": _text(rng), "created": stamp},
        {
            "type": "request",
            "uid": request_uid,
            "user_id": "u1",
            "guild_id": None,
            "channel_id": None,
            "text": _text(rng),
            "created": stamp,
            "status": _sometimes(rng, "done", "odd"),
            "error": None,
            "finished": None,
        },
        {
            "type": "candidate",
            "uid": candidate_uid,
            "request_uid": request_uid,
            "rank": _sometimes(rng, 0, -2, 10**12),
            "model_text": node_text(rng)[:2000],
            "nodes_json": nodes,
            "image_sha256": None,
            "scores": scores,
            "latent": latent,
            "latent_model_version": rng.choice([None, "ae-1"]),
        },
        {
            "type": "rating",
            "user_id": "u1",
            "candidate_uid": candidate_uid,
            "value": _sometimes(rng, 4, 0, 7),
            "created": stamp,
            "updated": stamp,
        },
    ]
    lines = [json.dumps(r, ensure_ascii=False, allow_nan=True) for r in records]
    if rng.random() < 0.1:
        at = rng.randrange(len(lines))
        lines[at] = lines[at][: rng.randint(0, len(lines[at]))]
    return "\n".join(lines) + "\n"


def ratings_text(rng: random.Random) -> str:
    rows = []
    for _ in range(rng.choice([1, 2, 5])):
        row = {
            "user_id": _sometimes(rng, "u1", 5, None, {"a": 1}),
            "value": _sometimes(rng, rng.randint(1, 5), 0, 9, 3.5, math.nan, math.inf, "4", {"x": 1}),
        }
        if rng.random() < 0.5:
            rows_ = clean_rows(rng) if rng.random() < 0.7 else node_rows(rng)[:30]
            if rows_ and rng.random() < 0.3:
                rows_[0][1] = rng.choice([math.inf, math.nan, 1e300])
            if rows_ and rng.random() < 0.2:
                rows_[0][10] = {"label": "dict"}
            row["nodes"] = rows_
        else:
            row["text"] = node_text(rng)[:5000]
        rows.append(json.dumps(row, ensure_ascii=False, allow_nan=True))
    return "\n".join(rows)


def _toml_value(value) -> str:
    """A value as TOML text (the example config holds strings, numbers, booleans and flat lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def config_text(rng: random.Random) -> str | bytes:
    """config.example.toml with some of its values, keys and tables made hostile."""
    import tomllib

    example = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    hostile = [
        '"x"',
        "-1",
        "0",
        "1e9",
        "true",
        "[1, 2]",
        '"python x.py"',
        "{a = 1}",
        "nan",
        "inf",
        "99999999999999999999",
        '""',
        '"🙂"',
        "[]",
    ]
    lines = []
    for table, keys in example.items():
        if rng.random() < 0.3:
            continue
        lines.append(f"[{_sometimes(rng, table, table + 'z', 'mystery')}]" if rng.random() < 0.05 else f"[{table}]")
        for key, value in keys.items():
            if isinstance(value, dict):  # a sub-table such as [generator.sampling]
                continue
            key = key + "z" if rng.random() < 0.004 else key
            text = rng.choice(hostile) if rng.random() < 0.012 else _toml_value(value)
            lines.append(f"{key} = {text}")
    text = "\n".join(lines) + "\n"
    if rng.random() < 0.03:
        return text.encode() + b"\xff\xfe\x80 broken utf-8"
    if rng.random() < 0.03:
        return text[: rng.randint(0, len(text))]
    return text


TARGETS = {
    "parser": (parse_target, node_text),
    "score": (score_target, node_text),
    "render": (render_target, node_text),
    "import": (import_target, import_text),
    "ratings": (ratings_target, ratings_text),
    "config": (config_target, config_text),
}


def run_target(name: str, count: int, seed: int, queue) -> None:
    """In a child process: run count inputs (the hand-written blow-ups first), report figures."""
    run, make = TARGETS[name]
    rng = random.Random(f"{seed}:{name}")
    inputs = known_blowups() if name in ("parser", "score", "render") else []
    refusals = tracebacks = 0
    try:
        run(make(random.Random(-1)))  # imports and first-call setup, not an input's cost
    except Exception:  # noqa: BLE001 - counted below when it recurs
        pass
    slowest, slowest_input, first_traceback = 0.0, "", ""
    for i in range(count):
        data = inputs[i] if i < len(inputs) else make(rng)
        start = time.perf_counter()
        try:
            refusals += bool(run(data))
        except Exception:  # noqa: BLE001 - the bench counts every escape as a traceback
            tracebacks += 1
            first_traceback = first_traceback or traceback.format_exc(limit=3)[-600:]
        seconds = time.perf_counter() - start
        if seconds > slowest:
            slowest, slowest_input = seconds, (data if isinstance(data, str) else repr(data))[:80]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(
        {
            "target": name,
            "inputs": count,
            "tracebacks": tracebacks,
            "slowest_s": round(slowest, 3),
            "slowest_input": slowest_input,
            "peak_rss_mb": round(peak_mb, 1),
            "refusals": refusals,
            "first_traceback": first_traceback,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs in all, shared among targets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset")
    args = parser.parse_args()
    names = args.targets.split(",")
    shares = {n: SHARES[n] for n in names}
    total_share = sum(shares.values())
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: peak RSS is the target's own
    queue = context.Queue()
    results = []
    for name in names:
        count = max(1, round(args.inputs * shares[name] / total_share))
        start = time.perf_counter()
        child = context.Process(target=run_target, args=(name, count, args.seed, queue))
        child.start()
        result = queue.get()
        child.join()
        result["seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps({k: v for k, v in result.items() if k != "first_traceback"}, ensure_ascii=False))
        if result["first_traceback"]:
            print(result["first_traceback"])
        results.append(result)
    emit(
        {
            "inputs": sum(r["inputs"] for r in results),
            "tracebacks": sum(r["tracebacks"] for r in results),
            "slowest_s": max(r["slowest_s"] for r in results),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
            "per_target": {
                r["target"]: {
                    "inputs": r["inputs"],
                    "tracebacks": r["tracebacks"],
                    "slowest_s": r["slowest_s"],
                    "peak_rss_mb": r["peak_rss_mb"],
                    "refusals": r["refusals"],
                }
                for r in results
            },
            "goal_met": all(r["tracebacks"] == 0 and r["slowest_s"] <= 2 and r["peak_rss_mb"] <= 500 for r in results),
        }
    )


if __name__ == "__main__":
    main()
