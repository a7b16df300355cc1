"""TEST TOOL, not a product: a small Discord-compatible server on 127.0.0.1 for loopback tests.

The real `diagrambot bot` process (started by `tests/loopback_launch.py`, which points discord.py
at this server) talks to it over real sockets: REST over HTTP and the gateway over a websocket,
exactly as it would talk to Discord. Nothing here is imported by the product.

What it speaks (the part of the Discord API the bot uses, shaped as discord.py 2.7 reads it):

- REST under `/api/v10`: `GET /users/@me`, `GET /oauth2/applications/@me`, `GET /gateway[/bot]`,
  command sync (`PUT /applications/{app}/commands` and `.../guilds/{guild}/commands`), the
  interaction callback (`POST /interactions/{id}/{token}/callback`), webhook follow-ups and edits
  (`/webhooks/{app}/{token}`, `.../messages/@original|{id}`, JSON or multipart with
  `payload_json` plus `files[N]`), channel messages and the bot's reactions
  (`PUT|DELETE /channels/{c}/messages/{m}/reactions/{emoji}/@me`). Any other route is logged
  loudly (`UNKNOWN ROUTE`), recorded in `unknown` and answered 404, so a gap is visible.
- The gateway: HELLO, IDENTIFY -> READY (`resume_gateway_url` = this server's ws URL) and
  GUILD_CREATE for one test guild (a text channel and members), heartbeats and their ACKs,
  RESUME (replaying every event after the client's sequence number, then RESUMED), and events
  filtered by the intents the client identified with.
- Test controls: inject INTERACTION_CREATE (`/diagram` with options) and
  MESSAGE_REACTION_ADD/REMOVE, drop the websocket (abort or close code), answer chosen REST calls
  with 429 + `retry_after` (with the `X-RateLimit-*`, `Retry-After` and `Via` headers discord.py
  reads), and every request received is recorded (`requests`), the Authorization header reduced
  to "was it the right token" so the token is never stored or printed.

The server runs its own event loop on a background thread; the test-facing methods are plain
synchronous calls (thread-safe), and `wait_for(predicate)` blocks until the recorded state
satisfies the predicate. Also here: `BotProcess` (the bot as a subprocess through the launcher),
`write_config` and `BotDatabase` (read-only looks at the bot's SQLite file), shared by
tests/test_loopback.py and bench/bot_wire.py.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import random
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger("discord_loopback")

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = Path(__file__).resolve().parent / "loopback_launch.py"
DISCORD_EPOCH_MS = 1420070400000
API_PREFIX = "/api/v10"

# Gateway opcodes and intents (https://discord.com/developers/docs/topics/opcodes-and-status-codes).
OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_RESUME, OP_INVALID_SESSION, OP_HELLO, OP_HEARTBEAT_ACK = (
    0,
    1,
    2,
    6,
    9,
    10,
    11,
)
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_GUILD_MESSAGE_REACTIONS = 1 << 10
EVENT_INTENTS = {
    "GUILD_CREATE": INTENT_GUILDS,
    "MESSAGE_CREATE": INTENT_GUILD_MESSAGES,
    "MESSAGE_REACTION_ADD": INTENT_GUILD_MESSAGE_REACTIONS,
    "MESSAGE_REACTION_REMOVE": INTENT_GUILD_MESSAGE_REACTIONS,
}
ALL_PERMISSIONS = str((1 << 50) - 1)
RATING_EMOJIS = [
    "1\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
    "2\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
    "3\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
    "4\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
    "5\N{VARIATION SELECTOR-16}\N{COMBINING ENCLOSING KEYCAP}",
]


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


class Snowflakes:
    """Unique, increasing Discord ids (time in the high bits, as Discord's)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def __call__(self) -> int:
        with self._lock:
            value = max((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22, self._last + 1)
            self._last = value
            return value


@dataclass
class UploadedFile:
    field: str  # the multipart field name, e.g. "files[0]"
    filename: str
    content_type: str
    data: bytes


@dataclass
class Recorded:
    """One HTTP request the server received (and what it answered)."""

    index: int
    t: float  # time.monotonic() on arrival
    method: str
    path: str  # without /api/v10, percent-decoded
    query: dict
    route: str  # route name, or "unknown"
    authorized: bool  # Authorization was "Bot <the expected token>" (never stored itself)
    has_auth: bool
    json: Any = None  # the JSON body, or a multipart request's payload_json
    files: list[UploadedFile] = field(default_factory=list)
    multipart: bool = False
    status: int = 0
    retry_after: float | None = None  # set when answered 429


@dataclass
class RateLimitRule:
    """Answer matching requests with 429 `times` times (or each with probability `probability`)."""

    method: str
    pattern: re.Pattern
    times: int | None = 1
    probability: float | None = None
    retry_after: float = 0.3
    global_: bool = False
    hits: int = 0
    limited: set = field(default_factory=set)  # probability rules: requests already answered 429 once


@dataclass
class GatewayMessage:
    t: float
    direction: str  # "in" (from the bot) or "out"
    op: int
    event: str | None
    seq: int | None
    data: Any
    conn: int


@dataclass
class Session:
    id: str
    intents: int
    seq: int = 0
    log: list = field(default_factory=list)  # (seq, event name, data) of every dispatch
    conn: Connection | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class Connection:
    number: int
    ws: web.WebSocketResponse
    transport: Any
    query: dict
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    session: Session | None = None
    closed: bool = False


@dataclass
class SentInteraction:
    id: int
    token: str
    user_id: int
    t_sent: float
    data: dict
    t_callback: float | None = None
    callback: Any = None


class LoopbackDiscord:
    """`server = LoopbackDiscord(token=...); server.start(); ... server.stop()` (or use `with`)."""

    def __init__(
        self, token: str, *, heartbeat_ms: int = 41250, echo_own_reactions: bool = True, users: int = 3, seed: int = 0
    ) -> None:
        self._token = token
        self.heartbeat_ms = heartbeat_ms
        self.echo_own_reactions = echo_own_reactions  # Discord sends the bot its own reactions too
        self.ids = Snowflakes()
        self.rng = random.Random(seed)
        self.app_id = self.ids()
        self.bot_user = self._user(self.app_id, "diagrambot-loopback", bot=True)
        self.owner = self._user(self.ids(), "guild-owner")
        self.guild_id = self.ids()
        self.channel_id = self.ids()
        self.members: dict[int, dict] = {}
        self.add_users(users)
        # recorded state (guarded by self.cond)
        self.cond = threading.Condition(threading.RLock())
        self.requests: list[Recorded] = []
        self.unknown: list[str] = []
        self.messages: dict[int, dict] = {}  # channel messages by id
        self.reactions: dict[int, dict[str, list[int]]] = {}  # message id -> emoji -> user ids, in order
        self.webhook_messages: dict[str, dict[str, dict]] = {}  # token -> "@original" | id -> message
        self.original_edits: dict[str, list[dict]] = {}  # token -> every @original edit body
        self.followups: dict[str, list[dict]] = {}
        self.interactions: dict[int, SentInteraction] = {}
        self.by_token: dict[str, SentInteraction] = {}
        self.commands: dict[int | None, list[dict]] = {}  # guild id (None: global) -> commands
        self.rules: list[RateLimitRule] = []
        self.gateway: list[GatewayMessage] = []
        self.sessions: dict[str, Session] = {}
        self.active: Session | None = None
        self.identifies: list[dict] = []
        self.resumes: list[dict] = []
        self.connections = 0
        self._index = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def start(self) -> LoopbackDiscord:
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_app())
            except BaseException as error:  # noqa: BLE001 - reported to the caller
                failure.append(error)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="discord-loopback", daemon=True)
        self._thread.start()
        started.wait(30)
        if failure:
            raise failure[0]
        return self

    async def _start_app(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/", self._gateway_handler)
        app.router.add_route("*", "/{tail:.*}", self._rest_handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        log.info("loopback Discord on %s", self.http_url)

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():

            async def close_all() -> None:
                for session in self.sessions.values():
                    if session.conn is not None and not session.conn.ws.closed:
                        await session.conn.ws.close(code=1001)

            try:
                self.call(close_all(), timeout=5)
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> LoopbackDiscord:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, coro, timeout: float = 10.0):
        """Run a coroutine on the server's loop from the test's thread."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # ------------------------------------------------------------------ payloads

    def _user(self, user_id: int, name: str, bot: bool = False) -> dict:
        return {
            "id": str(user_id),
            "username": name,
            "discriminator": "0",
            "global_name": name,
            "avatar": None,
            "bot": bot,
            "public_flags": 0,
            "flags": 0,
        }

    def add_users(self, count: int) -> list[int]:
        """Members of the test guild (the users who ask and rate); their ids."""
        added = []
        for _ in range(count):
            user_id = self.ids()
            self.members[user_id] = self._user(user_id, f"user{len(self.members) + 1}")
            added.append(user_id)
        return added

    @property
    def user_ids(self) -> list[int]:
        return list(self.members)

    def _member(self, user: dict) -> dict:
        return {
            "user": user,
            "nick": None,
            "avatar": None,
            "roles": [],
            "joined_at": iso_now(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
        }

    def channel_payload(self) -> dict:
        return {
            "id": str(self.channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": "diagrams",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
        }

    def guild_payload(self) -> dict:
        members = [self._member(self.bot_user), self._member(self.owner)]
        members += [self._member(user) for user in self.members.values()]
        everyone = {
            "id": str(self.guild_id),
            "name": "@everyone",
            "permissions": "2248473465835073",
            "position": 0,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
            "icon": None,
            "unicode_emoji": None,
        }
        return {
            "id": str(self.guild_id),
            "name": "loopback guild",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": self.owner["id"],
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [everyone],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": iso_now(),
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "members": members,
            "channels": [self.channel_payload()],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "max_members": 500000,
            "max_video_channel_users": 25,
        }

    def _message(
        self,
        message_id: int,
        channel_id: int,
        body: dict,
        files: list[UploadedFile],
        author: dict | None = None,
        webhook_id: int | None = None,
    ) -> dict:
        attachments = []
        for upload in files:
            attachment_id = self.ids()
            url = f"{self.http_url}/attachments/{channel_id}/{attachment_id}/{upload.filename}"
            attachments.append(
                {
                    "id": str(attachment_id),
                    "filename": upload.filename,
                    "size": len(upload.data),
                    "url": url,
                    "proxy_url": url,
                    "content_type": upload.content_type,
                }
            )
        message = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": author or self.bot_user,
            "content": body.get("content") or "",
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": attachments,
            "embeds": body.get("embeds") or [],
            "pinned": False,
            "type": 0,
            "flags": int(body.get("flags") or 0),
            "components": body.get("components") or [],
        }
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
            message["application_id"] = str(self.app_id)
        return message

    # ------------------------------------------------------------------ waiting and reading

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        """Block until predicate() is truthy (evaluated under the state lock); its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n  ".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests[-15:])
                    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}; last requests:\n  {tail}")
                self.cond.wait(min(left, 0.5))

    def _changed(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def requests_to(self, route: str, method: str | None = None) -> list[Recorded]:
        with self.cond:
            return [r for r in self.requests if r.route == route and (method is None or r.method == method)]

    def bot_posts(self, since_id: int = 0) -> list[dict]:
        """Channel messages the bot posted with at least one file, oldest first."""
        with self.cond:
            return [
                m
                for mid, m in sorted(self.messages.items())
                if mid > since_id and m["author"]["id"] == self.bot_user["id"] and m["attachments"]
            ]

    def own_reactions(self, message_id: int) -> list[str]:
        """The emoji the bot itself put on a message, in the order added."""
        with self.cond:
            return [emoji for emoji, users in self.reactions.get(message_id, {}).items() if self.app_id in users]

    def original_text(self, token: str) -> str | None:
        with self.cond:
            message = self.webhook_messages.get(token, {}).get("@original")
            return None if message is None else message.get("content")

    def texts_to_user(self, token: str) -> list[str]:
        """Every text the bot sent through an interaction: @original edits and follow-ups."""
        with self.cond:
            texts = [edit.get("content") or "" for edit in self.original_edits.get(token, [])]
            texts += [f.get("content") or "" for f in self.followups.get(token, [])]
            return texts

    def channel_texts(self, since_id: int = 0) -> list[str]:
        with self.cond:
            return [m["content"] for mid, m in sorted(self.messages.items()) if mid > since_id]

    # ------------------------------------------------------------------ rate limits

    def rate_limit(
        self,
        method: str,
        pattern: str,
        *,
        times: int | None = 1,
        probability: float | None = None,
        retry_after: float = 0.3,
        global_: bool = False,
    ) -> RateLimitRule:
        """Answer requests `method` on paths matching `pattern` (regex on the path after /api/v10)
        with 429: the next `times` of them, or each with `probability` (times=None; a request
        answered 429 is let through when it is retried: same path, body and files)."""
        rule = RateLimitRule(method.upper(), re.compile(pattern), times, probability, retry_after, global_)
        with self.cond:
            self.rules.append(rule)
        return rule

    def _rate_limited(self, record: Recorded) -> RateLimitRule | None:
        for rule in self.rules:
            if rule.method != record.method or not rule.pattern.search(record.path):
                continue
            if rule.times is not None and rule.hits < rule.times:
                rule.hits += 1
                return rule
            if rule.times is None and rule.probability:
                key = (record.path, json.dumps(record.json, sort_keys=True), tuple(f.data for f in record.files))
                if key not in rule.limited and self.rng.random() < rule.probability:
                    rule.limited.add(key)
                    rule.hits += 1
                    return rule
        return None

    @staticmethod
    def _ratelimit_headers(bucket: str, remaining: int, reset_after: float) -> dict:
        return {
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }

    # ------------------------------------------------------------------ REST

    def _json(self, payload: Any, status: int = 200, headers: dict | None = None) -> web.Response:
        # discord.py parses JSON only when the content type is exactly application/json.
        merged = {"Content-Type": "application/json", "Via": "1.1 google"}
        merged.update(headers or {})
        return web.Response(status=status, body=json.dumps(payload).encode(), headers=merged)

    def _empty(self, headers: dict | None = None) -> web.Response:
        return web.Response(status=204, headers={"Via": "1.1 google", **(headers or {})})

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile], bool]:
        content_type = request.headers.get("Content-Type", "")
        if content_type.startswith("multipart/"):
            payload, files = None, []
            reader = await request.multipart()
            async for part in reader:
                data = await part.read(decode=False)
                if part.name == "payload_json":
                    payload = json.loads(data.decode())
                else:
                    files.append(
                        UploadedFile(
                            part.name or "", part.filename or "", part.headers.get("Content-Type", ""), bytes(data)
                        )
                    )
            return payload, files, True
        raw = await request.read()
        if not raw:
            return None, [], False
        try:
            return json.loads(raw.decode()), [], False
        except ValueError:
            return raw.decode(errors="replace"), [], False

    ROUTES: list[tuple[str, str, str]] = [
        ("GET", r"/users/@me", "me"),
        ("GET", r"/oauth2/applications/@me", "application"),
        ("GET", r"/gateway(/bot)?", "gateway"),
        ("PUT", r"/applications/(?P<app>\d+)/commands", "sync_global"),
        ("GET", r"/applications/(?P<app>\d+)/commands", "get_global"),
        ("PUT", r"/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands", "sync_guild"),
        ("GET", r"/applications/(?P<app>\d+)/guilds/(?P<guild>\d+)/commands", "get_guild"),
        ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", "callback"),
        ("POST", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)", "followup"),
        ("GET", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)", "webhook_get"),
        ("PATCH", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)", "webhook_edit"),
        ("DELETE", r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)/messages/(?P<mid>@original|\d+)", "webhook_delete"),
        ("GET", r"/channels/(?P<cid>\d+)", "get_channel"),
        ("POST", r"/channels/(?P<cid>\d+)/messages", "create_message"),
        ("GET", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", "get_message"),
        ("PATCH", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", "edit_message"),
        ("DELETE", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)", "delete_message"),
        ("PUT", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)/reactions/(?P<emoji>[^/]+)/@me", "add_reaction"),
        ("DELETE", r"/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)/reactions/(?P<emoji>[^/]+)/@me", "remove_reaction"),
    ]
    _COMPILED = [(method, re.compile(pattern + r"/?$"), name) for method, pattern, name in ROUTES]

    async def _rest_handler(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path.startswith(API_PREFIX):
            path = path[len(API_PREFIX) :]
        method = request.method
        route, params = "unknown", {}
        for route_method, pattern, name in self._COMPILED:
            match = pattern.match(path)
            if match and route_method == method:
                route, params = name, match.groupdict()
                break
        auth = request.headers.get("Authorization")
        body, files, multipart = await self._read_body(request)
        record = Recorded(
            next(self._index),
            time.monotonic(),
            method,
            path,
            dict(request.query),
            route,
            authorized=auth == f"Bot {self._token}",
            has_auth=auth is not None,
            json=body,
            files=files,
            multipart=multipart,
        )
        with self.cond:
            self.requests.append(record)
            rule = self._rate_limited(record) if route != "unknown" else None
        try:
            if route == "unknown":
                line = f"UNKNOWN ROUTE {method} {request.path} (answered 404; add it to tests/discord_loopback.py)"
                log.error(line)
                print(f"[discord_loopback] {line}", file=sys.stderr, flush=True)
                with self.cond:
                    self.unknown.append(f"{method} {path}")
                response = self._json({"message": "404: Not Found", "code": 0}, status=404)
            elif rule is not None:
                record.retry_after = rule.retry_after
                scope = "global" if rule.global_ else "user"
                headers = self._ratelimit_headers(f"loopback-{route}", 0, rule.retry_after)
                headers.update({"Retry-After": str(max(1, int(rule.retry_after + 0.999))), "X-RateLimit-Scope": scope})
                if rule.global_:
                    headers["X-RateLimit-Global"] = "true"
                response = self._json(
                    {
                        "message": "You are being rate limited.",
                        "retry_after": rule.retry_after,
                        "global": rule.global_,
                        "code": 0,
                    },
                    status=429,
                    headers=headers,
                )
            elif (
                route not in ("callback", "followup", "webhook_get", "webhook_edit", "webhook_delete")
                and not record.authorized
            ):
                response = self._json({"message": "401: Unauthorized", "code": 0}, status=401)
            else:
                response = await getattr(self, f"_route_{route}")(record, **params)
                if isinstance(response, web.Response) and route not in ("callback",):
                    response.headers.update(self._ratelimit_headers(f"loopback-{route}", 4, 1.0))
        except Exception as error:  # noqa: BLE001 - a bug here must show, not hang the bot
            log.exception("loopback handler %s failed", route)
            print(f"[discord_loopback] handler {route} failed: {error!r}", file=sys.stderr, flush=True)
            response = self._json({"message": f"loopback error: {error}", "code": 0}, status=500)
        record.status = response.status
        self._changed()
        return response

    async def _route_me(self, record: Recorded) -> web.Response:
        return self._json(
            {
                **self.bot_user,
                "verified": True,
                "mfa_enabled": False,
                "email": None,
                "locale": "en-US",
                "premium_type": 0,
            }
        )

    async def _route_application(self, record: Recorded) -> web.Response:
        return self._json(
            {
                "id": str(self.app_id),
                "name": "diagrambot-loopback",
                "icon": None,
                "description": "",
                "rpc_origins": [],
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": self.owner,
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "summary": "",
                "bot": self.bot_user,
                "interactions_endpoint_url": None,
                "redirect_uris": [],
                "tags": [],
                "approximate_guild_count": 1,
                "integration_types_config": {},
            }
        )

    async def _route_gateway(self, record: Recorded) -> web.Response:
        return self._json(
            {
                "url": self.ws_url.rstrip("/"),
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            }
        )

    def _store_commands(self, guild: int | None, body: list) -> list[dict]:
        stored = []
        for command in body or []:
            stored.append(
                {
                    "id": str(self.ids()),
                    "application_id": str(self.app_id),
                    "version": str(self.ids()),
                    "type": 1,
                    "description": "",
                    "options": [],
                    "default_member_permissions": None,
                    "dm_permission": True,
                    "nsfw": False,
                    "contexts": None,
                    "integration_types": [0],
                    **command,
                    **({"guild_id": str(guild)} if guild else {}),
                }
            )
        with self.cond:
            self.commands[guild] = stored
        return stored

    async def _route_sync_global(self, record: Recorded, app: str) -> web.Response:
        return self._json(self._store_commands(None, record.json))

    async def _route_sync_guild(self, record: Recorded, app: str, guild: str) -> web.Response:
        return self._json(self._store_commands(int(guild), record.json))

    async def _route_get_global(self, record: Recorded, app: str) -> web.Response:
        return self._json(self.commands.get(None, []))

    async def _route_get_guild(self, record: Recorded, app: str, guild: str) -> web.Response:
        return self._json(self.commands.get(int(guild), []))

    async def _route_callback(self, record: Recorded, iid: str, token: str) -> web.Response:
        sent = self.interactions.get(int(iid))
        if sent is None or sent.token != token:
            return self._json({"message": "Unknown interaction", "code": 10062}, status=404)
        if sent.callback is not None:
            return self._json({"message": "Interaction has already been acknowledged.", "code": 40060}, status=400)
        body = record.json or {}
        callback_type = int(body.get("type", 0))
        data = body.get("data") or {}
        flags = int(data.get("flags") or 0)
        if callback_type == 9:  # MODAL: a form is shown, no message exists yet
            with self.cond:
                sent.t_callback, sent.callback = record.t, body
            self._changed()
            return self._json({"interaction": {"id": str(sent.id), "type": 3}, "resource": {"type": 9}})
        with self.cond:
            sent.t_callback, sent.callback = record.t, body
            message = self._message(
                self.ids(),
                self.channel_id,
                data if callback_type == 4 else {"content": "", "flags": flags | 128},
                record.files,
                webhook_id=self.app_id,
            )
            message["interaction"] = {
                "id": str(sent.id),
                "type": 2,
                "name": sent.data["name"],
                "user": self.members.get(sent.user_id, self.owner),
            }
            self.webhook_messages.setdefault(token, {})["@original"] = message
        resource = {"type": callback_type}
        if callback_type in (4, 5):
            resource["message"] = message
        return self._json(
            {
                "interaction": {
                    "id": str(sent.id),
                    "type": 2,
                    "response_message_id": message["id"],
                    "response_message_loading": callback_type == 5,
                    "response_message_ephemeral": bool(flags & 64),
                },
                "resource": resource,
            }
        )

    async def _route_followup(self, record: Recorded, app: str, token: str) -> web.Response:
        if token not in self.by_token:
            return self._json({"message": "Unknown Webhook", "code": 10015}, status=404)
        body = record.json or {}
        message = self._message(self.ids(), self.channel_id, body, record.files, webhook_id=self.app_id)
        with self.cond:
            self.followups.setdefault(token, []).append(body)
            self.webhook_messages.setdefault(token, {})[message["id"]] = message
        return self._json(message)

    def _webhook_message(self, token: str, mid: str) -> dict | None:
        return self.webhook_messages.get(token, {}).get(mid)

    async def _route_webhook_get(self, record: Recorded, app: str, token: str, mid: str) -> web.Response:
        message = self._webhook_message(token, mid)
        if message is None:
            return self._json({"message": "Unknown Message", "code": 10008}, status=404)
        return self._json(message)

    async def _route_webhook_edit(self, record: Recorded, app: str, token: str, mid: str) -> web.Response:
        message = self._webhook_message(token, mid)
        if message is None:
            return self._json({"message": "Unknown Message", "code": 10008}, status=404)
        body = record.json or {}
        with self.cond:
            for key in ("content", "embeds", "components"):
                if key in body:
                    message[key] = body[key] if body[key] is not None else ("" if key == "content" else [])
            message["flags"] = int(message.get("flags") or 0) & ~128
            message["edited_timestamp"] = iso_now()
            if record.files:
                message["attachments"] = self._message(0, self.channel_id, {}, record.files)["attachments"]
            if mid == "@original":
                self.original_edits.setdefault(token, []).append(body)
        return self._json(message)

    async def _route_webhook_delete(self, record: Recorded, app: str, token: str, mid: str) -> web.Response:
        with self.cond:
            self.webhook_messages.get(token, {}).pop(mid, None)
        return self._empty()

    async def _route_get_channel(self, record: Recorded, cid: str) -> web.Response:
        if int(cid) != self.channel_id:
            return self._json({"message": "Unknown Channel", "code": 10003}, status=404)
        return self._json(self.channel_payload())

    async def _route_create_message(self, record: Recorded, cid: str) -> web.Response:
        if int(cid) != self.channel_id:
            return self._json({"message": "Unknown Channel", "code": 10003}, status=404)
        message = self._message(self.ids(), int(cid), record.json or {}, record.files)
        with self.cond:
            self.messages[int(message["id"])] = message
        return self._json(message)

    async def _route_get_message(self, record: Recorded, cid: str, mid: str) -> web.Response:
        message = self.messages.get(int(mid))
        if message is None:
            return self._json({"message": "Unknown Message", "code": 10008}, status=404)
        return self._json(message)

    async def _route_edit_message(self, record: Recorded, cid: str, mid: str) -> web.Response:
        message = self.messages.get(int(mid))
        if message is None:
            return self._json({"message": "Unknown Message", "code": 10008}, status=404)
        with self.cond:
            message.update({k: v for k, v in (record.json or {}).items() if k in ("content", "embeds", "components")})
            message["edited_timestamp"] = iso_now()
        return self._json(message)

    async def _route_delete_message(self, record: Recorded, cid: str, mid: str) -> web.Response:
        with self.cond:
            self.messages.pop(int(mid), None)
        return self._empty()

    async def _route_add_reaction(self, record: Recorded, cid: str, mid: str, emoji: str) -> web.Response:
        if int(mid) not in self.messages:
            return self._json({"message": "Unknown Message", "code": 10008}, status=404)
        with self.cond:
            users = self.reactions.setdefault(int(mid), {}).setdefault(emoji, [])
            if self.app_id not in users:
                users.append(self.app_id)
        if self.echo_own_reactions:
            await self._dispatch("MESSAGE_REACTION_ADD", self._reaction_payload(self.app_id, int(mid), emoji, True))
        return self._empty()

    async def _route_remove_reaction(self, record: Recorded, cid: str, mid: str, emoji: str) -> web.Response:
        with self.cond:
            users = self.reactions.get(int(mid), {}).get(emoji, [])
            if self.app_id in users:
                users.remove(self.app_id)
        if self.echo_own_reactions:
            await self._dispatch("MESSAGE_REACTION_REMOVE", self._reaction_payload(self.app_id, int(mid), emoji, False))
        return self._empty()

    # ------------------------------------------------------------------ gateway

    def _record_ws(self, conn: Connection, direction: str, payload: dict) -> None:
        data = payload.get("d")
        if payload.get("op") in (OP_IDENTIFY, OP_RESUME) and isinstance(data, dict):
            data = {**data, "token": "<redacted>"}
        with self.cond:
            self.gateway.append(
                GatewayMessage(
                    time.monotonic(),
                    direction,
                    payload.get("op"),
                    payload.get("t"),
                    payload.get("s"),
                    data,
                    conn.number,
                )
            )
            self.cond.notify_all()

    async def _send(self, conn: Connection, payload: dict) -> None:
        async with conn.send_lock:
            if conn.closed or conn.ws.closed:
                raise ConnectionResetError("gateway connection closed")
            await conn.ws.send_str(json.dumps(payload))
        self._record_ws(conn, "out", payload)

    async def _gateway_handler(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return await self._rest_handler(request)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        with self.cond:
            self.connections += 1
            conn = Connection(self.connections, ws, request.transport, dict(request.query))
        try:
            await self._send(
                conn, {"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_ms}, "s": None, "t": None}
            )
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                self._record_ws(conn, "in", payload)
                op, data = payload.get("op"), payload.get("d")
                if op == OP_HEARTBEAT:
                    await self._send(conn, {"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
                elif op == OP_IDENTIFY:
                    await self._identify(conn, data)
                elif op == OP_RESUME:
                    await self._resume(conn, data)
        except ConnectionResetError:
            pass
        finally:
            conn.closed = True
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            self._changed()
        return ws

    async def _identify(self, conn: Connection, data: dict) -> None:
        if data.get("token") != self._token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        session = Session(secrets.token_hex(16), int(data.get("intents") or 0))
        with self.cond:
            self.identifies.append(
                {
                    "intents": session.intents,
                    "properties": data.get("properties"),
                    "conn": conn.number,
                    "session_id": session.id,
                }
            )
            self.sessions[session.id] = session
            self.active = session
        async with session.lock:
            session.conn, conn.session = conn, session
            ready = {
                "v": 10,
                "user": {**self.bot_user, "verified": True, "mfa_enabled": False},
                "guilds": [{"id": str(self.guild_id), "unavailable": True}],
                "session_id": session.id,
                "session_type": "normal",
                "resume_gateway_url": self.ws_url,
                "application": {"id": str(self.app_id), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "geo_ordered_rtc_regions": [],
                "user_settings": {},
                "auth": {},
                "_trace": ["loopback"],
            }
            await self._dispatch_locked(session, "READY", ready)
            await self._dispatch_locked(session, "GUILD_CREATE", self.guild_payload())

    async def _resume(self, conn: Connection, data: dict) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or data.get("token") != self._token:
            await self._send(conn, {"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return
        last = int(data.get("seq") or 0)
        async with session.lock:
            missed = [entry for entry in session.log if entry[0] > last]
            with self.cond:
                self.resumes.append(
                    {"session_id": session.id, "seq": last, "replayed": [m[0] for m in missed], "conn": conn.number}
                )
            for seq, event, payload in missed:
                await self._send(conn, {"op": OP_DISPATCH, "t": event, "s": seq, "d": payload})
            session.conn, conn.session = conn, session
            await self._dispatch_locked(session, "RESUMED", {"_trace": ["loopback"]})

    async def _dispatch_locked(self, session: Session, event: str, data: dict) -> int | None:
        needed = EVENT_INTENTS.get(event)
        if needed is not None and not session.intents & needed:
            return None
        session.seq += 1
        session.log.append((session.seq, event, data))
        conn = session.conn
        if conn is not None and not conn.closed:
            try:
                await self._send(conn, {"op": OP_DISPATCH, "t": event, "s": session.seq, "d": data})
            except (ConnectionResetError, RuntimeError):
                pass  # the client resumes and gets it replayed
        return session.seq

    async def _dispatch(self, event: str, data: dict) -> int | None:
        session = self.active
        if session is None:
            raise RuntimeError("no gateway session yet")
        async with session.lock:
            return await self._dispatch_locked(session, event, data)

    def dispatch(self, event: str, data: dict) -> int | None:
        """Send a gateway event to the bot (buffered for replay while it is disconnected); its seq."""
        return self.call(self._dispatch(event, data))

    def connected(self) -> bool:
        with self.cond:
            return self.active is not None and self.active.conn is not None and not self.active.conn.closed

    def drop(self, code: int | None = None) -> int:
        """Drop the bot's gateway connection: abort the TCP connection (code None) or close with `code`.

        Returns the session's last sequence number at the drop; events dispatched from here on are
        kept for the bot's RESUME (replayed) until it reconnects."""

        async def drop() -> int:
            session = self.active
            if session is None or session.conn is None:
                raise RuntimeError("no connected gateway session to drop")
            async with session.lock:
                conn, session.conn = session.conn, None
                conn.closed = True
                seq = session.seq
            if code is None:
                conn.transport.abort()
            else:
                await conn.ws.close(code=code)
            return seq

        seq = self.call(drop())
        self._changed()
        return seq

    # ------------------------------------------------------------------ injected events

    def send_command(
        self,
        user_id: int,
        request: str,
        *,
        candidates: int | None = None,
        top: int | None = None,
        name: str = "diagram",
    ) -> SentInteraction:
        """An application-command INTERACTION_CREATE, as Discord sends when a user runs /diagram."""
        options = [{"name": "request", "type": 3, "value": request}]
        if candidates is not None:
            options.append({"name": "candidates", "type": 4, "value": candidates})
        if top is not None:
            options.append({"name": "top", "type": 4, "value": top})
        with self.cond:
            guild_commands = self.commands.get(self.guild_id, [])
            command = next((c for c in guild_commands if c["name"] == name), None)
            scope = {"guild_id": str(self.guild_id)} if command else {}
            command = command or next((c for c in self.commands.get(None, []) if c["name"] == name), None)
        if command is None:
            raise RuntimeError(f"/{name} was never synced")
        data = {"id": command["id"], "name": name, "type": 1, "options": options, **scope}
        return self._interaction(user_id, 2, data)

    def click(self, user_id: int, message: dict, custom_id: str) -> SentInteraction:
        """A button click (MESSAGE_COMPONENT) on one of the bot's messages."""
        return self._interaction(user_id, 3, {"custom_id": custom_id, "component_type": 2}, message=message)

    def submit_modal(self, user_id: int, custom_id: str, values: dict[str, str]) -> SentInteraction:
        """A MODAL_SUBMIT: the text inputs of the form the bot showed, filled in by the user."""
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]} for key, value in values.items()
        ]
        return self._interaction(user_id, 5, {"custom_id": custom_id, "components": rows})

    def _interaction(self, user_id: int, kind: int, data: dict, message: dict | None = None) -> SentInteraction:
        """One INTERACTION_CREATE from a member of the test guild, with a fresh id and token."""
        user = self.members[user_id]
        interaction_id, token = self.ids(), "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        payload = {
            "id": str(interaction_id),
            "application_id": str(self.app_id),
            "type": kind,
            "data": data,
            "guild_id": str(self.guild_id),
            "guild": {"id": str(self.guild_id), "locale": "en-US", "features": []},
            "channel_id": str(self.channel_id),
            "channel": self.channel_payload(),
            "member": {**self._member(user), "permissions": "2248473465835073"},
            "token": token,
            "version": 1,
            "app_permissions": ALL_PERMISSIONS,
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild_id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        sent = SentInteraction(interaction_id, token, user_id, 0.0, {**data, "name": data.get("name", "")})
        with self.cond:
            self.interactions[interaction_id] = sent
            self.by_token[token] = sent

        async def send() -> None:
            sent.t_sent = time.monotonic()
            await self._dispatch("INTERACTION_CREATE", payload)

        self.call(send())
        return sent

    def _reaction_payload(self, user_id: int, message_id: int, emoji: str, add: bool) -> dict:
        payload = {
            "user_id": str(user_id),
            "channel_id": str(self.channel_id),
            "message_id": str(message_id),
            "guild_id": str(self.guild_id),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        if add:
            user = self.members.get(user_id) or (self.bot_user if user_id == self.app_id else self.owner)
            payload.update({"member": self._member(user), "message_author_id": self.bot_user["id"], "burst_colors": []})
        return payload

    def react(self, user_id: int, message_id: int, emoji: str, *, add: bool = True) -> int | None:
        """A user adds (or removes) a reaction: MESSAGE_REACTION_ADD / _REMOVE on the gateway; its seq."""
        with self.cond:
            users = self.reactions.setdefault(message_id, {}).setdefault(emoji, [])
            if add and user_id not in users:
                users.append(user_id)
            elif not add and user_id in users:
                users.remove(user_id)
        event = "MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE"
        return self.dispatch(event, self._reaction_payload(user_id, message_id, emoji, add))


# ---------------------------------------------------------------------- the bot as a process


def write_config(
    path: Path,
    data_dir: Path,
    *,
    candidates: int = 2,
    top: int = 2,
    guild_id: int | None = None,
    threads: int = 0,
    per_user_limit: int = 2,
    queue_limit: int = 100,
) -> Path:
    """A config.toml for the loopback bot: small candidate count, its own database, no schedule
    (a nightly retrain must not start mid-test); threads 0 = torch's default."""
    lines = [
        "[generator]",
        f"threads = {threads}",
        "",
        "[pipeline]",
        f"candidates = {candidates}",
        f"top = {top}",
        f"max_candidates = {max(candidates, 4)}",
        "",
        "[bot]",
        f"per_user_pending_limit = {per_user_limit}",
        f"queue_limit = {queue_limit}",
    ]
    if guild_id is not None:
        lines.append(f"dev_guild_id = {guild_id}")
    lines += [
        "",
        "[storage]",
        f'db_path = "{data_dir / "diagrambot.sqlite3"}"',
        f'data_dir = "{data_dir}"',
        "",
        "[schedule]",
        "enabled = false",
        "",
    ]
    path.write_text("\n".join(lines))
    return path


class BotProcess:
    """`diagrambot -v bot --config FILE` as a subprocess (through tests/loopback_launch.py).

    The token travels in DISCORD_TOKEN only; stdout and stderr go to `log_path`.
    """

    def __init__(
        self, server: LoopbackDiscord, config: Path, token: str, log_path: Path, token_env: str = "DISCORD_TOKEN"
    ) -> None:
        self.server, self.config, self.token, self.log_path = server, config, token, log_path
        self.token_env = token_env
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> BotProcess:
        env = dict(os.environ)
        env.update(
            {
                self.token_env: self.token,
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false",
                "PYTHONUNBUFFERED": "1",
            }
        )
        self.starts += 1
        with open(self.log_path, "a") as out:
            out.write(f"===== start {self.starts} =====\n")
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, str(LAUNCHER), self.server.http_url, "--", "-v", "bot", "--config", str(self.config)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the bot identified and was sent its guild (it then handles interactions)."""
        identified = len(self.server.identifies)

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the bot exited with {self.proc.returncode}:\n{self.log_tail()}")
            session = self.server.active
            return (
                len(self.server.identifies) > identified
                and session is not None
                and any(event == "GUILD_CREATE" for _, event, _ in session.log)
                and session.conn is not None
            )

        try:
            self.server.wait_for(ready, timeout, "the bot to log in and identify")
        except TimeoutError as error:
            raise TimeoutError(f"{error}\nbot log:\n{self.log_tail()}") from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine or the OOM killer stops it."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(30)

    def stop(self, timeout: float = 20.0) -> int | None:
        """Ctrl-C, as a user stops it; SIGKILL if it does not exit in time."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return None if self.proc is None else self.proc.returncode

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class BotDatabase:
    """Read-only looks at the bot's SQLite file (WAL: safe while the bot writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            conn.row_factory = sqlite3.Row
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def request(self, request_id: int) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM requests WHERE id = ?", (request_id,))
        return rows[0] if rows else None

    def requests(self) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM requests ORDER BY id")

    def posts_for_request(self, request_id: int) -> list[sqlite3.Row]:
        return self.query(
            """SELECT posts.* FROM posts JOIN candidates ON candidates.id = posts.candidate_id
                             WHERE candidates.request_id = ? ORDER BY posts.message_id""",
            (request_id,),
        )

    def post(self, message_id: int) -> sqlite3.Row | None:
        rows = self.query("SELECT * FROM posts WHERE message_id = ?", (message_id,))
        return rows[0] if rows else None

    def rating(self, user_id: int, message_id: int) -> int | None:
        rows = self.query(
            """SELECT ratings.value FROM ratings JOIN posts ON posts.candidate_id = ratings.candidate_id
                             WHERE ratings.user_id = ? AND posts.message_id = ?""",
            (str(user_id), message_id),
        )
        return rows[0]["value"] if rows else None

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])


REQUEST_ID = re.compile(r"Request #(\d+)")


def request_id_of(texts: list[str]) -> int | None:
    """The request number the bot told the user ("Request #12 ...")."""
    for text in texts:
        match = REQUEST_ID.search(text or "")
        if match:
            return int(match.group(1))
    return None
