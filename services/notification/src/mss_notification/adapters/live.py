"""Live push across API replicas through Redis pub/sub.

The worker publishes each new notification, after its commit, on the recipient's channel
`<namespace>notifications:<user id>`; every API replica holds one pattern subscription and
hands each message to the sockets of that user it serves. Redis is only the doorbell: a
message lost while a replica reconnects is read by the client with
`GET /api/notifications?since=` (the rows are in PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mss_contracts.errors import ServiceUnavailable
from mss_notification.adapters.inbox import StoredNotification

log = logging.getLogger("mss.notification.live")

QUEUE_SIZE = 256


def channel_prefix(namespace: str) -> str:
    return f"{namespace}notifications:"


def message(notification: StoredNotification) -> str:
    """`{"type": "notification", "data": Notification}` as API.md words it."""
    n = notification
    data: dict[str, Any] = {
        "id": str(n.id),
        "userId": str(n.user_id),
        "organizationId": str(n.organization_id),
        "type": n.type,
        "title": n.title,
        "body": n.body,
        "resourceType": n.resource_type,
        "resourceId": str(n.resource_id) if n.resource_id else None,
        "severity": n.severity,
        "readAt": n.read_at.isoformat() if n.read_at else None,
        "createdAt": n.created_at.isoformat(),
    }
    return json.dumps({"type": "notification", "data": data})


class LivePublisher:
    def __init__(self, redis: Redis, *, namespace: str) -> None:
        self._redis = redis
        self._prefix = channel_prefix(namespace)

    async def __call__(self, notifications: Sequence[StoredNotification]) -> None:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for n in notifications:
                    pipe.publish(f"{self._prefix}{n.user_id}", message(n))
                await pipe.execute()
        except RedisError:
            # The rows are committed: clients catch up with ?since= on their next connect.
            log.warning("live push of %d notification(s) failed", len(notifications))


class Sessions(Protocol):
    async def active(self, session_ids: Collection[UUID], /) -> set[UUID]: ...


# WebSocket close codes: the session ended (API.md), the session store unreachable.
CLOSE_UNAUTHORIZED = 4401
CLOSE_UNAVAILABLE = 1013  # "try again later"
CHECK_S = 2.0


@dataclass(eq=False, slots=True)
class Subscriber:
    """One open socket: its messages, and why the hub ends it (None while it may stay)."""

    user_id: UUID
    session_id: UUID
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE + 1))
    close_code: int | None = None

    def end(self, code: int) -> None:
        """Ask the socket to close with `code`: a None wakes it, even with its queue full."""
        if self.close_code is not None:
            return
        self.close_code = code
        if self.queue.full():
            self.queue.get_nowait()  # it closes: the live message it loses is read by ?since=
        self.queue.put_nowait(None)


class LiveHub:
    """One replica's subscription, fanned out to its local sockets' queues; and one session
    check for all its sockets every `check_s` (a single pipelined Redis round trip)."""

    def __init__(
        self, redis: Redis, *, namespace: str, sessions: Sessions, check_s: float = CHECK_S
    ) -> None:
        self._redis = redis
        self._prefix = channel_prefix(namespace)
        self.sessions = sessions
        self._check_s = check_s
        self._sockets: dict[UUID, set[Subscriber]] = defaultdict(set)
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = asyncio.Event()

    def join(self, user_id: UUID, session_id: UUID) -> Subscriber:
        subscriber = Subscriber(user_id=user_id, session_id=session_id)
        self._sockets[user_id].add(subscriber)
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._listen(), name="live hub"),
                asyncio.create_task(self._watch_sessions(), name="live hub sessions"),
            ]
        return subscriber

    def leave(self, subscriber: Subscriber) -> None:
        subscribers = self._sockets.get(subscriber.user_id)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._sockets[subscriber.user_id]

    async def _listen(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.psubscribe(f"{self._prefix}*")
                    self.ready.set()
                    async for item in pubsub.listen():
                        if item.get("type") == "pmessage":
                            self._dispatch(item["channel"], item["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError):
                self.ready.clear()
                log.warning("live hub lost Redis; resubscribing")
                await asyncio.sleep(1.0)

    async def _watch_sessions(self) -> None:
        while True:
            await asyncio.sleep(self._check_s)
            try:
                await self.check_sessions()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("live session check failed")  # the next interval tries again

    async def check_sessions(self) -> None:
        """End the sockets whose session is gone (4401); all of them, with 1013, when the
        session store cannot say: a socket is never left open unchecked."""
        subscribers = [s for group in self._sockets.values() for s in group]
        if not subscribers:
            return
        try:
            alive = await self.sessions.active({s.session_id for s in subscribers})
        except (ServiceUnavailable, RedisError, OSError):
            log.warning("session store unreachable: closing %d live socket(s)", len(subscribers))
            for subscriber in subscribers:
                subscriber.end(CLOSE_UNAVAILABLE)
            return
        for subscriber in subscribers:
            if subscriber.session_id not in alive:
                subscriber.end(CLOSE_UNAUTHORIZED)

    def _dispatch(self, channel: bytes | str, data: bytes | str) -> None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        try:
            user_id = UUID(name.removeprefix(self._prefix))
        except ValueError:
            return
        text = data.decode() if isinstance(data, bytes) else data
        for subscriber in self._sockets.get(user_id, ()):
            if subscriber.queue.qsize() < QUEUE_SIZE:
                # A socket that does not keep up loses live messages, not the server (the
                # last slot is kept for the hub's close).
                subscriber.queue.put_nowait(text)

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
