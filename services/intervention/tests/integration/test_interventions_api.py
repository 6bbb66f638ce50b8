"""Interventions through the API on the real database: the path, refusals, events, scope."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from mss_contracts.permissions import Role
from mss_intervention.application.billing import as_csv, defuse

pytestmark = pytest.mark.integration

Headers = dict[str, str]
HeadersFor = Callable[..., Awaitable[Headers]]
NewOrg = Callable[..., Awaitable[uuid.UUID]]
Grant = Callable[..., Awaitable[uuid.UUID]]
Events = Callable[[str], Awaitable[list[dict[str, Any]]]]

BASE = "/api/interventions"


def _body(**changes: object) -> dict[str, object]:
    return {
        "title": "Patch the VPN",
        "description": "CVE on the edge",
        "priority": "high",
        "type": "vulnerability_remediation",
        **changes,
    }


def _later(hours: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def test_the_whole_path_is_walked_and_announced(
    client: httpx.AsyncClient,
    headers_for: HeadersFor,
    new_customer: NewOrg,
    grant: Grant,
    outbox_events: Events,
    admin_db: asyncpg.Connection,
) -> None:
    org = await new_customer(settings={"slaResponseTargets": {"high": 0.5}})
    technician = uuid.uuid4()
    await grant(org, technician)
    customer = await headers_for(Role.REQUEST_USER, org_id=org)
    analyst = await headers_for(Role.SECURITY_ANALYST)
    tech = await headers_for(Role.TECHNICIAN, user_id=technician)

    created = await client.post(BASE, json=_body(), headers=customer)
    assert created.status_code == 201, created.text
    item = created.json()["data"]
    assert item["status"] == "requested"
    assert item["organizationId"] == str(org)
    due = datetime.fromisoformat(item["sla"]["responseDueAt"])
    assert due - datetime.fromisoformat(item["createdAt"]) == timedelta(minutes=30)
    path = f"{BASE}/{item['id']}"

    steps = [
        (analyst, "approve", {}, "approved"),
        (analyst, "assign", {"technicianId": str(technician)}, "approved"),
        (analyst, "schedule", {"scheduledFor": _later(), "estimatedHours": 1.5}, "scheduled"),
        (tech, "start", {}, "in_progress"),
    ]
    for headers, step, body, status in steps:
        response = await client.post(f"{path}/{step}", json=body, headers=headers)
        assert response.status_code == 200, (step, response.text)
        assert response.json()["data"]["status"] == status
    logged = await client.post(f"{path}/work-log", json={"hours": 0.75, "note": "n"}, headers=tech)
    assert logged.status_code == 201, logged.text
    assert logged.json()["data"]["actualHours"] == 0.75
    done = await client.post(f"{path}/complete", json={"summary": "patched"}, headers=tech)
    assert done.status_code == 200, done.text
    final = done.json()["data"]
    assert (final["status"], final["version"]) == ("completed", 7)
    assert final["sla"]["respondedAt"] is not None
    assert final["sla"]["responseBreached"] is False

    events = await outbox_events(item["id"])
    assert [e["type"] for e in events] == [
        "intervention.requested",
        "intervention.approved",
        "intervention.assigned",
        "intervention.scheduled",
        "intervention.started",
        "intervention.work_logged",
        "intervention.completed",
    ]
    assert [e["metadata"]["version"] for e in events] == list(range(1, 8))
    assert all(e["organizationId"] == str(org) for e in events)
    quarters = await admin_db.fetchval(
        "SELECT sum(quarters) FROM intervention.work_log WHERE intervention_id = $1",
        uuid.UUID(item["id"]),
    )
    assert quarters == 3


async def test_illegal_steps_name_the_current_status(
    client: httpx.AsyncClient, headers_for: HeadersFor, new_customer: NewOrg
) -> None:
    org = await new_customer()
    customer = await headers_for(Role.REQUEST_USER, org_id=org)
    analyst = await headers_for(Role.SECURITY_ANALYST)
    item = (await client.post(BASE, json=_body(), headers=customer)).json()["data"]
    path = f"{BASE}/{item['id']}"
    refused = await client.post(
        f"{path}/schedule", json={"scheduledFor": _later()}, headers=analyst
    )
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["code"] == "INVALID_STATE_TRANSITION"
    assert body["details"] == {"status": "requested"}
    # A customer holds no interventions:assign: the route refuses before any state is read.
    assert (await client.post(f"{path}/approve", headers=customer)).status_code == 403


async def test_assignment_without_a_grant_is_refused(
    client: httpx.AsyncClient, headers_for: HeadersFor, new_customer: NewOrg, grant: Grant
) -> None:
    org, other = await new_customer(), await new_customer()
    technician = uuid.uuid4()
    await grant(other, technician)  # a grant, but on another organization
    customer = await headers_for(Role.REQUEST_USER, org_id=org)
    analyst = await headers_for(Role.SECURITY_ANALYST)
    item = (await client.post(BASE, json=_body(), headers=customer)).json()["data"]
    path = f"{BASE}/{item['id']}"
    assert (await client.post(f"{path}/approve", headers=analyst)).status_code == 200
    refused = await client.post(
        f"{path}/assign", json={"technicianId": str(technician)}, headers=analyst
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "GRANT_REQUIRED"


async def test_a_stale_if_match_is_a_412_and_another_tenant_a_404(
    client: httpx.AsyncClient, headers_for: HeadersFor, new_customer: NewOrg
) -> None:
    org, other = await new_customer(), await new_customer()
    customer = await headers_for(Role.REQUEST_USER, org_id=org)
    stranger = await headers_for(Role.ADMIN, org_id=other)
    item = (await client.post(BASE, json=_body(), headers=customer)).json()["data"]
    path = f"{BASE}/{item['id']}"
    stale = await client.put(path, json={"title": "x"}, headers={**customer, "If-Match": "5"})
    assert stale.status_code == 412, stale.text
    assert stale.json()["code"] == "PRECONDITION_FAILED"
    fresh = await client.put(path, json={"title": "x"}, headers={**customer, "If-Match": "1"})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["data"]["version"] == 2
    assert (await client.get(path, headers=stranger)).status_code == 404
    assert (await client.put(path, json={"title": "y"}, headers=stranger)).status_code == 404
    listed = (await client.get(BASE, headers=stranger)).json()
    assert item["id"] not in [i["id"] for i in listed["data"]]


async def test_bad_values_are_422s_naming_the_field(
    client: httpx.AsyncClient, headers_for: HeadersFor, new_customer: NewOrg
) -> None:
    org = await new_customer()
    customer = await headers_for(Role.REQUEST_USER, org_id=org)
    for changes, field in (({"priority": "urgent"}, "priority"), ({"type": "x"}, "type")):
        refused = await client.post(BASE, json=_body(**changes), headers=customer)
        assert refused.status_code == 422, refused.text
        assert any(field in key for key in refused.json()["details"])
    unknown = await client.post(
        BASE, json=_body(organizationId=str(uuid.uuid4())), headers=await headers_for()
    )
    assert unknown.status_code == 404, unknown.text
    assert (await client.get(f"{BASE}?status=nope", headers=customer)).status_code == 422


async def test_billing_sums_the_window_and_the_csv_defuses_formulas(
    client: httpx.AsyncClient, headers_for: HeadersFor, new_customer: NewOrg, grant: Grant
) -> None:
    org = await new_customer()
    technician = uuid.uuid4()
    await grant(org, technician)
    customer = await headers_for(Role.REQUEST_USER, org_id=org)
    analyst = await headers_for(Role.SECURITY_ANALYST)
    tech = await headers_for(Role.TECHNICIAN, user_id=technician)
    item = (await client.post(BASE, json=_body(), headers=customer)).json()["data"]
    path = f"{BASE}/{item['id']}"
    for step, body in (
        ("approve", {}),
        ("assign", {"technicianId": str(technician)}),
        ("schedule", {"scheduledFor": _later()}),
    ):
        assert (await client.post(f"{path}/{step}", json=body, headers=analyst)).status_code == 200
    assert (await client.post(f"{path}/start", headers=tech)).status_code == 200
    now = datetime.now(UTC)
    for hours, at in ((1.5, now - timedelta(hours=3)), (2, now - timedelta(hours=1))):
        logged = await client.post(
            f"{path}/work-log", json={"hours": hours, "at": at.isoformat()}, headers=tech
        )
        assert logged.status_code == 201, logged.text
    window = {
        "orgId": str(org),
        "from": (now - timedelta(hours=2)).isoformat(),
        "to": now.isoformat(),
    }
    manager = await headers_for(Role.ACCOUNT_MANAGER)
    report = await client.get(f"{BASE}/billing", params=window, headers=manager)
    assert report.status_code == 200, report.text
    assert report.json()["data"] == [
        {
            "organizationId": str(org),
            "interventions": 1,
            "hours": 2.0,
            "byType": {"vulnerability_remediation": 2.0},
            "byTechnician": {str(technician): 2.0},
        }
    ]
    exported = await client.get(
        f"{BASE}/billing", params={**window, "format": "csv"}, headers=manager
    )
    assert exported.status_code == 200, exported.text
    assert exported.text.splitlines() == [
        "organizationId,interventionId,type,technicianId,hours",
        f"{org},{item['id']},vulnerability_remediation,{technician},2",
    ]
    assert (await client.get(f"{BASE}/billing", params=window, headers=tech)).status_code == 403
    assert [defuse(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "\rx", "ok")] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "'\rx",
        "ok",
    ]
    assert as_csv([]) == "organizationId,interventionId,type,technicianId,hours\r\n"
