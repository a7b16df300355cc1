"""50 concurrent /diagram through real sockets: the `diagrambot bot` process and a loopback Discord.

The bot runs as a user runs it (`diagrambot -v bot --config FILE`, token in DISCORD_TOKEN, the
embedded model), pointed by tests/loopback_launch.py at the test server in
tests/discord_loopback.py (REST over HTTP, gateway over a websocket, on 127.0.0.1). Each request
comes from its own user as an INTERACTION_CREATE on the gateway, all sent at once; a share of the
bot's posts (10 % by default) is answered 429 with `retry_after`, which discord.py must wait out
and retry. When every request has ended, one user reaction is sent per post (a random 1-5 rating
emoji) and the bot's database is read.

Figures: ack p50/p99/max (INTERACTION_CREATE sent -> interaction callback received; Discord
allows 3 s), posts announced by the bot's final status lines, posts recorded (on the wire with
an image and in the database), ratings recorded, and `lost` (requests without a final answer +
announced posts missing on the wire or in the database + posts missing some of the bot's five
rating reactions + user reactions not stored as ratings), 0 expected. One progress line per finished
request; the last line is the JSON object.

    .venv/bin/python bench/bot_wire.py [--requests 50] [--candidates 2] [--top 2] [--rate-limited 0.1]

The default run takes a few minutes on a 2-core CPU (2 candidates per request, one worker).
"""

from __future__ import annotations

import argparse
import random
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, emit

sys.path.insert(0, str(ROOT / "tests"))
from discord_loopback import RATING_EMOJIS, BotDatabase, BotProcess, LoopbackDiscord, request_id_of, write_config  # noqa: E402

REQUEST_TEXTS = [
    "A deep learning model with 2 input nodes, 3 hidden nodes and 1 output node.",
    "A neural network with 3 inputs, two hidden layers of 4 nodes and 2 outputs.",
    "A CNN for 28x28 grayscale images: conv 3x3 with 32 filters, max pooling, dense 128, softmax 10.",
    "An ML pipeline: load data, clean it, split train and test, train a model, evaluate it.",
]
POST_PATH = r"^/channels/\d+/messages$"


def ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def final_text(server: LoopbackDiscord, token: str) -> str | None:
    return next((t for t in server.texts_to_user(token) if t.startswith(("✅", "❌"))), None)


