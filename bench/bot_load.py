"""50 concurrent /diagram invocations through the real handler, queue and drawer, with a slow fake model.

Measures what decides whether Discord shows "interaction failed": the time from invocation to
`defer()` (Discord allows 3 s; target p99 <= 500 ms), and checks that no request is lost
(50 done, 50 x K posts) and that the queue keeps submission order (one worker). The service runs
the real pipeline (parse, render, score) over fixed node lists; its "model" sleeps 0.05-0.2 s on
the worker thread. The event loop's worst lateness stands for the gateway heartbeat.

Baseline in the same run: a naive handler that draws before replying (on the event loop).

    .venv/bin/python bench/bot_load.py [--requests 50] [--top 3] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from _common import ROOT, emit

sys.path.insert(0, str(ROOT / "tests"))  # the bot's test doubles live with the tests
from fakes import FakeInteraction, FakeService, FixedTextsGenerator, fake_user, running_bot  # noqa: E402

from bot.settings import BotSettings

P99_TARGET_MS = 500.0
DELAY_RANGE_S = (0.05, 0.2)


class LoopLag:
    """Worst lateness of a 10 ms ticker: how long the loop (and the heartbeat) was kept waiting."""

    def __init__(self, interval_s: float = 0.01):
        self.interval_s = interval_s
        self.worst_s = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            self.worst_s = max(self.worst_s, loop.time() - due)


def slow_generator(seed: int) -> FixedTextsGenerator:
    rng, lock = random.Random(seed), threading.Lock()

    def delay() -> float:
        with lock:
            return rng.uniform(*DELAY_RANGE_S)

    return FixedTextsGenerator(delay_s=delay)


def ms(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(values) * 1000, q)), 2)


def defer_latency(interaction: FakeInteraction) -> float:
    defer = next(e for e in interaction.events if e.kind == "defer")
    return defer.at - interaction.created


async def real_handler(requests: int, top: int, workers: int) -> dict:
    service = FakeService(slow_generator(1))
    with tempfile.TemporaryDirectory() as folder:
        async with running_bot(
            Path(folder), service, bot_settings=BotSettings(workers=workers, queue_limit=requests)
        ) as bot:
            command = bot.tree.get_command("diagram")
            interactions = [FakeInteraction(bot, user=fake_user(name=f"user{i}")) for i in range(requests)]
            lag = LoopLag()
            ticker = asyncio.create_task(lag.run())
            await asyncio.sleep(0)
            start = time.perf_counter()
            for interaction in interactions:  # all 50 arrive at once
                interaction.created = start

            async def invoke(i: int) -> None:
                await command.callback(interactions[i], request=f"request {i}: two nodes", top=top)

            await asyncio.gather(*(invoke(i) for i in range(requests)))
            answered_s = time.perf_counter() - start
            await bot.queue.join()
            total_s = time.perf_counter() - start
            await asyncio.sleep(2 * lag.interval_s)
            ticker.cancel()

            done = [r for r in await bot.db.recent_requests(requests * 2) if r.status == "done"]
            by_finish = [r.text for r in sorted(done, key=lambda r: r.finished)]
            stats = await bot.db.stats()
            posts = sum(len(i.channel.messages) for i in interactions)
            submitted = [f"request {i}: two nodes" for i in range(requests)]
            latencies = [defer_latency(i) for i in interactions]
            positions = [next(e for e in i.events if e.kind == "edit").at - i.created for i in interactions]
            return {
                "defer_p50_ms": ms(latencies, 50),
                "defer_p99_ms": ms(latencies, 99),
                "defer_max_ms": ms(latencies, 100),
                "position_reply_p99_ms": ms(positions, 99),
                "all_answered_s": round(answered_s, 3),
                "total_s": round(total_s, 2),
                "requests_done": len(done),
                "posts": posts,
                "posts_recorded": stats["posts"],
                "reactions": sum(len(m.reactions) for i in interactions for m in i.channel.messages),
                "order_kept": by_finish == submitted and [d["request"] for d in service.draws] == submitted,
                "max_loop_lag_ms": round(lag.worst_s * 1000, 2),
            }


async def naive_handler(requests: int) -> dict:
    """The classic mistake: draw first (blocking the loop), answer after."""
    service = FakeService(slow_generator(1))
    interactions = [FakeInteraction(None, user=fake_user()) for _ in range(requests)]
    lag = LoopLag()
    ticker = asyncio.create_task(lag.run())
    await asyncio.sleep(0)
    start = time.perf_counter()
    for interaction in interactions:
        interaction.created = start

    async def naive(i: int) -> None:
        service.draw(f"request {i}: two nodes", n=4)
        await interactions[i].response.defer(thinking=True)

    await asyncio.gather(*(naive(i) for i in range(requests)))
    await asyncio.sleep(2 * lag.interval_s)  # let the ticker see how late it is
    ticker.cancel()
    latencies = [defer_latency(i) for i in interactions]
    return {
        "naive_defer_p50_ms": ms(latencies, 50),
        "naive_defer_p99_ms": ms(latencies, 99),
        "naive_over_3s": sum(latency > 3 for latency in latencies),
        "naive_max_loop_lag_ms": round(lag.worst_s * 1000, 2),
    }


async def main_async(args) -> dict:
    real = await real_handler(args.requests, args.top, args.workers)
    naive = await naive_handler(args.requests)
    expected_posts = args.requests * args.top
    lost = (args.requests - real["requests_done"]) + (expected_posts - real["posts"])
    return {
        "invocations": args.requests,
        "top_k": args.top,
        "workers": args.workers,
        "draw_delay_s": list(DELAY_RANGE_S),
        "expected_posts": expected_posts,
        "lost": lost,
        "p99_target_ms": P99_TARGET_MS,
        **real,
        **naive,
        "pass": bool(
            real["defer_p99_ms"] <= P99_TARGET_MS
            and lost == 0
            and real["posts_recorded"] == expected_posts
            and real["order_kept"]
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("discord").setLevel(logging.ERROR)
    figures = asyncio.run(main_async(args))
    print(
        f"bot_load: {figures['invocations']} concurrent /diagram: defer p50 {figures['defer_p50_ms']} ms, "
        f"p99 {figures['defer_p99_ms']} ms (target <= {P99_TARGET_MS:g}; naive draw-then-reply p99 "
        f"{figures['naive_defer_p99_ms']} ms, {figures['naive_over_3s']} over 3 s); "
        f"{figures['requests_done']} done, {figures['posts']}/{figures['expected_posts']} posts, "
        f"order kept: {figures['order_kept']}; worst loop lag {figures['max_loop_lag_ms']} ms "
        f"(naive {figures['naive_max_loop_lag_ms']} ms); {figures['total_s']} s"
    )
    emit(figures)


if __name__ == "__main__":
    main()
