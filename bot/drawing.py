"""Running one queued job: draw off the event loop, store every candidate, post the best ones.

The model runs on a worker thread (`asyncio.to_thread`): the event loop, and with it Discord's
heartbeat, never waits on it. Each posted diagram is its own message, so a reaction rates exactly
one diagram; the post is recorded before the rating reactions are added, so even the quickest
rater is counted. Whatever goes wrong ends as a clear message to the requester and a failed
request row, never as an exception that would stop the queue. Everything posted speaks the
language of the interaction that asked (`job.locale`), however much later it is posted.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Sequence

import discord

from bot import i18n
from bot.queue import Job
from bot.settings import BotSettings
from bot.views import diagram_view
from ml.diagram import Diagram
from ml.errors import UserError
from ml.pipeline import Candidate, RequestError
from ml.scores import Score
from ml.service import RatedDiagram, Service
from storage import Database, UserRating

log = logging.getLogger(__name__)

STAGES = {"generating": "progress.generating", "scoring": "progress.scoring"}  # pipeline stage -> text
SHOWN_SCORES = ((Score.READABILITY, "caption.readability"), (Score.CNN, "caption.cnn"), (Score.USER, "caption.for_you"))
# Bound on the ratings one request loads for ranking: the requester's most recent ones, and, when
# they have too few usable ones for their own k-NN, as many of everyone's most recent as fallback.
RANKING_RATINGS_LIMIT = 1000


def rated(user_id: str, rating: UserRating) -> RatedDiagram:
    """A stored rating as ranking reads it: value, latent, the rated diagram and its request."""
    diagram = Diagram.from_lists(json.loads(rating.nodes_json)) if rating.nodes_json else None
    return RatedDiagram(user_id, float(rating.value), rating.latent, diagram, group=rating.request_id)


class DrawFailure(i18n.Localized):
    """A request that ran but produced nothing to show: `DrawFailure(key, **values)`, for the user."""


def caption(candidate: Candidate, total: int, request_id: int, locale=None) -> str:
    """Rank and scores under one posted diagram."""
    head = i18n.text(
        "caption.head", locale, rank=candidate.rank, total=total, request=request_id, score=f"{candidate.final:.2f}"
    )
    named = [
        f"{i18n.text(label, locale)} {candidate.scores[key]:.2f}"
        for key, label in SHOWN_SCORES
        if isinstance(candidate.scores.get(key), (int, float))
    ]
    return f"{head} ({', '.join(named)})" if named else head


def describe_failure(error: BaseException, locale=None) -> str:
    """What the requester is told; unexpected errors name only their type (details go to the log).

    The pipeline's and the config's own messages (RequestError, UserError) are English only."""
    if isinstance(error, DrawFailure):
        return error.text(locale)
    if isinstance(error, (RequestError, UserError)):
        return str(error)
    if isinstance(error, discord.Forbidden):
        return i18n.text("failure.permissions", locale)
    return i18n.text("failure.model", locale, error=type(error).__name__)


class Drawer:
    """Runs jobs for the queue: `await drawer.run(job)` -> "done" | "failed"."""

    def __init__(self, db: Database, service: Service, settings: BotSettings) -> None:
        self.db = db
        self.service = service
        self.settings = settings

    async def run(self, job: Job) -> str:
        try:
            await self.db.set_request_status(job.stored_request_id, "running")
            result = await self._draw(job)
            parsed = result.parsed
            if not parsed:
                raise DrawFailure("failure.unreadable", count=len(result.candidates))
            pngs = await asyncio.to_thread(lambda: [c.png() for c in parsed])  # CPU work, off the loop
            ids = await self._store(job, parsed, pngs)
            shown = result.distinct[: job.top]  # never the same diagram twice
            await self._post(job, shown, ids, pngs, len(result.candidates))
            await self.db.set_request_status(job.stored_request_id, "done")
        except Exception as error:  # noqa: BLE001 - every failure ends as a message, never a dead queue
            await self._fail(job, error)
            return "failed"
        await job.progress.show(
            i18n.text(
                "progress.done",
                job.locale,
                id=job.request_id,
                shown=len(shown),
                total=len(result.candidates),
                readable=len(parsed),
                first=self.settings.rating_emojis[0],
                last=self.settings.rating_emojis[-1],
            )
        )
        return "done"

    async def _ratings(self, user_id: str) -> list[RatedDiagram]:
        """What the requester's personal model needs, bounded by RANKING_RATINGS_LIMIT: their most
        recent ratings, each with the rated diagram (style features) and its request (the diagrams
        shown together), then (if too few are usable) everyone else's most recent as the fallback.

        Only latents of the autoencoder that is serving count, so the k-NN compares like with like."""
        scorer = self.service.scorer
        version = scorer.ae_version if scorer is not None else None
        own = [rated(user_id, r) for r in await self.db.ratings_for_ranking(user_id, version, RANKING_RATINGS_LIMIT)]
        usable = sum(r.latent is not None or r.diagram is not None for r in own)
        if scorer is not None and version is not None and usable < scorer.personal.min_ratings:
            own += [
                rated(other, r)
                for other, r in await self.db.recent_ratings_with_latents(version, RANKING_RATINGS_LIMIT, user_id)
            ]
        return own

    async def _draw(self, job: Job):
        ratings = await self._ratings(str(job.user_id))
        loop = asyncio.get_running_loop()

        def progress(stage: str) -> None:  # called on the worker thread
            text = i18n.text(STAGES.get(stage, "progress.stage"), job.locale, id=job.request_id, n=job.n, stage=stage)
            loop.call_soon_threadsafe(job.progress.show_soon, text)

        return await asyncio.to_thread(
            self.service.draw,
            job.text,
            user_id=str(job.user_id),
            n=job.n,
            top=job.top,
            ratings=ratings,
            progress=progress,
        )

    async def _store(self, job: Job, parsed: Sequence[Candidate], pngs: Sequence[bytes]) -> list[int]:
        """Every readable candidate goes to storage (ratings and retraining need them), best first."""
        ids: list[int] = []
        for c, png in zip(parsed, pngs):
            if c.diagram is None:  # `parsed` holds only candidates that parsed
                raise ValueError(f"candidate {c.rank} has no diagram to store")
            ids.append(
                await self.db.add_candidate(
                    job.stored_request_id,
                    c.rank,
                    c.text,
                    json.dumps(c.diagram.as_lists()),
                    png,
                    c.scores,
                    c.latent,
                    c.latent_version,
                )
            )
        return ids

    async def _post(
        self, job: Job, shown: Sequence[Candidate], ids: Sequence[int], pngs: Sequence[bytes], total: int
    ) -> None:
        """One message per diagram (zip stops at the shown ones), then its rating reactions."""
        for candidate, candidate_id, png in zip(shown, ids, pngs):
            message = await job.channel.send(
                content=caption(candidate, total, job.stored_request_id, job.locale),
                file=discord.File(io.BytesIO(png), filename=f"diagram-{candidate_id}.png"),
                view=diagram_view(job.stored_request_id, job.user_id, candidate_id, job.n, job.top, job.locale),
            )
            if job.channel_id is None:  # posts.channel_id is NOT NULL; command interactions carry one
                raise RuntimeError(f"request {job.request_id} has no channel id to record its post under")
            await self.db.add_post(message.id, job.channel_id, candidate_id)
            for emoji in self.settings.rating_emojis:
                await message.add_reaction(emoji)

    async def _fail(self, job: Job, error: Exception) -> None:
        reason = describe_failure(error)  # English: for the log and the request row
        expected = isinstance(error, (DrawFailure, RequestError, UserError, discord.Forbidden))
        if expected:
            log.info("request %s failed: %s", job.request_id, reason)
        else:
            log.error("request %s failed", job.request_id, exc_info=error)
        detail = reason if expected else f"{type(error).__name__}: {error}"
        try:
            await self.db.set_request_status(job.stored_request_id, "failed", detail[:2000])
        except Exception:  # noqa: BLE001 - the user still gets their message
            log.exception("could not mark request %s failed", job.request_id)
        await job.progress.show(
            i18n.text("progress.failed", job.locale, id=job.request_id, reason=describe_failure(error, job.locale))
        )
