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
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

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


class LiveHub:
    """One replica's subscription, fanned out to its local sockets' queues."""

    def __init__(self, redis: Redis, *, namespace: str) -> None:
        self._redis = redis
        self._prefix = channel_prefix(namespace)
        self._sockets: dict[UUID, set[asyncio.Queue[str]]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    def join(self, user_id: UUID) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self._sockets[user_id].add(queue)
        if self._task is None:
            self._task = asyncio.create_task(self._listen(), name="live hub")
        return queue

    def leave(self, user_id: UUID, queue: asyncio.Queue[str]) -> None:
        queues = self._sockets.get(user_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._sockets[user_id]

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

    def _dispatch(self, channel: bytes | str, data: bytes | str) -> None:
        name = channel.decode() if isinstance(channel, bytes) else channel
        try:
            user_id = UUID(name.removeprefix(self._prefix))
        except ValueError:
            return
        text = data.decode() if isinstance(data, bytes) else data
        for queue in self._sockets.get(user_id, ()):
            with contextlib.suppress(asyncio.QueueFull):
                # A socket that does not keep up loses live messages, not the server.
                queue.put_nowait(text)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
