"""The access and denial journals: many like facts become few events whose counts add up.

A fixed clock drives the windows and a fake unit of work collects what reaches the outbox:
no I/O, no sleeping.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from uuid import UUID

import pytest
from prometheus_client import REGISTRY
from starlette.requests import Request

from mss_auth.principal import Principal
from mss_contracts.api import ErrorCode
from mss_contracts.events import EventContext, EventEnvelope, parse_data
from mss_contracts.permissions import OrganizationType, Role, permissions_for
from mss_db.scope import OrgScope
from mss_service.denials import DenialJournal
from mss_service.transparency import AccessJournal

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
WINDOW_S = 10.0


class Clock:
    """Monotonic seconds and the wall time they stand for, moved by hand."""

    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return START + timedelta(seconds=self.t)

    def at(self, seconds: float) -> datetime:
        return START + timedelta(seconds=seconds)


@dataclass
class Outbox:
    """What the journal wrote; `failing` makes the next writes raise (database down)."""

    written: list[EventEnvelope] = field(default_factory=list)
    failing: bool = False
    committed: asyncio.Event = field(default_factory=asyncio.Event)


class _Uow:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._added: list[EventEnvelope] = []
        self.outbox = self

    async def add_all(self, envelopes: Sequence[EventEnvelope]) -> None:
        if self._outbox.failing:
            raise ConnectionError("database down")
        self._added += envelopes

    async def commit(self) -> None:
        self._outbox.written += self._added
        self._outbox.committed.set()

    async def __aenter__(self) -> _Uow:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType
    ) -> None:
        return None


class FakeUowFactory:
    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def __call__(self, scope: OrgScope) -> _Uow:
        assert scope.all_orgs, "the journals write every organization's events"
        return _Uow(self._outbox)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


def _options(clock: Clock, **overrides: Any) -> dict[str, Any]:
    return {"window_s": WINDOW_S, "monotonic": clock.monotonic, "now": clock.now, **overrides}


@pytest.fixture
def journal(clock: Clock, outbox: Outbox) -> AccessJournal:
    return AccessJournal(FakeUowFactory(outbox), **_options(clock))  # type: ignore[arg-type]


def _principal(
    role: Role = Role.ACCOUNT_MANAGER,
    org_type: OrganizationType = OrganizationType.MSS_PROVIDER,
    org_id: UUID | None = None,
    user_id: UUID | None = None,
) -> Principal:
    return Principal(
        user_id=user_id or uuid.uuid4(),
        session_id=uuid.uuid4(),
        org_id=org_id or uuid.uuid4(),
        org_type=org_type,
        role=role,
        permissions=permissions_for(role),
        mfa=False,
        scope=OrgScope.everything(),
    )


def _request(path: str = "/api/users", method: str = "GET") -> Request:
    return Request(
        {
            "type": "http",
            "method": method,
            "path": path,
            "headers": [],
            "query_string": b"",
            "server": ("service", 80),
            "scheme": "http",
        }
    )


class Contexts:
    """Counts how often the journal builds an event context."""

    def __init__(self) -> None:
        self.built = 0

    def __call__(self) -> EventContext:
        self.built += 1
        return EventContext(user_id=uuid.uuid4(), ip_address="198.51.100.7")


def _read(
    journal: AccessJournal,
    principal: Principal,
    *org_ids: UUID,
    resource_type: str = "user",
    resource_id: UUID | None = None,
    path: str = "/api/users",
    context: Contexts | None = None,
) -> int:
    return journal.record(
        _request(path),
        principal,
        context or Contexts(),
        resource_type=resource_type,
        org_ids=org_ids,
        resource_id=resource_id,
    )


async def _flush_at(journal: AccessJournal | DenialJournal, clock: Clock, seconds: float) -> None:
    clock.t = seconds
    await journal.flush()


def _counts(events: list[EventEnvelope]) -> list[int]:
    return [e.data["accessCount"] for e in events]


def _dropped(metric: str) -> float:
    return REGISTRY.get_sample_value(metric) or 0.0


class TestAccessJournal:
    async def test_the_first_read_of_a_key_goes_out_at_the_next_flush(
        self, journal: AccessJournal, clock: Clock, outbox: Outbox
    ) -> None:
        manager, customer = _principal(), uuid.uuid4()
        clock.t = 0.1
        assert _read(journal, manager, customer, customer, customer) == 1
        await _flush_at(journal, clock, 0.25)

        (event,) = outbox.written
        assert event.type == "customer_data.accessed"
        assert event.organization_id == customer
        assert event.aggregate_type == "user"
        assert event.aggregate_id == customer, "a list read: the organization is the aggregate"
        assert event.data["accessCount"] == 1
        assert event.data["resourceCount"] == 3, "the list showed three of its users"
        assert event.data["path"] == "/api/users"
        assert event.data["actorRole"] == "account_manager"
        assert datetime.fromisoformat(event.data["firstAt"]) == clock.at(0.1)
        assert datetime.fromisoformat(event.data["lastAt"]) == clock.at(0.1)

    async def test_later_reads_fold_into_one_event_when_the_window_closes(
        self, journal: AccessJournal, clock: Clock, outbox: Outbox
    ) -> None:
        manager, customer = _principal(), uuid.uuid4()
        clock.t = 0.0
        _read(journal, manager, customer)
        await _flush_at(journal, clock, 0.25)  # the window now closes at 10.25
        for step in range(1, 50):
            clock.t = 0.25 + step * 0.2
            _read(journal, manager, customer)
            await journal.flush()
        assert _counts(outbox.written) == [1], "nothing more before the window closes"

        await _flush_at(journal, clock, 10.25)
        assert _counts(outbox.written) == [1, 49]
        folded = outbox.written[1]
        assert datetime.fromisoformat(folded.data["firstAt"]) == clock.at(0.45)
        assert datetime.fromisoformat(folded.data["lastAt"]) == clock.at(0.25 + 49 * 0.2)
        assert folded.data["resourceCount"] == 49

    async def test_a_sustained_flood_costs_one_event_per_window_and_the_counts_add_up(
        self, journal: AccessJournal, clock: Clock, outbox: Outbox
    ) -> None:
        manager, customer = _principal(), uuid.uuid4()
        reads = 0
        for tick in range(240):  # 60 s, flushed every 250 ms, 25 reads between flushes
            for _ in range(25):
                _read(journal, manager, customer)
                reads += 1
            await _flush_at(journal, clock, (tick + 1) * 0.25)
        await journal.flush(final=True)

        assert reads == 6000
        assert sum(_counts(outbox.written)) == reads, "every read is counted, none twice"
        # The leading event, one per 10 s window, and what the stop flushed.
        assert len(outbox.written) <= 1 + 60 / WINDOW_S + 1, _counts(outbox.written)
        assert journal.keys == 0

    async def test_a_quiet_window_forgets_the_key_and_the_next_read_leads_again(
        self, journal: AccessJournal, clock: Clock, outbox: Outbox
    ) -> None:
        manager, customer = _principal(), uuid.uuid4()
        _read(journal, manager, customer)
        await _flush_at(journal, clock, 0.25)
        await _flush_at(journal, clock, 10.25)  # the window closes with nothing in it
        assert journal.keys == 0
        assert len(outbox.written) == 1

        clock.t = 30.0
        _read(journal, manager, customer)
        await _flush_at(journal, clock, 30.25)
        assert _counts(outbox.written) == [1, 1], "prompt again after a quiet window"

    async def test_keys_are_kept_apart_by_actor_organization_and_resource_type(
        self, journal: AccessJournal, clock: Clock, outbox: Outbox
    ) -> None:
        manager, analyst = _principal(), _principal(Role.SECURITY_ANALYST)
        a, b = uuid.uuid4(), uuid.uuid4()
        for _ in range(3):
            _read(journal, manager, a)
            _read(journal, manager, b)
            _read(journal, manager, a, resource_type="organization")
            _read(journal, analyst, a)
        await _flush_at(journal, clock, 0.25)

        seen = {
            (e.metadata.user_id, e.organization_id, e.aggregate_type, e.data["accessCount"])
            for e in outbox.written
        }
        assert len(outbox.written) == 4
        assert {(org, kind, count) for _, org, kind, count in seen} == {
            (a, "user", 3),
            (b, "user", 3),
            (a, "organization", 3),
        }
        roles = {e.data["actorRole"] for e in outbox.written if e.organization_id == a}
        assert roles == {"account_manager", "security_analyst"}

    async def test_customers_own_reads_and_the_providers_own_org_cost_nothing(
        self, journal: AccessJournal, clock: Clock, outbox: Outbox
    ) -> None:
        customer = uuid.uuid4()
        admin = _principal(Role.ADMIN, OrganizationType.CUSTOMER, org_id=customer)
        contexts = Contexts()
        assert _read(journal, admin, customer, context=contexts) == 0
        manager = _principal()
        assert _read(journal, manager, manager.org_id, context=contexts) == 0
        await _flush_at(journal, clock, 0.25)
        assert outbox.written == []
        assert contexts.built == 0
        assert journal.keys == 0

    async def test_the_context_is_built_once_per_event_not_per_read(
        self, journal: AccessJournal, clock: Clock, outbox: Outbox
    ) -> None:
        manager, a, b = _principal(), uuid.uuid4(), uuid.uuid4()
        contexts = Contexts()
        for _ in range(100):
            _read(journal, manager, a, b, context=contexts)
        assert contexts.built == 1, "one read of two orgs shares one context"
        await _flush_at(journal, clock, 0.25)
        assert {e.metadata.ip_address for e in outbox.written} == {"198.51.100.7"}

    async def test_one_resource_read_is_the_aggregate_several_make_it_the_organization(
        self, journal: AccessJournal, clock: Clock, outbox: Outbox
    ) -> None:
        manager, customer = _principal(), uuid.uuid4()
        alice, bob = uuid.uuid4(), uuid.uuid4()
        for _ in range(2):
            _read(journal, manager, customer, resource_id=alice, path=f"/api/users/{alice}")
        await _flush_at(journal, clock, 0.25)
        _read(journal, manager, customer, resource_id=alice, path=f"/api/users/{alice}")
        _read(journal, manager, customer, resource_id=bob, path=f"/api/users/{bob}")
        await _flush_at(journal, clock, 10.25)

        alone, mixed = outbox.written
        assert alone.aggregate_id == alice
        assert alone.data["path"] == f"/api/users/{alice}"
        assert mixed.aggregate_id == customer, "alice and bob: the organization"
        assert mixed.data["path"] == f"/api/users/{alice}", "the first read's path"
        assert _counts(outbox.written) == [2, 2]

    async def test_memory_is_bounded_and_drops_are_counted(
        self, clock: Clock, outbox: Outbox
    ) -> None:
        journal = AccessJournal(FakeUowFactory(outbox), **_options(clock, capacity=2))  # type: ignore[arg-type]
        manager = _principal()
        before = _dropped("mss_access_journal_dropped_total")
        orgs = [uuid.uuid4() for _ in range(5)]
        for org in orgs:
            _read(journal, manager, org)
        assert journal.keys == 2
        assert _dropped("mss_access_journal_dropped_total") == before + 3

        # Database down: built events wait, never more than the capacity either.
        outbox.failing = True
        with pytest.raises(ConnectionError):
            await _flush_at(journal, clock, 0.25)
        assert journal.pending == 2
        for second in range(1, 4):
            for org in orgs[:2]:
                _read(journal, manager, org)
            with pytest.raises(ConnectionError):
                await _flush_at(journal, clock, second * WINDOW_S + 0.25)
            assert journal.pending <= 2
        assert _dropped("mss_access_journal_dropped_total") > before + 3

    async def test_a_failed_write_keeps_the_events_and_counts_nothing_twice(
        self, journal: AccessJournal, clock: Clock, outbox: Outbox
    ) -> None:
        manager, customer = _principal(), uuid.uuid4()
        _read(journal, manager, customer)
        outbox.failing = True
        with pytest.raises(ConnectionError):
            await _flush_at(journal, clock, 0.25)
        for _ in range(4):
            _read(journal, manager, customer)
        outbox.failing = False
        await _flush_at(journal, clock, 0.5)
        assert _counts(outbox.written) == [1], "the kept event; the others wait for the window"
        await _flush_at(journal, clock, 10.25)
        assert _counts(outbox.written) == [1, 4]

    async def test_a_graceful_stop_writes_every_open_window(
        self, journal: AccessJournal, clock: Clock, outbox: Outbox
    ) -> None:
        manager, customer = _principal(), uuid.uuid4()
        task = asyncio.create_task(journal.run())
        for _ in range(7):
            _read(journal, manager, customer)
        # The run loop's first flush, 250 ms of real time.
        await asyncio.wait_for(outbox.committed.wait(), timeout=5)
        for _ in range(5):
            _read(journal, manager, customer)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _counts(outbox.written) == [7, 5]
        assert journal.keys == 0

    def test_the_window_must_be_positive(self, outbox: Outbox) -> None:
        with pytest.raises(ValueError, match="positive"):
            AccessJournal(FakeUowFactory(outbox), window_s=0)  # type: ignore[arg-type]


def _deny(
    journal: DenialJournal,
    *,
    actor: UUID | None,
    org: UUID | None,
    action: str = "GET /api/users/{id}",
    status: int = 404,
    code: ErrorCode = ErrorCode.NOT_FOUND,
    reason: str = "Resource not found",
    subject: str | None = None,
) -> None:
    journal.record(
        actor_id=actor,
        org_id=org,
        action=action,
        status=status,
        code=code,
        reason=reason,
        context=lambda: EventContext(user_id=actor, ip_address="203.0.113.9"),
        actor_role=Role.ADMIN if actor else None,
        subject=subject,
    )


class TestDenialJournal:
    @pytest.fixture
    def denials(self, clock: Clock, outbox: Outbox) -> DenialJournal:
        return DenialJournal(FakeUowFactory(outbox), **_options(clock))  # type: ignore[arg-type]

    async def test_refusals_fold_per_actor_action_status_and_code(
        self, denials: DenialJournal, clock: Clock, outbox: Outbox
    ) -> None:
        actor, other, org = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        for _ in range(30):
            _deny(denials, actor=actor, org=org)
            _deny(
                denials,
                actor=actor,
                org=org,
                action="GET /api/technician-access",
                status=403,
                code=ErrorCode.FORBIDDEN,
                reason="Missing permission technician_access:read",
            )
        _deny(denials, actor=other, org=org)
        await _flush_at(denials, clock, 0.25)

        assert len(outbox.written) == 3
        by_action = {
            (e.aggregate_id, e.data["action"]): parse_data(e).model_dump() for e in outbox.written
        }
        probe = by_action[(actor, "GET /api/users/{id}")]
        assert probe["status"] == 404
        assert probe["code"] == ErrorCode.NOT_FOUND
        assert probe["count"] == 30
        assert probe["actor_role"] == Role.ADMIN
        assert probe["first_at"] == START
        forbidden = by_action[(actor, "GET /api/technician-access")]
        assert (forbidden["status"], forbidden["count"]) == (403, 30)
        assert forbidden["reason"] == "Missing permission technician_access:read"
        assert by_action[(other, "GET /api/users/{id}")]["count"] == 1
        for event in outbox.written:
            assert event.type == "access.denied"
            assert event.aggregate_type == "user"
            assert event.organization_id == org
            assert event.metadata.ip_address == "203.0.113.9"

    async def test_a_refusal_without_an_actor_keeps_its_subject_and_an_id_of_its_own(
        self, denials: DenialJournal, clock: Clock, outbox: Outbox
    ) -> None:
        for email in ("a@example.com", "a@example.com", "b@example.com"):
            _deny(
                denials,
                actor=None,
                org=None,
                action="POST /api/auth/login",
                status=401,
                code=ErrorCode.INVALID_CREDENTIALS,
                reason="Invalid email or password",
                subject=email,
            )
        await _flush_at(denials, clock, 0.25)
        counts = {e.data["subject"]: e.data["count"] for e in outbox.written}
        assert counts == {"a@example.com": 2, "b@example.com": 1}
        assert {e.organization_id for e in outbox.written} == {None}
        assert {e.metadata.user_id for e in outbox.written} == {None}
        assert len({e.aggregate_id for e in outbox.written}) == 2

    async def test_long_texts_are_cut_to_the_contract_never_refused(
        self, denials: DenialJournal, clock: Clock, outbox: Outbox
    ) -> None:
        _deny(
            denials,
            actor=uuid.uuid4(),
            org=uuid.uuid4(),
            action="GET /" + "a" * 1000,
            reason="x" * 2000,
            subject="s" * 1000,
        )
        await _flush_at(denials, clock, 0.25)
        (event,) = outbox.written
        assert len(event.data["action"]) == 300
        assert len(event.data["reason"]) == 500
        assert len(event.data["subject"]) == 320
