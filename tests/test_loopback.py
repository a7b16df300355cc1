"""The bot on real sockets: the `diagrambot bot` process against a loopback Discord server.

The bot runs as a user runs it (`diagrambot -v bot --config FILE`, token in DISCORD_TOKEN), as a
subprocess; tests/loopback_launch.py only points discord.py's REST base and gateway URL at the
server in tests/discord_loopback.py, which speaks HTTP and a websocket on 127.0.0.1. Everything
between is the product and discord.py as shipped: login, command sync, the gateway (IDENTIFY,
heartbeats, RESUME), interaction callbacks, webhook edits, multipart posts, reactions, 429s.
The bot's SQLite file is read (read-only) to check what it stored.

Select with `-m loopback` (or `-k loopback`). One bot process serves the module (the embedded
model loads once); the last scenarios kill it with SIGKILL and start it again.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import pytest
from discord_loopback import (
    INTENT_GUILD_MESSAGE_REACTIONS,
    INTENT_GUILDS,
    RATING_EMOJIS,
    BotDatabase,
    BotProcess,
    LoopbackDiscord,
    SentInteraction,
    request_id_of,
    write_config,
)

pytestmark = pytest.mark.loopback  # registered in pyproject.toml

ONE, TWO, THREE, FOUR, FIVE = RATING_EMOJIS
DEFERRED = 5  # interaction callback type: "thinking…", answer later
CANDIDATES, TOP = 2, 2  # the test config: small, so the embedded model is quick on 2 cores
REQUEST = "A deep learning model with 2 input nodes, 3 hidden nodes and 1 output node."
POST_PATH = r"^/channels/\d+/messages$"
REACTION_PATH = r"^/channels/\d+/messages/\d+/reactions/[^/]+/@me$"
EDIT_PATH = r"^/webhooks/\d+/[^/]+/messages/@original$"
RESTARTED = "restarted"  # bot.client.RESTARTED: "the bot restarted before this request finished"


@dataclass
class Wire:
    server: LoopbackDiscord
    bot: BotProcess
    db: BotDatabase
    token: str

    def wait(self, predicate, timeout: float = 60.0, what: str = "condition"):
        try:
            return self.server.wait_for(predicate, timeout, what)
        except TimeoutError as error:
            raise AssertionError(f"{error}\n--- bot log ---\n{self.bot.log_tail()}") from None

    def wait_db(self, query, timeout: float = 20.0, what: str = "database state"):
        """Poll the bot's database until query(db) is truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = query(self.db)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}\n--- bot log ---\n{self.bot.log_tail()}")
            time.sleep(0.1)

    def ack(self, sent: SentInteraction) -> dict:
        return self.wait(lambda: sent.callback, 15, f"the callback of interaction {sent.id}")

    def request_id(self, sent: SentInteraction, timeout: float = 30.0) -> int:
        return self.wait(
            lambda: request_id_of(self.server.texts_to_user(sent.token)),
            timeout,
            "the request number in the status message",
        )

    def finished(self, sent: SentInteraction, timeout: float = 90.0) -> str:
        """The final status text (✅ or ❌) of a /diagram."""

        def final():
            return next((t for t in self.server.texts_to_user(sent.token) if t.startswith(("✅", "❌"))), None)

        return self.wait(final, timeout, "the request to finish")

    def posts_of(self, request_id: int) -> list[dict]:
        return [p for p in self.server.bot_posts() if f"request #{request_id} " in p["content"]]

    def diagram(self, user: int, text: str = REQUEST, **options) -> tuple[SentInteraction, int, list[dict]]:
        """A user runs /diagram and the bot answers completely; (interaction, request id, posts).

        The bot posts the best TOP *distinct* diagrams: fewer when the samples drew the same one,
        so the count to expect is the one its final status line announces."""
        sent = self.server.send_command(user, text, **options)
        self.ack(sent)
        final = self.finished(sent)
        assert final.startswith("✅"), final
        request_id = request_id_of([final])
        shown = int(final.split("the best ")[1].split(" ")[0])
        posts = self.wait(
            lambda: len(self.posts_of(request_id)) == shown and self.posts_of(request_id), 10, "the posts"
        )
        for post in posts:  # the last reaction may land just after the final status edit
            self.wait(
                lambda post=post: self.server.own_reactions(int(post["id"])) == RATING_EMOJIS,
                15,
                f"the five rating reactions on {post['id']}",
            )
        return sent, request_id, posts


