"""The SLA clock (exactly one breach event per deadline, across a worker restart) and the
consumers: escalated alerts (idempotent), remote sessions, organization settings."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from mss_bus.consumer import apply_once
from mss_contracts.events import (
    AlertEscalated,
    EventContext,
    RemoteAccessEnded,
    RemoteAccessStarted,
    new_event,
)
from mss_contracts.permissions import Role
from mss_intervention.application.sla import announce_due_breaches, run_sla_clock
from mss_intervention.worker import apply_event, consumer_of
from mss_service import ServiceRuntime
from mss_testing.plugin import eventually

pytestmark = pytest.mark.integration

Headers = dict[str, str]
HeadersFor = Callable[..., Awaitable[Headers]]
NewOrg = Callable[..., Awaitable[uuid.UUID]]
Grant = Callable[..., Awaitable[uuid.UUID]]
Events = Callable[[str], Awaitable[list[dict[str, Any]]]]

BASE = "/api/interventions"
# 0.0005 h = 1.8 s: the smallest response target a test waits for.
FAST = {"slaResponseTargets": {"critical": 0.0005}}


async def _breaches(outbox_events: Events, item_id: str) -> list[dict[str, object]]:
    return [e for e in await outbox_events(item_id) if e["type"] == "intervention.sla.breached"]


async def test_a_deadline_passed_while_the_worker_was_down_is_announced_once(
    client: httpx.AsyncClient,
    runtime: ServiceRuntime,
    headers_for: HeadersFor,
    new_customer: NewOrg,
    outbox_events: Events,
    admin_db: asyncpg.Connection,
) -> None:
    org = await new_customer(settings=FAST)
    customer = await headers_for(Role.REQUEST_USER, org_id=org)

    worker = asyncio.create_task(run_sla_clock(runtime.uow, interval_s=0.2))
    await asyncio.sleep(0)
    worker.cancel()  # the worker stops (a crash: nothing of it survives but the database)
    with contextlib.suppress(asyncio.CancelledError):
        await worker

    created = await client.post(
        BASE,
        json={"title": "t", "description": "d", "priority": "critical", "type": "other"},
        headers=customer,
    )
    item = created.json()["data"]
    due = datetime.fromisoformat(item["sla"]["responseDueAt"])

    async def passed() -> None:
        now = await admin_db.fetchval("SELECT now()")
        assert now > due

    await eventually(passed, timeout_s=10)
    assert await _breaches(outbox_events, item["id"]) == []  # nobody announced it meanwhile

    restarted = asyncio.create_task(run_sla_clock(runtime.uow, interval_s=0.2))
    try:

        async def announced() -> None:
            assert len(await _breaches(outbox_events, item["id"])) == 1

        await eventually(announced, timeout_s=10)
        # More rounds, and a second replica, find nothing more to announce.
        assert await announce_due_breaches(runtime.uow) == 0
    finally:
        restarted.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await restarted
    [breach] = await _breaches(outbox_events, item["id"])
    assert breach["data"]["kind"] == "response"
    assert breach["data"]["dueAt"].startswith(due.isoformat()[:19])
    seen = (await client.get(f"{BASE}/{item['id']}", headers=customer)).json()["data"]
    assert seen["sla"]["responseBreached"] is True
    # Approving late answers the request; it announces no second breach.
    analyst = await headers_for(Role.SECURITY_ANALYST)
    assert (await client.post(f"{BASE}/{item['id']}/approve", headers=analyst)).status_code == 200
    assert len(await _breaches(outbox_events, item["id"])) == 1


async def test_replicas_racing_for_the_same_deadlines_announce_each_once(
    client: httpx.AsyncClient,
    runtime: ServiceRuntime,
    headers_for: HeadersFor,
    new_customer: NewOrg,
    outbox_events: Events,
) -> None:
    org = await new_customer()
    customer = await headers_for(Role.REQUEST_USER, org_id=org)
    ids = []
    for _ in range(5):
        created = await client.post(
            BASE,
            json={"title": "t", "description": "d", "priority": "low", "type": "other"},
            headers=customer,
        )
        ids.append(created.json()["data"]["id"])
    # The clock as of eight days on: both deadlines of each (low: 24 h, 168 h) have passed.
    later = datetime.now(UTC) + timedelta(days=8)
    await asyncio.gather(*(announce_due_breaches(runtime.uow, now=later) for _ in range(3)))
    await announce_due_breaches(runtime.uow, now=later)
    for item_id in ids:
        kinds = sorted(e["data"]["kind"] for e in await _breaches(outbox_events, item_id))
        assert kinds == ["resolution", "response"]


async def test_an_escalated_alert_becomes_its_intervention_once(
    client: httpx.AsyncClient,
    runtime: ServiceRuntime,
    headers_for: HeadersFor,
    new_customer: NewOrg,
    outbox_events: Events,
) -> None:
    org = await new_customer()
    alert_id, intervention_id, analyst_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)

    def escalation() -> object:
        return new_event(
            AlertEscalated(
                title="Ransomware beacon",
                severity="critical",
                status="acknowledged",
                category="malware",
                source="edr",
                fingerprint="f" * 16,
                first_seen_at=now,
                last_seen_at=now,
                intervention_id=intervention_id,
                escalated_intervention_id=intervention_id,
                priority="critical",
                intervention_type="incident_response",
                intervention_title="Contain the ransomware",
                intervention_description="Isolate the host",
                requested_by=analyst_id,
            ),
            aggregate_id=alert_id,
            organization_id=org,
            version=3,
            context=EventContext(user_id=analyst_id),
        )

    first = escalation()
    assert await apply_once(runtime.uow, first, apply_event)  # type: ignore[arg-type]
    assert not await apply_once(runtime.uow, first, apply_event)  # type: ignore[arg-type]
    # Another event naming the same intervention (the alert's outbox sent it twice).
    assert await apply_once(runtime.uow, escalation(), apply_event)  # type: ignore[arg-type]

    customer = await headers_for(Role.ADMIN, org_id=org)
    seen = await client.get(f"{BASE}/{intervention_id}", headers=customer)
    assert seen.status_code == 200, seen.text
    item = seen.json()["data"]
    assert item["sourceAlertId"] == str(alert_id)
    assert (item["priority"], item["type"], item["requestedBy"]) == (
        "critical",
        "incident_response",
        str(analyst_id),
    )
    requested = [
        e
        for e in await outbox_events(str(intervention_id))
        if e["type"] == "intervention.requested"
    ]
    assert len(requested) == 1


async def test_an_escalation_published_on_the_bus_is_readable_once_redelivered(
    client: httpx.AsyncClient,
    runtime: ServiceRuntime,
    headers_for: HeadersFor,
    new_customer: NewOrg,
    outbox_events: Events,
) -> None:
    org = await new_customer()
    alert_id, intervention_id, analyst = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    envelope = new_event(
        AlertEscalated(
            title="Beacon",
            severity="high",
            status="acknowledged",
            category="malware",
            source="edr",
            fingerprint="b" * 16,
            first_seen_at=now,
            last_seen_at=now,
            escalated_intervention_id=intervention_id,
            priority="high",
            intervention_type="investigation",
            intervention_title="Investigate the beacon",
            intervention_description="Which host, since when",
            requested_by=analyst,
        ),
        aggregate_id=alert_id,
        organization_id=org,
        version=2,
        context=EventContext(user_id=analyst),
    )
    consumer = consumer_of(runtime)
    await consumer.start()
    for _ in range(2):  # a redelivery: same id, same body
        await runtime.bus.publish(
            routing_key=envelope.type,
            body=envelope.model_dump_json(by_alias=True).encode(),
            message_id=str(envelope.id),
        )
    customer = await headers_for(Role.ADMIN, org_id=org)

    async def readable() -> dict[str, Any]:
        seen = await client.get(f"{BASE}/{intervention_id}", headers=customer)
        assert seen.status_code == 200, seen.text
        data: dict[str, Any] = seen.json()["data"]
        return data

    item = await eventually(readable, timeout_s=10)
    assert item["sourceAlertId"] == str(alert_id)

    events = await outbox_events(str(intervention_id))
    assert [e["type"] for e in events] == ["intervention.requested"]


async def test_remote_sessions_naming_an_intervention_show_on_it(
    client: httpx.AsyncClient,
    runtime: ServiceRuntime,
    headers_for: HeadersFor,
    new_customer: NewOrg,
) -> None:
    org, other = await new_customer(), await new_customer()
    customer = await headers_for(Role.REQUEST_USER, org_id=org)
    item = (
        await client.post(
            BASE,
            json={"title": "t", "description": "d", "priority": "low", "type": "other"},
            headers=customer,
        )
    ).json()["data"]
    session, stray, technician, grant_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    started = RemoteAccessStarted(
        technician_id=technician,
        grant_id=grant_id,
        service="ssh",
        justification="patching",
        intervention_id=uuid.UUID(item["id"]),
    )
    for session_id, org_id in ((session, org), (stray, other)):
        envelope = new_event(
            started,
            aggregate_id=session_id,
            organization_id=org_id,
            version=1,
            context=EventContext(),
        )
        assert await apply_once(runtime.uow, envelope, apply_event)
    ended = new_event(
        RemoteAccessEnded(technician_id=technician, grant_id=grant_id, service="ssh"),
        aggregate_id=session,
        organization_id=org,
        version=2,
        context=EventContext(),
    )
    assert await apply_once(runtime.uow, ended, apply_event)
    seen = (await client.get(f"{BASE}/{item['id']}", headers=customer)).json()["data"]
    [shown] = seen["remoteSessions"]  # the other organization's session is not attached
    assert (shown["id"], shown["status"], shown["service"]) == (str(session), "ended", "ssh")
    assert shown["endedAt"] is not None


async def test_a_session_whose_end_arrives_before_its_start_shows_ended(
    client: httpx.AsyncClient,
    runtime: ServiceRuntime,
    headers_for: HeadersFor,
    new_customer: NewOrg,
) -> None:
    """A start redelivered after the end (a retried delivery) must not reopen the session."""
    org = await new_customer()
    customer = await headers_for(Role.REQUEST_USER, org_id=org)
    item = (
        await client.post(
            BASE,
            json={"title": "t", "description": "d", "priority": "low", "type": "other"},
            headers=customer,
        )
    ).json()["data"]
    session, technician, grant_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    began = datetime.now(UTC) - timedelta(minutes=30)
    ended = RemoteAccessEnded(
        technician_id=technician,
        grant_id=grant_id,
        service="rdp",
        intervention_id=uuid.UUID(item["id"]),
        started_at=began,
    )
    started = RemoteAccessStarted(
        technician_id=technician,
        grant_id=grant_id,
        service="rdp",
        justification="patching",
        intervention_id=uuid.UUID(item["id"]),
    )
    for data, version in ((ended, 2), (started, 1)):
        envelope = new_event(
            data, aggregate_id=session, organization_id=org, version=version, context=EventContext()
        )
        assert await apply_once(runtime.uow, envelope, apply_event)
    seen = (await client.get(f"{BASE}/{item['id']}", headers=customer)).json()["data"]
    [shown] = seen["remoteSessions"]
    assert (shown["id"], shown["status"], shown["service"]) == (str(session), "ended", "rdp")
    assert datetime.fromisoformat(shown["startedAt"]) == began
    assert shown["endedAt"] is not None
