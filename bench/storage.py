"""Committed rating upserts per second through ``storage.Database``, with latency.

What is measured: ``Database.set_rating`` awaited one after another, each call
its own transaction (BEGIN IMMEDIATE, user upsert, rating upsert, COMMIT), the
way reactions arrive at the bot. The chosen setting (WAL + synchronous=NORMAL)
is compared with a baseline in the same run: WAL + synchronous=FULL, which
fsyncs the WAL on every commit. A third figure, "burst", fires the same
upserts from 32 concurrent coroutines (a popular post) under the chosen setting.
Each configuration runs REPEATS times on a fresh file; medians are reported.
The database lives on the repository's disk (under out/), not in /tmp, which
may be a RAM disk where fsync costs nothing. The last line printed is JSON.

Run: .venv/bin/python bench/storage.py [--ops N] [--repeats R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from storage import Database  # noqa: E402

USERS = 20
CANDIDATES = 50
BURST_CONCURRENCY = 32
TARGET_PER_S = 1000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
    return ordered[index]


async def one_run(workdir: Path, synchronous: str, ops: int, concurrency: int, seed: int) -> dict:
    """Fresh database; ``ops`` upserts; returns throughput and latency figures."""
    path = workdir / f"bench-{synchronous}-{concurrency}-{seed}.sqlite3"
    rng = random.Random(seed)
    async with await Database.open(path, workdir / "data", synchronous=synchronous) as db:
        request_id = await db.create_request("author", "bench")
        candidates = [await db.add_candidate(request_id, r, "m", "[]") for r in range(CANDIDATES)]
        actions = [(f"user{rng.randrange(USERS)}", rng.choice(candidates), rng.randint(1, 5)) for _ in range(ops)]
        latencies: list[float] = []
        queue = iter(actions)

        async def reactor() -> None:
            for user, candidate, value in queue:
                start = time.perf_counter()
                await db.set_rating(user, candidate, value)
                latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(reactor() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start

    # Reopen and check every upsert really committed: each pair holds its last value.
    expected: dict[tuple[str, int], int] = {}
    for user, candidate, value in actions:
        expected[(user, candidate)] = value
    async with await Database.open(path, workdir / "data") as db:
        stored = {(r.user_id, r.candidate_id): r.value for r in await db.all_ratings()}
    if stored != expected:
        raise SystemExit(f"bench: stored ratings differ from the upserts ({synchronous})")
    return {
        "upserts_per_s": ops / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


async def configuration(workdir: Path, synchronous: str, ops: int, repeats: int, concurrency: int) -> dict:
    runs = [await one_run(workdir, synchronous, ops, concurrency, seed) for seed in range(repeats)]
    result = {
        key: round(statistics.median(run[key] for run in runs), 3) for key in ("upserts_per_s", "p50_ms", "p99_ms")
    }
    result["upserts_per_s_runs"] = [round(run["upserts_per_s"]) for run in runs]
    result["synchronous"] = synchronous
    result["concurrency"] = concurrency
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="upserts per run (default 2000)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per configuration (default 5)")
    args = parser.parse_args()

    (REPO_ROOT / "out").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-storage-", dir=REPO_ROOT / "out"))
    try:
        chosen = await configuration(workdir, "NORMAL", args.ops, args.repeats, 1)
        baseline = await configuration(workdir, "FULL", args.ops, args.repeats, 1)
        burst = await configuration(workdir, "NORMAL", args.ops, args.repeats, BURST_CONCURRENCY)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    for name, figures in (("chosen", chosen), ("baseline", baseline), ("burst", burst)):
        print(
            f"{name:8s} synchronous={figures['synchronous']:6s} concurrency={figures['concurrency']:2d}: "
            f"{figures['upserts_per_s']:8.0f} upserts/s  p50 {figures['p50_ms']:.3f} ms  "
            f"p99 {figures['p99_ms']:.3f} ms  (runs: {figures['upserts_per_s_runs']})"
        )
    print(
        json.dumps(
            {
                "bench": "storage",
                "what": "committed rating upserts, each its own transaction (Database.set_rating)",
                "ops_per_run": args.ops,
                "repeats": args.repeats,
                "statistic": "median of runs",
                "upserts_per_s": chosen["upserts_per_s"],
                "p50_ms": chosen["p50_ms"],
                "p99_ms": chosen["p99_ms"],
                "target_upserts_per_s": TARGET_PER_S,
                "meets_target": chosen["upserts_per_s"] >= TARGET_PER_S,
                "chosen": chosen,
                "baseline": baseline,
                "speedup_vs_baseline": round(chosen["upserts_per_s"] / baseline["upserts_per_s"], 2),
                "burst": burst,
            },
            sort_keys=True,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