@pytest.fixture(scope="module")
def wire(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loopback")
    token = "loopback." + secrets.token_urlsafe(48)  # random: it can only leak from the wire
    server = LoopbackDiscord(token, heartbeat_ms=2000, users=5).start()
    data = tmp / "data"
    config = write_config(tmp / "config.toml", data, candidates=CANDIDATES, top=TOP, threads=1)
    bot = BotProcess(server, config, token, tmp / "bot.log").start()
    try:
        bot.wait_ready(timeout=120)
        yield Wire(server, bot, BotDatabase(data / "diagrambot.sqlite3"), token)
    finally:
        bot.stop()
        server.stop()


@pytest.fixture(scope="module")
def first(wire):
    """The first user's /diagram, answered completely: (interaction, request id, posts)."""
    return wire.diagram(wire.server.user_ids[0])


# ---------------------------------------------------------------------------------- login


def test_login_ready_and_command_sync_on_the_wire(wire):
    server = wire.server
    me, app = server.requests_to("me", "GET"), server.requests_to("application", "GET")
    assert me and app, [r.path for r in server.requests[:5]]
    # The token from DISCORD_TOKEN is on every bot REST call (the server checks it) ...
    assert all(r.authorized for r in me + app)
    # ... and login comes first: users/@me, then the application, then the command sync.
    synced = server.requests_to("sync_global", "PUT")
    assert len(synced) == 1 and me[0].index < app[0].index < synced[0].index
    commands = {c["name"]: c for c in synced[0].json}
    assert {"diagram", "admin"} <= set(commands)
    assert {o["name"] for o in commands["admin"]["options"]} == {"retrain", "jobs", "queue", "stats", "reload"}
    options = {o["name"]: o for o in commands["diagram"]["options"]}
    assert options["request"]["type"] == 3 and options["request"]["required"] is True
    assert options["candidates"]["type"] == 4 and options["candidates"].get("min_value") == 1
    assert options["top"]["type"] == 4 and not options["top"].get("required")
    assert commands["diagram"]["contexts"] == [0]  # guild only

    # Gateway: IDENTIFY with the minimum intents (guilds + guild reactions: no message content).
    identify = server.identifies[0]
    assert identify["intents"] == INTENT_GUILDS | INTENT_GUILD_MESSAGE_REACTIONS
    session = server.sessions[identify["session_id"]]
    assert [event for _, event, _ in session.log[:2]] == ["READY", "GUILD_CREATE"]
    # Heartbeats (every 2 s here) are sent and acknowledged: the event loop is never blocked long.
    wire.wait(lambda: sum(m.op == 1 and m.direction == "in" for m in server.gateway) >= 2, 30, "heartbeats")
    assert sum(m.op == 11 for m in server.gateway) >= 1
    # discord.py asked for zlib but reads our plain-text frames; nothing the bot called is unknown here.
    assert server.unknown == []
    # The token is a secret: not in the bot's log.
    assert wire.token not in wire.bot.log_text()


# ---------------------------------------------------------------------------------- /diagram


def test_diagram_defers_then_posts_each_diagram_as_multipart_with_five_reactions(wire, first):
    server = wire.server
    sent, request_id, posts = first
    # The first answer is a public "thinking…" defer, and it is the bot's first REST call after the
    # interaction arrived: nothing is done before it. (Discord wants it within 3 s; the latency is
    # measured by bench/bot_wire.py, not held here, where a busy machine would fail it.)
    assert sent.callback["type"] == DEFERRED
    assert not (sent.callback.get("data") or {}).get("flags", 0) & 64
    with server.cond:
        after = [r for r in server.requests if r.t >= sent.t_sent]
    assert after[0].route == "callback" and f"/{sent.id}/" in after[0].path, [r.path for r in after[:5]]
    # The status message is edited along the way: queue place, generating, final line.
    texts = server.texts_to_user(sent.token)
    assert texts[0].startswith("⏳ Request #") and texts[-1].startswith(f"✅ Request #{request_id}: the best")
    assert any("generating 2 candidates" in t for t in texts)

    # The announced number of posts (TOP, or fewer when samples repeat), one image per message,
    # each a multipart upload (payload_json + files[0]).
    assert f"the best {len(posts)} of {CANDIDATES} candidates" in texts[-1] and 1 <= len(posts) <= TOP
    uploads = [
        r
        for r in server.requests_to("create_message", "POST")
        if r.status == 200 and f"request #{request_id} " in r.json["content"]
    ]
    assert len(uploads) == len(posts)
    stored = wire.db.posts_for_request(request_id)
    assert sorted(int(p["id"]) for p in posts) == [row["message_id"] for row in stored]
    for upload, row in zip(uploads, stored):
        assert upload.multipart and upload.authorized
        [image] = upload.files
        assert image.field == "files[0]" and image.data.startswith(b"\x89PNG\r\n\x1a\n")
        assert image.filename == f"diagram-{row['candidate_id']}.png"  # the stored candidate is the one shown
        buttons = [c["custom_id"] for row_ in upload.json["components"] for c in row_["components"]]
        assert any(b.startswith(f"diagram:reroll:{request_id}:") for b in buttons)
        assert any(b.startswith(f"diagram:spec:{row['candidate_id']}:") for b in buttons)
    for post in posts:
        assert server.own_reactions(int(post["id"])) == RATING_EMOJIS  # 1️⃣..5️⃣, in order
    assert wire.db.request(request_id)["status"] == "done"
    assert server.unknown == []


def test_reactions_rate_and_unrate_in_the_database(wire, first):
    server = wire.server
    _, _, posts = first
    message = int(posts[0]["id"])
    ada, ben = server.user_ids[0], server.user_ids[1]
    candidate = wire.db.post(message)["candidate_id"]

    server.react(ada, message, FOUR)
    wire.wait_db(lambda db: db.rating(ada, message) == 4, what="ada's 4")
    server.react(ada, message, TWO)  # switching: the latest emoji is the rating
    wire.wait_db(lambda db: db.rating(ada, message) == 2, what="ada's switch to 2")
    server.react(ada, message, FOUR, add=False)  # removing the older emoji keeps the 2
    server.react(ben, message, "👍")  # not a rating emoji
    server.react(ben, message, FIVE)  # barrier: handled after the two above
    wire.wait_db(lambda db: db.rating(ben, message) == 5, what="ben's 5")
    time.sleep(0.3)
    assert wire.db.rating(ada, message) == 2
    server.react(ada, message, TWO, add=False)  # removing the current rating removes it
    wire.wait_db(lambda db: db.rating(ada, message) is None, what="ada's rating removed")
    # The bot's own five reactions came back over the gateway too; none became a rating.
    raters = {
        row["user_id"] for row in wire.db.query("SELECT user_id FROM ratings WHERE candidate_id = ?", (candidate,))
    }
    assert raters == {str(ben)}
    assert str(server.app_id) not in {row["user_id"] for row in wire.db.query("SELECT user_id FROM ratings")}


# ---------------------------------------------------------------------------------- 429


def test_rate_limited_post_reaction_and_edit_are_retried_and_nothing_is_lost(wire):
    server = wire.server
    post_rule = server.rate_limit("POST", POST_PATH, retry_after=0.6)
    reaction_rule = server.rate_limit("PUT", REACTION_PATH, retry_after=0.4)
    edit_rule = server.rate_limit("PATCH", EDIT_PATH, retry_after=0.3)
    user = server.user_ids[2]
    sent, request_id, posts = wire.diagram(user)

    assert (post_rule.hits, reaction_rule.hits, edit_rule.hits) == (1, 1, 1)
    for kind, rule in (("create_message", post_rule), ("add_reaction", reaction_rule), ("webhook_edit", edit_rule)):
        limited = [r for r in server.requests_to(kind) if r.status == 429]
        assert len(limited) == 1, kind
        first_try = limited[0]
        # discord.py waited retry_after, then sent the same request again, which went through: the
        # retry is seen by the server, not read from discord.py's log.
        retry = next(r for r in server.requests_to(kind) if r.index > first_try.index and r.path == first_try.path)
        assert retry.status in (200, 204) and retry.t - first_try.t >= rule.retry_after * 0.9
        assert retry.json == first_try.json
        assert [f.data for f in retry.files] == [f.data for f in first_try.files]
    # Nothing lost: every post is on the wire and in the database, each with all five reactions,
    # and the status edit that hit the 429 was not skipped.
    assert len(posts) >= 1
    assert sorted(int(p["id"]) for p in posts) == [r["message_id"] for r in wire.db.posts_for_request(request_id)]
    for post in posts:
        assert server.own_reactions(int(post["id"])) == RATING_EMOJIS
    edits = [
        r.json.get("content") for r in server.requests_to("webhook_edit") if sent.token in r.path and r.status == 200
    ]
    limited_edit = next(r for r in server.requests_to("webhook_edit") if r.status == 429)
    assert limited_edit.json.get("content") in edits


# ---------------------------------------------------------------------------------- gateway drop


def test_gateway_dropped_mid_request_resumes_replays_and_keeps_posting(wire, first):
    server = wire.server
    _, _, old_posts = first
    old = int(old_posts[0]["id"])
    cam, dee = server.user_ids[2], server.user_ids[3]
    sent = server.send_command(server.user_ids[1], REQUEST)
    wire.ack(sent)
    wire.wait(lambda: any("generating" in t for t in server.texts_to_user(sent.token)), 30, "generation to start")
    identifies, resumes = len(server.identifies), len(server.resumes)
    session = server.active

    # The TCP connection dies mid-request; a rating happens while the bot is away (it must be replayed).
    dropped_at = time.monotonic()
    last_delivered = server.drop()
    missed = server.react(cam, old, THREE)

    resume = wire.wait(lambda: len(server.resumes) > resumes and server.resumes[-1], 30, "RESUME")
    assert resume["session_id"] == session.id and resume["seq"] == last_delivered
    assert missed in resume["replayed"]
    assert len(server.identifies) == identifies  # resumed, not a new session
    wire.wait(lambda: server.connected(), 10, "the resumed connection")
    assert [event for _, event, _ in session.log if event == "RESUMED"]
    server.react(dee, old, FOUR)  # right after the resume

    final = wire.finished(sent)
    assert final.startswith("✅"), final
    request_id = request_id_of([final])
    shown = int(final.split("the best ")[1].split(" ")[0])
    posts = wire.wait(lambda: len(wire.posts_of(request_id)) == shown and wire.posts_of(request_id), 10, "the posts")
    assert sorted(int(p["id"]) for p in posts) == [r["message_id"] for r in wire.db.posts_for_request(request_id)]
    uploads = [
        r for r in server.requests_to("create_message", "POST") if f"request #{request_id} " in r.json["content"]
    ]
    assert uploads and all(r.t > dropped_at for r in uploads)  # the drop really was mid-request
    wire.wait_db(lambda db: db.rating(cam, old) == 3, what="the replayed rating")
    wire.wait_db(lambda db: db.rating(dee, old) == 4, what="the rating sent right after the resume")
    server.react(dee, int(posts[0]["id"]), FIVE)  # and on a post made across the drop
    wire.wait_db(lambda db: db.rating(dee, int(posts[0]["id"])) == 5, what="a rating on the new post")
    assert server.unknown == []


# ---------------------------------------------------------------------------------- remix


def test_remix_opens_a_prefilled_form_and_draws_the_edit_as_a_linked_request(wire, first):
    server = wire.server
    _, request_id, posts = first
    user = server.user_ids[0]
    [button] = [
        c["custom_id"] for row in posts[0]["components"] for c in row["components"] if c.get("label") == "Remix"
    ]
    clicked = server.click(user, posts[0], button)
    form = wire.ack(clicked)
    assert form["type"] == 9  # MODAL: the form is the first answer
    [field] = [c for row in form["data"]["components"] for c in row["components"]]
    assert field["value"] == REQUEST

    edited = REQUEST.replace("3 hidden nodes", "4 hidden nodes")
    submitted = server.submit_modal(user, form["data"]["custom_id"], {field["custom_id"]: edited})
    assert wire.ack(submitted)["type"] == DEFERRED
    final = wire.finished(submitted)
    assert final.startswith("✅"), final
    remix_id = request_id_of([final])
    row = wire.wait_db(
        lambda db: (r := db.request(remix_id)) is not None and r["status"] == "done" and r,
        what="the remix request, done",
    )
    assert (row["text"], row["remix_of"], row["status"]) == (edited, request_id, "done")
    wire.wait(lambda: wire.posts_of(remix_id), 10, "the remix's posts")


# ---------------------------------------------------------------------------------- SIGKILL


@pytest.fixture(scope="module")
def restarted(wire, first):
    """A /diagram is running when the bot is SIGKILLed; the same bot starts again on the same files."""
    server = wire.server
    sent = server.send_command(server.user_ids[3], REQUEST, candidates=4)
    wire.ack(sent)
    wire.wait(lambda: any("generating" in t for t in server.texts_to_user(sent.token)), 30, "generation to start")
    request_id = request_id_of(server.texts_to_user(sent.token))
    wire.bot.kill()
    before = wire.db.request(request_id)["status"]
    messages_before = max(server.messages, default=0)
    identifies = len(server.identifies)
    wire.bot.start()
    wire.bot.wait_ready(timeout=120)
    return sent, request_id, before, messages_before, identifies


def test_killed_mid_request_is_marked_failed_and_old_posts_still_rate(wire, first, restarted):
    server = wire.server
    sent, request_id, before, _, identifies = restarted
    assert before == "running"  # it really was mid-request when killed
    row = wire.db.request(request_id)
    assert row["status"] == "failed" and RESTARTED in (row["error"] or "")
    assert row["finished"] is not None
    # A new process identifies afresh (a killed process has no session to resume).
    assert len(server.identifies) == identifies + 1
    assert not [t for t in server.texts_to_user(sent.token) if t.startswith(("✅", "❌"))]  # it never finished
    # A reaction on a post made before the restart is still a rating (raw events, posts in the database).
    _, _, posts = first
    eve = server.user_ids[4]
    server.react(eve, int(posts[0]["id"]), ONE)
    wire.wait_db(lambda db: db.rating(eve, int(posts[0]["id"])) == 1, what="a rating on a pre-restart post")
    assert wire.token not in wire.bot.log_text()
    assert server.unknown == []


def test_killed_mid_request_user_is_told_after_the_restart(wire, restarted):
    server = wire.server
    sent, request_id, _, messages_before, _ = restarted

    # Give the restarted bot a moment past READY to tell anyone it owes an answer: an edit of the
    # interaction's message, a follow-up, or a channel message naming the request (not a diagram caption).
    def told() -> list[str]:
        texts = [t for t in server.texts_to_user(sent.token) if t.startswith("❌") or RESTARTED in t]
        texts += [
            t
            for t in server.channel_texts(since_id=messages_before)
            if f"#{request_id}" in t and not t.startswith("**#")
        ]
        return texts

    # A hang guard, not a latency bound: the notice follows READY within a second or so.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not told():
        time.sleep(0.2)
    assert told(), f"request #{request_id} was marked failed, but its user was never told"
    [notice] = [t for t in told() if f"#{request_id}" in t]
    assert notice.startswith(f"<@{sent.user_id}> ❌") and "send it again" in notice
