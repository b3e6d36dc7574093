"""The outbox worker: sends due deliveries through their platform, and keeps counts live."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable

from bot.adapter_contract import DeliveryError
from bot.image_check import ImageChecks
from bot.pacing import CalledOff, call_off
from bot.runtime import Runtime
from bot.sent_records import SentRecords
from handlers.events import Outgoing, Reply
from storage.database_thread import DatabaseThread
from storage.faults import storage_fault
from storage.models import ChatRef, Delivery, Post
from storage.post_refresh import refresh_failed, refresh_failures

log = logging.getLogger(__name__)


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: 5 s doubling, capped at 1 h."""
    return float(min(5 * 2 ** max(attempts - 1, 0), 3600))


class Deliverer:
    """Takes due rows from the outbox and sends them. Rows for one chat go in order; chats go
    side by side, each platform's adapter pacing itself within its limits. The store is
    reached through the runtime's database thread only."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        max_attempts: int = 12,
        batch: int = 200,
        worker: str = "",
        lease: float = 60.0,
        refresh_lease: float = 15.0,
        images: ImageChecks | None = None,
    ) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.db = runtime.db
        self.max_attempts = max_attempts
        self.batch = batch
        self.worker = worker  # recorded on the rows it claims (deliveries.claimed_by)
        # Rows held are renewed every third of it while their sends wait their turn; rows
        # of a worker that died go to another worker at most this long after its last renewal.
        self.lease = lease
        # Stale posts this worker edits are its own for this long, renewed every third of it
        # while the edits wait their turn; a dead worker's go to the others this much later.
        self.refresh_lease = refresh_lease
        self.stopping = asyncio.Event()
        self.records = SentRecords(runtime)
        # Lead images are checked once per article before its first post; without it, none
        # is shown (an unchecked image is never posted).
        self.images = images

    @property
    def platforms(self) -> list[str]:
        return list(self.runtime.adapters)

    def stop(self) -> None:
        """Take no more rows. Sends still waiting for their turn are called off and their rows,
        like every row not tried yet, go back to pending; sends on their way finish."""
        self.stopping.set()

    async def deliver_due(self) -> int:
        """Send what is due now; returns how many were sent."""
        sent = 0
        token = call_off.set(self.stopping)
        try:
            while not self.stopping.is_set():
                platforms, only_chats = self.platforms, dict(self.runtime.only_chats)
                due = await self.db.run(
                    self.store.claim_deliveries,
                    platforms,
                    only_chats=only_chats,
                    limit=self.batch,
                    worker=self.worker,
                    lease=self.lease,
                )
                if not due:
                    return sent
                # Renewed from here: rendering may wait for translations (NEWSBOT_LLM_TIMEOUT
                # may be longer than the lease).
                renewal = asyncio.create_task(self._renew_claims())
                try:
                    await self._check_images(due)
                    # Rendered in one database call for the batch (not one per post).
                    rendered = await self.runtime.outgoing_posts(due)
                    posts = {d.id: out for d, out in zip(due, rendered, strict=True)}
                    by_chat: dict[ChatRef, list[Delivery]] = defaultdict(list)
                    for delivery in due:
                        by_chat[delivery.chat].append(delivery)
                    results = await asyncio.gather(
                        *(self._send_chat(rows, posts) for rows in by_chat.values())
                    )
                finally:
                    renewal.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await renewal
                sent += sum(results)
                if len(due) < self.batch:
                    return sent
            return sent
        finally:
            call_off.reset(token)

    async def _check_images(self, due: list[Delivery]) -> None:
        """The lead images of the batch's articles not checked yet, each once (the verdict is
        stored with its article). A check that goes wrong leaves the image unshown, never the
        post unsent."""
        if self.images is None:
            return
        try:
            await self.images.check([d.id for d in due])
        except Exception as err:
            if storage_fault(err) is not None:
                raise
            log.exception("checking images failed; posts go out without them")

    async def _renew_claims(self) -> None:
        """While a batch is sent (paced sends may take longer than the lease), its rows stay
        this worker's: no other worker sends them twice."""
        await _renewing(
            lambda: self.store.renew_delivery_claims(self.worker, self.lease),
            self.lease,
            "claimed deliveries",
            self.db,
        )

    async def _send_chat(self, rows: list[Delivery], posts: dict[int, Outgoing | None]) -> int:
        sent = 0
        topics_gone: set[str] = set()  # ForumTopics.pause parked their other rows
        for index, delivery in enumerate(rows):
            if self.stopping.is_set():
                await self._release(rows[index:])
                return sent
            if delivery.thread in topics_gone:
                continue
            outcome = await self._send_one(delivery, posts[delivery.id])
            if outcome == "sent":
                sent += 1
            elif outcome == "topic_gone":
                topics_gone.add(delivery.thread)
            elif outcome == "chat_gone":
                return sent  # pause_chat parked the rest
            elif outcome == "retry":
                # Keep this chat's order: what follows waits for the next round.
                await self._release(rows[index + 1 :])
                return sent
        return sent

    async def _release(self, rows: list[Delivery]) -> None:
        def release() -> None:
            for row in rows:
                self.store.delivery_release(row.id)

        if rows:
            await self.db.run(release)

    async def _send_one(self, delivery: Delivery, out: Outgoing | None) -> str:
        adapter = self.runtime.adapters.get(delivery.chat.platform)
        if adapter is None:  # the platform stopped meanwhile: leave the row for later
            await self.db.run(self.store.delivery_release, delivery.id)
            return "retry"
        if out is None:
            await self.db.run(self.store.delivery_failed, delivery.id, "article no longer exists")
            return "failed"
        reply = out.reply
        try:
            message = await adapter.send(out)
        except CalledOff:
            # Stopping, and this send had not gone out: the row goes back untried.
            await self.db.run(self.store.delivery_release, delivery.id)
            return "retry"
        except DeliveryError as err:
            self.runtime.metrics.delivery_failed(delivery.chat.platform, err.retry_after)
            return await self.db.run(self._failed, delivery, err)
        except Exception as err:
            # A bug or an unexpected library error: keep the row and retry later.
            log.exception("delivery %s to %s failed", delivery.id, delivery.chat.key())
            self.runtime.metrics.delivery_failed(delivery.chat.platform)
            return await self.db.run(self._failed, delivery, DeliveryError(type(err).__name__))
        await self.records.record((delivery.id, message, reply.poll_version or 0, reply.language))
        self.runtime.metrics.delivery_sent(delivery.chat.platform)
        return "sent"

    def _failed(self, delivery: Delivery, err: DeliveryError) -> str:
        """In the database thread: what a failed send means for its row (and its chat)."""
        if err.migrated_to is not None:
            log.info("chat %s moved to %s", delivery.chat.key(), err.migrated_to.key())
            self.store.migrate_chat(delivery.chat, err.migrated_to)
            self.store.delivery_moved(delivery.id, err.migrated_to)
            return "retry"
        if err.topic_gone:
            # Only what goes into that topic stops; the chat's other topics go on.
            log.warning("pausing %s topic %r: %s", delivery.chat.key(), delivery.thread, err.reason)
            self.store.delivery_failed(delivery.id, err.reason)
            self.store.topics.pause(delivery.chat, delivery.thread, err.reason)
            return "topic_gone"
        if err.permanent:
            log.warning("pausing %s: %s", delivery.chat.key(), err.reason)
            self.store.delivery_failed(delivery.id, err.reason)
            self.store.pause_chat(delivery.chat, err.reason)
            return "chat_gone"
        if err.retry_after is not None:
            self.store.delivery_retry(delivery.id, err.reason, err.retry_after)
            return "retry"
        if delivery.attempts >= self.max_attempts:
            log.warning("giving up delivery %s after %s tries", delivery.id, delivery.attempts)
            self.store.delivery_failed(delivery.id, err.reason)
            return "failed"
        self.store.delivery_retry(delivery.id, err.reason, backoff(delivery.attempts))
        return "retry"

    async def refresh_stale(self) -> int:
        """Edit posts whose counts are behind their poll: one edit per post per run, however
        many votes came in meanwhile, the posts of a batch side by side (each adapter paces
        itself) and batch after batch until none is behind, so that thousands of copies catch
        up in seconds rather than a batch a second. Stopping calls off the edits still
        waiting their turn. A post whose edit fails unexpectedly waits with backoff; the
        others go on."""
        edited = 0
        token = call_off.set(self.stopping)
        try:
            while not self.stopping.is_set():
                # This worker's share: the other workers' refresh jobs claim the rest.
                stale = await self.db.run(
                    lambda: self.store.claim_stale_posts(
                        self.platforms,
                        self.batch,
                        only_chats=dict(self.runtime.only_chats),
                        worker=self.worker,
                        lease=self.refresh_lease,
                    )
                )
                if not stale:
                    break
                renewal = asyncio.create_task(
                    _renewing(
                        lambda: self.store.renew_refresh_claims(self.worker, self.refresh_lease),
                        self.refresh_lease,
                        "posts being refreshed",
                        self.db,
                    )
                )
                try:
                    done = await self._refresh_batch(stale)
                finally:
                    renewal.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await renewal
                edited += done
                # A short batch was the last; a batch that got nowhere (platforms asking to
                # wait) is tried again on a later run, not at once.
                if len(stale) < self.batch or not done:
                    break
        finally:
            call_off.reset(token)
        return edited

    async def _refresh_batch(self, stale: list[Post]) -> int:
        """Edit a claimed batch side by side, record what the edits show, and give the posts
        back (those still stale go to whichever worker asks next); how many are done with."""
        replies = await self.runtime.posts_for(stale)
        outcomes = await asyncio.gather(
            *(self._refresh_unless_called_off(post, replies[post.id]) for post in stale),
            return_exceptions=True,
        )
        # Every edit of the batch has finished: now a fault (the database's) may end the
        # run, and the job waits it out (the claims run out meanwhile).
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        done = [n for n in outcomes if isinstance(n, int)]
        landed = [
            (post, reply)
            for post, outcome in zip(stale, outcomes, strict=True)
            if outcome == 1 and (reply := replies[post.id]) is not None
        ]
        # What the batch's edits now show, recorded in one call for all of them (a call per
        # post made thousands of copies wait on the database in turn); then the claims go.
        await self.runtime.edits_landed(landed)
        await self.db.run(
            self.store.release_refresh_claims, self.worker, [post.id for post in stale]
        )
        return sum(done)

    async def _refresh_unless_called_off(self, post: Post, reply: Reply | None) -> int:
        try:
            return await self._refresh(post, reply)
        except CalledOff:
            return 0  # still stale: the next run (or the next start) edits it

    async def _refresh(self, post: Post, reply: Reply | None) -> int:
        """Edit one stale post to `reply` (its article as a post now); 1 when it is done with
        (edited, or beyond editing)."""
        adapter = self.runtime.adapters.get(post.message.chat.platform)
        try:
            if adapter is None or reply is None:
                return 0
            await adapter.edit(post.message, reply)
        except DeliveryError as err:
            if err.retry_after is not None:
                self.runtime.metrics.rate_limited(post.message.chat.platform, err.retry_after)
                return 0  # try again on a later run
            log.info("cannot refresh post %s: %s", post.id, err.reason)
            return 1  # beyond editing (gone, or no longer ours): done with, as if edited
        except CalledOff:
            raise
        except Exception as err:
            if storage_fault(err) is not None:
                raise  # the database, not the post: the job waits it out
            # A bug or an unexpected answer from the platform: this post waits, the rest go on.
            log.exception("refreshing post %s failed", post.id)
            await self.db.run(self._refresh_failed, post, type(err).__name__)
            return 0
        return 1  # recorded with the rest of its batch (Runtime.edits_landed)

    def _refresh_failed(self, post: Post, error: str) -> None:
        failures = refresh_failures(self.store, post.id) + 1
        refresh_failed(self.store, post.id, error, backoff(failures))


async def _renewing(
    renew: Callable[[], object],
    lease: float,
    what: str,
    db: DatabaseThread,
) -> None:
    """Renew a worker's claims (`renew`, in the database thread) every third of `lease` until
    cancelled; the database failing a renewal is logged and the next one tried."""
    while True:
        await asyncio.sleep(lease / 3)
        try:
            await db.run(renew)
        except Exception as err:
            if storage_fault(err) is None:
                raise
            log.warning("cannot renew the lease of %s: %s", what, err)
