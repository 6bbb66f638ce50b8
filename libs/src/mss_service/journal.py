"""Windowed journals: many like facts of the request path become few events in the outbox.

A journal counts facts (a provider's read of customer data, a refused request) per key in
memory; a background task turns the counts into events and writes them to the outbox in
batches. Per key:

- the first fact goes out at the next flush (every 250 ms), so a customer sees a
  provider's access, and an admin a denial, at once;
- every later fact of the key is folded into one event when the key's window (default
  10 s, `MSS_JOURNAL_WINDOW_S`) closes, so a flood costs at most one event per key per
  window; the window reopens while facts keep coming;
- a window that closes with nothing folded in forgets the key: its next fact leads again.

The counts add up: the events of a key stand for every fact recorded, none twice. Recording
is a dict update, no I/O, no allocation beyond the first fact of an event. Memory is
bounded: at most `capacity` keys and `capacity` built events waiting for the database;
beyond that facts are dropped and counted in the journal's metric. A graceful stop flushes
every open window; a hard crash loses at most what was not yet written (one window).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Generic, TypeVar
from uuid import UUID

from prometheus_client import Counter

from mss_contracts.events import EventContext, EventEnvelope
from mss_db.scope import OrgScope
from mss_db.uow import UnitOfWorkFactory

log = logging.getLogger("mss.journal")

K = TypeVar("K", bound=Hashable)
S = TypeVar("S")

DEFAULT_WINDOW_S = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Tally(Generic[S]):
    """What one key gathered for its next event."""

    sample: S  # what the first of these facts said (its path, the caller's role...)
    context: EventContext  # who and from where, as of the first of these facts
    first: datetime
    last: datetime
    count: int
    weight: int  # what the facts carried in all (e.g. resources shown)
    subject: UUID | None  # the resource the first fact named
    several_subjects: bool = False

    @property
    def only_subject(self) -> UUID | None:
        """The one resource every fact named, if they all named the same one."""
        return None if self.several_subjects else self.subject


@dataclass(slots=True)
class _Slot(Generic[S]):
    tally: Tally[S] | None
    closes_at: float | None = None  # None: the first fact has not gone out yet


class WindowedJournal(abc.ABC, Generic[K, S]):
    """Facts counted per key in memory, written to the outbox as few events (see module).

    A subclass names itself, counts its drops in a metric of its own, and says what event
    stands for a key's tally (`event_for`).
    """

    name: ClassVar[str]
    dropped: ClassVar[Counter]

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        flush_interval_s: float = 0.25,
        max_batch: int = 500,
        capacity: int = 50_000,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        if window_s <= 0 or flush_interval_s <= 0 or max_batch < 1 or capacity < 1:
            raise ValueError("journal window, interval, batch and capacity must be positive")
        self._uow = uow
        self._window = window_s
        self._interval = flush_interval_s
        self._max_batch = max_batch
        self._capacity = capacity
        self._monotonic = monotonic
        self._now = now
        self._slots: dict[K, _Slot[S]] = {}
        self._leading: list[K] = []  # keys whose first fact goes out at the next flush
        self._closing: deque[K] = deque()  # keys with an open window, in closing order
        self._ready: deque[tuple[EventEnvelope, int]] = deque()  # (event, facts it holds)
        self._dropped_since_flush = 0
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    @abc.abstractmethod
    def event_for(self, key: K, tally: Tally[S]) -> EventEnvelope:
        """The event that stands for `tally`'s facts of `key`."""

    # --- the request path ---------------------------------------------------------------

    def note(
        self,
        key: K,
        *,
        sample: S,
        context: Callable[[], EventContext],
        weight: int = 1,
        subject: UUID | None = None,
    ) -> None:
        """Count one fact of `key`; `context` is called only for the first fact of an event."""
        now = self._now()
        slot = self._slots.get(key)
        if slot is None:
            if len(self._slots) >= self._capacity:
                self._drop(1)
                return
            self._slots[key] = _Slot(Tally(sample, context(), now, now, 1, weight, subject))
            self._leading.append(key)
            if len(self._leading) >= self._max_batch:
                self._wake.set()
            return
        tally = slot.tally
        if tally is None:  # the window is open and its previous facts went out already
            slot.tally = Tally(sample, context(), now, now, 1, weight, subject)
            return
        tally.count += 1
        tally.weight += weight
        tally.last = now
        if subject != tally.subject:
            tally.several_subjects = True

    def _drop(self, facts: int) -> None:
        self.dropped.inc(facts)
        self._dropped_since_flush += facts

    # --- the background task ------------------------------------------------------------

    @property
    def keys(self) -> int:
        """Keys held in memory (each with an open window or a fact still to go out)."""
        return len(self._slots)

    @property
    def pending(self) -> int:
        """Events built and not yet written to the outbox."""
        return len(self._ready)

    def harvest(self, *, final: bool = False) -> None:
        """Build the events that are due: first facts, and the windows that closed
        (every open one when `final`)."""
        at = self._monotonic()
        for key in self._leading:
            slot = self._slots[key]
            self._build(key, slot)
            slot.closes_at = at + self._window
            self._closing.append(key)
        self._leading.clear()
        while self._closing:
            key = self._closing[0]
            slot = self._slots[key]
            assert slot.closes_at is not None
            if not final and slot.closes_at > at:
                break
            self._closing.popleft()
            if slot.tally is None or final:
                self._build(key, slot)
                del self._slots[key]  # quiet window (or stop): the next fact leads again
            else:
                self._build(key, slot)
                slot.closes_at = at + self._window
                self._closing.append(key)
        if self._dropped_since_flush:
            log.error(
                "%s full: %d facts dropped (is the database down?)",
                self.name,
                self._dropped_since_flush,
            )
            self._dropped_since_flush = 0

    def _build(self, key: K, slot: _Slot[S]) -> None:
        tally, slot.tally = slot.tally, None
        if tally is None:
            return
        try:
            envelope = self.event_for(key, tally)
        except Exception:
            log.exception("%s: could not build an event; %d facts dropped", self.name, tally.count)
            self._drop(tally.count)
            return
        if len(self._ready) >= self._capacity:
            _, facts = self._ready.popleft()
            self._drop(facts)
        self._ready.append((envelope, tally.count))

    async def flush(self, *, final: bool = False) -> None:
        """Write what is due to the outbox; on failure the built events stay for the next try."""
        async with self._lock:
            self.harvest(final=final)
            while self._ready:
                batch = [self._ready[i][0] for i in range(min(self._max_batch, len(self._ready)))]
                async with self._uow(OrgScope.everything()) as uow:
                    await uow.outbox.add_all(batch)
                    await uow.commit()
                for _ in batch:
                    self._ready.popleft()

    async def run(self) -> None:
        """Flush every interval (sooner when many first facts wait); flush all on stop."""
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval):
                        await self._wake.wait()
                self._wake.clear()
                try:
                    await self.flush()
                except Exception:
                    log.exception("%s flush failed; retrying", self.name)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.flush(final=True))
