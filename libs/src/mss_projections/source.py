"""A projection miss is not an answer: ask the owner once, store what it says, go on.

A `ProjectionSource` belongs to one projection (a table a service keeps from another
service's events). When a request names an entity the table lacks, or holds in a state a
rule would refuse (an organization seen as suspended, a user not an active technician),
`find` asks the owner's internal read endpoint, stores the record through the same
version-guarded write the event consumer uses, and loads the entity again. Versions make
the two paths commute: an older fetch never overwrites a newer event, nor the reverse.

No amplification, whatever the callers do:
- single flight: concurrent misses of one id share one request to the owner;
- one request per id per `interval_s` (2 s): every outcome is remembered that long,
  a 404 as much as a stored record or an owner that did not answer. One exception keeps
  read-your-writes: a refusal is never made on a remembered *stored* record. The owner's
  state may have changed since (the client was refused, granted the technician, and
  retried at once), so `find` asks again before it refuses; that costs the owner one read
  per refused request (concurrent ones still share it), never more than the client sent;
- the owner gets `MSS_INTERNAL_TIMEOUT_S` (1 s) in all, then counts as unavailable.

When the owner cannot answer: an entity the projection holds is judged as held (a rule
refuses as it would have); one it lacks raises `OwnerUnavailable` (503, retry), because
answering "not found" about an organization a client created a moment ago would be
false, and 503 says nothing about whether the id exists.

The store runs in a transaction of its own, under the all-organizations scope, on a small
pool of its own: a request waiting for a store holds one connection of the request pool,
and if stores drew from that pool too, a burst of misses could hold every connection
while each waits for one more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Generic, TypeVar
from uuid import UUID

from prometheus_client import Counter
from pydantic import BaseModel, ValidationError

from mss_contracts.errors import ServiceUnavailable
from mss_db.scope import OrgScope
from mss_db.uow import UnitOfWork, UnitOfWorkFactory
from mss_projections.owners import OwnerClient, OwnerUnreachable

log = logging.getLogger("mss.projections")

R = TypeVar("R", bound=BaseModel)
T = TypeVar("T")

INTERVAL_S = 2.0
# Remembered outcomes older than the interval are dropped as new ones come; this caps the
# memory a flood of distinct unknown ids can take within one interval.
MAX_REMEMBERED = 100_000

FETCHES = Counter(
    "mss_projection_fetches_total",
    "Projection misses asked of the owner (outcome remembered: answered without asking)",
    ["owner", "record", "outcome"],
)


class Fetched(StrEnum):
    STORED = "stored"  # the owner's record is in the projection now (version-guarded)
    NOT_FOUND = "not_found"  # the owner does not know the id either
    UNAVAILABLE = "unavailable"  # no usable answer in time


class OwnerUnavailable(ServiceUnavailable):
    """The projection lacks the entity and its owner could not be asked: try again."""

    default_message = "A service this request depends on is unavailable; try again shortly"

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


class ProjectionSource(Generic[R]):
    """The owner's internal endpoint for one projection (see the module docstring).

    `path` names the entity as `{id}`; `record` is the body's `data`; `apply(uow, record)`
    is the projection's version-guarded write, the one its consumer calls for an event.
    """

    def __init__(
        self,
        *,
        owner: str,
        path: str,
        record: type[R],
        apply: Callable[[UnitOfWork, R], Awaitable[object]],
        owners: OwnerClient,
        store: UnitOfWorkFactory,
        interval_s: float = INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.owner = owner
        self.path = path
        self._record = record
        self._apply = apply
        self._owners = owners
        self._store = store
        self._interval_s = interval_s
        self._clock = clock
        self._recent: OrderedDict[UUID, tuple[float, Fetched]] = OrderedDict()
        self._flights: dict[UUID, asyncio.Task[Fetched]] = {}

    async def find(
        self,
        entity_id: UUID,
        load: Callable[[], Awaitable[T | None]],
        *,
        accept: Callable[[T], bool] | None = None,
    ) -> T | None:
        """`load()` from the projection; on a miss, or when `accept` refuses what it holds,
        fetch from the owner once and `load()` again."""
        found = await load()
        if found is not None and (accept is None or accept(found)):
            return found
        outcome = await self.fetch(entity_id, before_refusal=True)
        if outcome is Fetched.STORED:
            return await load()
        if outcome is Fetched.UNAVAILABLE and found is None:
            raise OwnerUnavailable()
        return found

    async def fetch(self, entity_id: UUID, *, before_refusal: bool = False) -> Fetched:
        """Ask the owner and store its record, or say what it said within the interval.
        `before_refusal`: the projection's record would be refused, so a remembered store
        does not answer (the owner may have changed it since)."""
        flight = self._flights.get(entity_id)
        if flight is None:
            remembered = self._remembered(entity_id)
            if remembered is Fetched.STORED and before_refusal:
                remembered = None
            if remembered is not None:
                FETCHES.labels(self.owner, self._record.__name__, "remembered").inc()
                return remembered
            flight = asyncio.create_task(self._fly(entity_id), name=f"fetch {entity_id}")
            self._flights[entity_id] = flight
        # Shielded: a caller that goes away (client disconnect) leaves the fetch to the rest.
        return await asyncio.shield(flight)

    async def _fly(self, entity_id: UUID) -> Fetched:
        try:
            outcome = await self._ask(entity_id)
            self._remember(entity_id, outcome)
            FETCHES.labels(self.owner, self._record.__name__, outcome.value).inc()
            return outcome
        finally:
            del self._flights[entity_id]

    async def _ask(self, entity_id: UUID) -> Fetched:
        try:
            response = await self._owners.get(self.owner, self.path.format(id=entity_id))
        except OwnerUnreachable as exc:
            log.warning("projection miss not filled: %s", exc)
            return Fetched.UNAVAILABLE
        if response.status_code == 404:
            return Fetched.NOT_FOUND
        try:
            record = self._record.model_validate(response.json()["data"])
        except (ValueError, KeyError, TypeError, ValidationError):
            log.error("%s answered %s with a body we cannot read", self.owner, self.path)
            return Fetched.UNAVAILABLE
        async with self._store(OrgScope.everything()) as uow:
            await self._apply(uow, record)
            await uow.commit()
        return Fetched.STORED

    def _remembered(self, entity_id: UUID) -> Fetched | None:
        entry = self._recent.get(entity_id)
        if entry is None or self._clock() - entry[0] >= self._interval_s:
            return None
        return entry[1]

    def _remember(self, entity_id: UUID, outcome: Fetched) -> None:
        now = self._clock()
        self._recent[entity_id] = (now, outcome)
        self._recent.move_to_end(entity_id)
        # Oldest first: drop what has aged out, and the oldest beyond the cap.
        while self._recent:
            oldest, (at, _) = next(iter(self._recent.items()))
            if now - at < self._interval_s and len(self._recent) <= MAX_REMEMBERED:
                break
            del self._recent[oldest]