def run(args) -> dict:
    token = "bench." + secrets.token_urlsafe(48)
    tmp = Path(tempfile.mkdtemp(prefix="bot-wire-"))
    data = tmp / "data"
    server = LoopbackDiscord(token, users=args.requests + 1, seed=args.seed).start()
    config = write_config(
        tmp / "config.toml", data, candidates=args.candidates, top=args.top, queue_limit=max(100, args.requests + 10)
    )
    bot = BotProcess(server, config, token, tmp / "bot.log")
    db = BotDatabase(data / "diagrambot.sqlite3")
    rng = random.Random(args.seed)
    try:
        started = time.monotonic()
        bot.start()
        bot.wait_ready(timeout=180)
        print(f"bot_wire: bot ready in {time.monotonic() - started:.1f} s", flush=True)
        users = server.user_ids
        if args.warmup:  # loads the model, so the figures are about serving, not start-up
            warm = server.send_command(users[-1], REQUEST_TEXTS[0])
            server.wait_for(lambda: final_text(server, warm.token), args.timeout, "the warm-up request")
            print(f"bot_wire: warm-up request answered in {time.monotonic() - started:.1f} s since start", flush=True)
        warm_posts = {int(p["id"]) for p in server.bot_posts()}

        rule = server.rate_limit("POST", POST_PATH, times=None, probability=args.rate_limited, retry_after=0.25)
        begin = time.monotonic()
        sent = [server.send_command(users[i], REQUEST_TEXTS[i % len(REQUEST_TEXTS)]) for i in range(args.requests)]
        print(f"bot_wire: {len(sent)} /diagram sent in {time.monotonic() - begin:.2f} s", flush=True)

        finished: dict[int, str] = {}
        deadline = begin + args.timeout
        while len(finished) < len(sent) and time.monotonic() < deadline:
            server.wait_for(
                lambda: (
                    any(final_text(server, s.token) for s in sent if s.id not in finished)
                    or time.monotonic() > deadline
                ),
                max(1.0, deadline - time.monotonic()),
                "a request to end",
            )
            for s in sent:
                if s.id in finished:
                    continue
                text = final_text(server, s.token)
                if text:
                    finished[s.id] = text
                    ack = (s.t_callback - s.t_sent) * 1000 if s.t_callback else float("nan")
                    print(
                        f"[{len(finished):>3}/{len(sent)}] {text[:60]}…  ack {ack:.0f} ms, "
                        f"{time.monotonic() - begin:.1f} s",
                        flush=True,
                    )
        all_done_s = time.monotonic() - begin
        time.sleep(1.0)  # the last post's reactions may land just after its final status edit

        # Posts: announced ("the best K of N") against those on the wire and in the database.
        announced = 0
        done = failed = 0
        request_ids = []
        for s in sent:
            text = finished.get(s.id)
            if text is None:
                continue
            request_ids.append(request_id_of([text]))
            if text.startswith("✅"):
                done += 1
                announced += int(text.split("the best ")[1].split(" ")[0])
            else:
                failed += 1
        wire_posts = [p for p in server.bot_posts() if int(p["id"]) not in warm_posts]
        wire_ids = {int(p["id"]) for p in wire_posts}
        db_ids = {row["message_id"] for rid in request_ids if rid is not None for row in db.posts_for_request(rid)}
        recorded = wire_ids & db_ids
        full_reactions = sum(server.own_reactions(mid) == RATING_EMOJIS for mid in recorded)
        limited = [r for r in server.requests_to("create_message", "POST") if r.status == 429]

        # One user reaction per recorded post; each must become a rating.
        ratings_before = db.count("ratings")
        owner = {}
        for s in sent:
            rid = request_id_of(server.texts_to_user(s.token))
            if rid is not None:
                owner[rid] = s.user_id
        reactions = 0
        for post in wire_posts:
            mid = int(post["id"])
            if mid not in recorded:
                continue
            rid = request_id_of([post["content"].replace("request #", "Request #")])
            server.react(owner.get(rid, users[0]), mid, rng.choice(RATING_EMOJIS))
            reactions += 1
        rating_deadline = time.monotonic() + 60
        while db.count("ratings") - ratings_before < reactions and time.monotonic() < rating_deadline:
            time.sleep(0.2)
        ratings = db.count("ratings") - ratings_before
        acks = [s.t_callback - s.t_sent for s in sent if s.t_callback is not None]
        reactions_missing = len(recorded) - full_reactions  # posts lacking some of the bot's 1-5 reactions
        lost = (len(sent) - len(finished)) + (announced - len(recorded)) + reactions_missing + (reactions - ratings)
        return {
            "requests": len(sent),
            "candidates": args.candidates,
            "top": args.top,
            "warmup": bool(args.warmup),
            "acked": len(acks),
            "ack_p50_ms": ms(acks, 50),
            "ack_p99_ms": ms(acks, 99),
            "ack_max_ms": ms(acks, 100),
            "acks_over_3s": sum(a > 3.0 for a in acks),
            "requests_done": done,
            "requests_failed": failed,
            "requests_unanswered": len(sent) - len(finished),
            "posts_announced": announced,
            "posts_on_wire": len(wire_ids),
            "posts_in_db": len(db_ids),
            "posts_recorded": len(recorded),
            "posts_with_5_reactions": full_reactions,
            "posts_missing_reactions": reactions_missing,
            "posts_answered_429": len(limited),
            "rate_limited_share": args.rate_limited,
            "reactions_sent": reactions,
            "ratings_recorded": ratings,
            "lost": lost,
            "unknown_routes": len(server.unknown),
            "all_answered_s": round(all_done_s, 1),
            "requests_per_min": round(60 * done / all_done_s, 1) if all_done_s else None,
            "rate_limit_hits": rule.hits,
        }
    finally:
        bot.stop()
        server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--candidates", type=int, default=2, help="candidates per request (the bot's config)")
    parser.add_argument("--top", type=int, default=2)
    parser.add_argument("--rate-limited", type=float, default=0.1, help="share of posts answered 429 once")
    parser.add_argument("--warmup", type=int, default=1, help="1: one request first, to load the model")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for all requests to end")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (bot log, database)")
    args = parser.parse_args()
    figures = run(args)
    print(
        f"bot_wire: {figures['requests']} concurrent /diagram over loopback sockets: ack p50 "
        f"{figures['ack_p50_ms']} ms, p99 {figures['ack_p99_ms']} ms; {figures['requests_done']} done in "
        f"{figures['all_answered_s']} s; posts {figures['posts_recorded']}/{figures['posts_announced']} recorded "
        f"({figures['posts_answered_429']} answered 429 first); ratings {figures['ratings_recorded']}/"
        f"{figures['reactions_sent']}; lost {figures['lost']}",
        flush=True,
    )
    emit(figures)


if __name__ == "__main__":
    main()
