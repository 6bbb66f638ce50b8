"""Interventions end to end through the gateway (API.md "Domain resources → Interventions").

A customer requests work; an analyst approves (the SLA response), assigns a technician who
holds an active grant on the customer, schedules; the technician starts, logs quarter hours
and completes; billing sums the hours (JSON and CSV). Around the path: every illegal step
is a 409 naming the current status, the cancel rules, the grant requirement, If-Match,
bad input as 422 naming the field, another tenant's intervention as a 404, and an SLA
deadline that passes unmet emits its breach without any traffic.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from support import Account, assert_data, assert_error, eventually

BREACH_DEADLINE_S = 75.0  # the deadline (~2 s) plus the contract's 60 s, plus slack


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Cast:
    org: dict[str, Any]
    other_org: dict[str, Any]
    requester: Account  # request_user of org
    customer_admin: Account  # admin of org (billing:read for its own organization)
    other_admin: Account  # admin of other_org
    analyst: Account  # security_analyst (interventions:assign)
    technician: Account  # holds an active grant on org
    ungranted: Account  # a technician without any grant


@pytest.fixture(scope="module")
def cast(
    api: httpx.Client, create_organization: Any, make_account: Any, provider_org_id: str
) -> Cast:
    org = create_organization("e2e-interventions")
    other = create_organization("e2e-interventions-other")
    technician = make_account("technician", provider_org_id)
    grant = api.post(
        f"/api/organizations/{org['id']}/technician-access",
        json={
            "technicianId": technician.id,
            "accessLevel": "standard",
            "expiresAt": _iso(datetime.now(UTC) + timedelta(hours=2)),
            "allowedServices": ["ssh"],
            "ipRestrictions": [],
            "timeRestrictions": None,
            "notes": "e2e interventions",
        },
    )
    assert_data(grant, 201)
    return Cast(
        org=org,
        other_org=other,
        requester=make_account("request_user", org["id"]),
        customer_admin=make_account("admin", org["id"]),
        other_admin=make_account("admin", other["id"]),
        analyst=make_account("security_analyst", provider_org_id),
        technician=technician,
        ungranted=make_account("technician", provider_org_id),
    )


def _request(client: httpx.Client, who: Account, **changes: Any) -> dict[str, Any]:
    body = {
        "title": f"Patch the VPN {uuid.uuid4().hex[:6]}",
        "description": "CVE on the edge appliance",
        "priority": "high",
        "type": "vulnerability_remediation",
        **changes,
    }
    data: dict[str, Any] = assert_data(
        client.post("/api/interventions", json=body, headers=who.headers), 201
    )
    return data


def _step(
    client: httpx.Client, who: Account, item: dict[str, Any], step: str, body: Any = None
) -> httpx.Response:
    return client.post(
        f"/api/interventions/{item['id']}/{step}", json=body or {}, headers=who.headers
    )


def _scheduled(gateway: httpx.Client, cast: Cast) -> dict[str, Any]:
    item = _request(gateway, cast.requester)
    assert_data(_step(gateway, cast.analyst, item, "approve"))
    assert_data(_step(gateway, cast.analyst, item, "assign", {"technicianId": cast.technician.id}))
    when = _iso(datetime.now(UTC) + timedelta(hours=1))
    data: dict[str, Any] = assert_data(
        _step(gateway, cast.analyst, item, "schedule", {"scheduledFor": when, "estimatedHours": 2})
    )
    return data


def test_the_full_path_from_request_to_billing(gateway: httpx.Client, cast: Cast) -> None:
    item = _request(gateway, cast.requester)
    assert item["status"] == "requested"
    assert item["organizationId"] == cast.org["id"]
    assert item["requestedBy"] == cast.requester.id
    assert item["sla"]["respondedAt"] is None
    due = datetime.fromisoformat(item["sla"]["responseDueAt"])
    created = datetime.fromisoformat(item["createdAt"])
    assert due - created == timedelta(hours=4)  # default response target for high

    approved = assert_data(_step(gateway, cast.analyst, item, "approve"))
    assert approved["status"] == "approved"
    assert approved["sla"]["respondedAt"] is not None
    assigned = assert_data(
        _step(gateway, cast.analyst, item, "assign", {"technicianId": cast.technician.id})
    )
    assert assigned["assignedTo"] == cast.technician.id
    when = _iso(datetime.now(UTC) + timedelta(hours=1))
    scheduled = assert_data(
        _step(gateway, cast.analyst, item, "schedule", {"scheduledFor": when, "estimatedHours": 2})
    )
    assert scheduled["status"] == "scheduled"
    assert scheduled["estimatedHours"] == 2
    started = assert_data(_step(gateway, cast.technician, item, "start"))
    assert started["status"] == "in_progress"

    at = _iso(datetime.now(UTC) - timedelta(minutes=30))
    logged = assert_data(
        _step(
            gateway,
            cast.technician,
            item,
            "work-log",
            {"hours": 1.25, "note": "=cmd|calc", "at": at},
        ),
        201,
    )
    assert logged["actualHours"] == 1.25
    logged = assert_data(_step(gateway, cast.technician, item, "work-log", {"hours": 0.5}), 201)
    assert logged["actualHours"] == 1.75
    assert [entry["hours"] for entry in logged["workLog"]] == [1.25, 0.5]
    assert {entry["userId"] for entry in logged["workLog"]} == {cast.technician.id}

    done = assert_data(_step(gateway, cast.technician, item, "complete", {"summary": "patched"}))
    assert done["status"] == "completed"
    assert done["summary"] == "patched"
    assert done["completedAt"] is not None
    assert done["version"] == 8  # requested, approved, assigned, scheduled, started, 2 logs, done

    # The customer sees its own intervention as it is now.
    seen = assert_data(
        gateway.get(f"/api/interventions/{item['id']}", headers=cast.requester.headers)
    )
    assert seen["status"] == "completed"

    window = {
        "orgId": cast.org["id"],
        "from": _iso(datetime.now(UTC) - timedelta(days=1)),
        "to": _iso(datetime.now(UTC) + timedelta(minutes=10)),
    }
    rows = assert_data(
        gateway.get(
            "/api/interventions/billing", params=window, headers=cast.customer_admin.headers
        )
    )
    [row] = rows
    assert row["organizationId"] == cast.org["id"]
    assert row["hours"] >= 1.75
    assert row["byTechnician"][cast.technician.id] >= 1.75
    assert row["byType"]["vulnerability_remediation"] >= 1.75

    exported = gateway.get(
        "/api/interventions/billing",
        params={**window, "format": "csv"},
        headers=cast.customer_admin.headers,
    )
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(exported.text)))
    assert table[0] == ["organizationId", "interventionId", "type", "technicianId", "hours"]
    mine = [line for line in table if line[1] == item["id"]]
    assert mine == [
        [cast.org["id"], item["id"], "vulnerability_remediation", cast.technician.id, "1.75"]
    ]

    # Half-open windows on the entry's `at`: [at, at + 1 s) holds the first entry only,
    # [.., at) none of this intervention's work.
    first = {
        "orgId": cast.org["id"],
        "from": at,
        "to": _iso(datetime.fromisoformat(at) + timedelta(seconds=1)),
    }
    [only] = assert_data(
        gateway.get("/api/interventions/billing", params=first, headers=cast.customer_admin.headers)
    )
    assert (only["interventions"], only["hours"]) == (1, 1.25)
    before = {**window, "to": at, "format": "csv"}
    earlier = gateway.get(
        "/api/interventions/billing", params=before, headers=cast.customer_admin.headers
    )
    assert item["id"] not in earlier.text


def test_every_illegal_step_is_a_conflict_naming_the_status(
    gateway: httpx.Client, cast: Cast
) -> None:
    item = _request(gateway, cast.requester)
    path = f"/api/interventions/{item['id']}/start"
    body = assert_error(_step(gateway, cast.technician, item, "start"), 403, "FORBIDDEN")
    assert body  # not yet assigned: not the technician's step
    for step, payload in (
        ("schedule", {"scheduledFor": _iso(datetime.now(UTC) + timedelta(hours=1))}),
        ("assign", {"technicianId": cast.technician.id}),
    ):
        refused = assert_error(
            _step(gateway, cast.analyst, item, step, payload), 409, "INVALID_STATE_TRANSITION"
        )
        assert refused["details"]["status"] == "requested"
    assert_data(_step(gateway, cast.analyst, item, "approve"))
    twice = assert_error(
        _step(gateway, cast.analyst, item, "approve"), 409, "INVALID_STATE_TRANSITION"
    )
    assert twice["details"]["status"] == "approved"

    scheduled = _scheduled(gateway, cast)
    early = assert_error(
        _step(gateway, cast.technician, scheduled, "work-log", {"hours": 1}),
        409,
        "INVALID_STATE_TRANSITION",
    )
    assert early["details"]["status"] == "scheduled"
    unfinished = assert_error(
        _step(gateway, cast.technician, scheduled, "complete", {"summary": "x"}),
        409,
        "INVALID_STATE_TRANSITION",
    )
    assert unfinished["details"]["status"] == "scheduled"
    assert path.endswith("/start")


def test_bad_input_is_a_422_naming_the_field(gateway: httpx.Client, cast: Cast) -> None:
    for changes, field in (({"priority": "urgent"}, "priority"), ({"type": "magic"}, "type")):
        body = {"title": "t", "description": "d", "priority": "low", "type": "other", **changes}
        refused = assert_error(
            gateway.post("/api/interventions", json=body, headers=cast.requester.headers),
            422,
            "VALIDATION_ERROR",
        )
        assert any(field in key for key in refused["details"]), refused
    item = _request(gateway, cast.requester)
    assert_data(_step(gateway, cast.analyst, item, "approve"))
    past = assert_error(
        _step(
            gateway,
            cast.analyst,
            item,
            "schedule",
            {"scheduledFor": _iso(datetime.now(UTC) - timedelta(hours=1))},
        ),
        422,
        "VALIDATION_ERROR",
    )
    assert "scheduledFor" in past["details"]

    started = _scheduled(gateway, cast)
    assert_data(_step(gateway, cast.technician, started, "start"))
    for hours in (0.1, -1, 0, 24.25):
        refused = assert_error(
            _step(gateway, cast.technician, started, "work-log", {"hours": hours}),
            422,
            "VALIDATION_ERROR",
        )
        assert "hours" in refused["details"], refused
    malformed = gateway.get("/api/interventions/not-a-uuid", headers=cast.requester.headers)
    assert_error(malformed, 422, "VALIDATION_ERROR")


def test_cancel_rules(gateway: httpx.Client, cast: Cast) -> None:
    # The requesting organization cancels before scheduling...
    item = _request(gateway, cast.requester)
    assert_data(_step(gateway, cast.analyst, item, "approve"))
    cancelled = assert_data(
        _step(gateway, cast.requester, item, "cancel", {"reason": "not needed"})
    )
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelReason"] == "not needed"
    assert cancelled["cancelledAt"] is not None
    again = assert_error(
        _step(gateway, cast.analyst, item, "cancel", {"reason": "twice"}),
        409,
        "INVALID_STATE_TRANSITION",
    )
    assert again["details"]["status"] == "cancelled"

    # ...but not once scheduled; the provider's assigners still may.
    scheduled = _scheduled(gateway, cast)
    late = assert_error(
        _step(gateway, cast.requester, scheduled, "cancel", {"reason": "too late"}),
        409,
        "INVALID_STATE_TRANSITION",
    )
    assert late["details"]["status"] == "scheduled"
    assert (
        assert_data(
            _step(gateway, cast.analyst, scheduled, "cancel", {"reason": "customer asked"})
        )["status"]
        == "cancelled"
    )

    # Another organization's admin does not even see it; a technician cannot cancel.
    fresh = _request(gateway, cast.requester)
    assert_error(
        _step(gateway, cast.other_admin, fresh, "cancel", {"reason": "x"}), 404, "NOT_FOUND"
    )
    assert_error(
        _step(gateway, cast.technician, fresh, "cancel", {"reason": "x"}), 403, "FORBIDDEN"
    )

    # Nobody cancels a completed intervention.
    done = _scheduled(gateway, cast)
    assert_data(_step(gateway, cast.technician, done, "start"))
    assert_data(_step(gateway, cast.technician, done, "complete", {"summary": "ok"}))
    final = assert_error(
        _step(gateway, cast.analyst, done, "cancel", {"reason": "x"}),
        409,
        "INVALID_STATE_TRANSITION",
    )
    assert final["details"]["status"] == "completed"


def test_assignment_needs_an_active_grant(
    gateway: httpx.Client, cast: Cast, api: httpx.Client, make_account: Any, provider_org_id: str
) -> None:
    newcomer = make_account("technician", provider_org_id)
    item = _request(gateway, cast.requester)
    assert_data(_step(gateway, cast.analyst, item, "approve"))
    refused = assert_error(
        _step(gateway, cast.analyst, item, "assign", {"technicianId": newcomer.id}),
        409,
        "GRANT_REQUIRED",
    )
    assert refused["error"]
    # Granted a moment ago: counts at once (the projection asks the organization service).
    grant = assert_data(
        api.post(
            f"/api/organizations/{cast.org['id']}/technician-access",
            json={
                "technicianId": newcomer.id,
                "accessLevel": "read_only",
                "expiresAt": _iso(datetime.now(UTC) + timedelta(hours=1)),
                "allowedServices": ["ssh"],
                "ipRestrictions": [],
                "timeRestrictions": None,
                "notes": "late grant",
            },
        ),
        201,
    )
    assigned = assert_data(
        _step(gateway, cast.analyst, item, "assign", {"technicianId": newcomer.id})
    )
    assert assigned["assignedTo"] == newcomer.id

    # A revoked grant stops further work by that technician.
    when = _iso(datetime.now(UTC) + timedelta(hours=1))
    assert_data(_step(gateway, cast.analyst, item, "schedule", {"scheduledFor": when}))
    assert_data(_step(gateway, newcomer, item, "start"))
    assert_data(_step(gateway, newcomer, item, "work-log", {"hours": 0.25}), 201)
    revoked = api.post(f"/api/technician-access/{grant['id']}/revoke", json={"reason": "e2e"})
    assert_data(revoked)
    for attempt in eventually(5.0):
        with attempt:
            refused = _step(gateway, newcomer, item, "work-log", {"hours": 0.25})
            assert refused.status_code in (404, 409), refused.text


def test_if_match_guards_updates(gateway: httpx.Client, cast: Cast) -> None:
    item = _request(gateway, cast.requester)
    path = f"/api/interventions/{item['id']}"
    stale = gateway.put(
        path, json={"title": "renamed"}, headers={**cast.requester.headers, "If-Match": "7"}
    )
    body = assert_error(stale, 412, "PRECONDITION_FAILED")
    assert body["details"]["version"] == 1
    fresh = gateway.put(
        path, json={"title": "renamed"}, headers={**cast.requester.headers, "If-Match": "1"}
    )
    updated = assert_data(fresh)
    assert updated["title"] == "renamed"
    assert updated["version"] == 2


def test_another_tenants_intervention_is_a_404(gateway: httpx.Client, cast: Cast) -> None:
    item = _request(gateway, cast.requester)
    path = f"/api/interventions/{item['id']}"
    assert_error(gateway.get(path, headers=cast.other_admin.headers), 404, "NOT_FOUND", path)
    listed = assert_data(gateway.get("/api/interventions", headers=cast.other_admin.headers))
    assert all(row["organizationId"] == cast.other_org["id"] for row in listed)
    # A technician without a grant on the organization does not see it either.
    assert_error(gateway.get(path, headers=cast.ungranted.headers), 404, "NOT_FOUND", path)
    # Billing of another organization is a 404 for a customer admin.
    params = {
        "orgId": cast.org["id"],
        "from": _iso(datetime.now(UTC) - timedelta(days=1)),
        "to": _iso(datetime.now(UTC)),
    }
    assert_error(
        gateway.get("/api/interventions/billing", params=params, headers=cast.other_admin.headers),
        404,
        "NOT_FOUND",
    )
    # A customer cannot request for another organization.
    body = {
        "organizationId": cast.other_org["id"],
        "title": "t",
        "description": "d",
        "priority": "low",
        "type": "other",
    }
    refused = assert_error(
        gateway.post("/api/interventions", json=body, headers=cast.requester.headers),
        422,
        "VALIDATION_ERROR",
    )
    assert "organizationId" in refused["details"]


def test_an_unmet_deadline_emits_its_breach_without_traffic(
    api: httpx.Client, gateway: httpx.Client, create_organization: Any, make_account: Any
) -> None:
    org = create_organization("e2e-sla", settings={"slaResponseTargets": {"critical": 0.0005}})
    requester = make_account("request_user", org["id"])
    item = _request(gateway, requester, priority="critical")
    due = datetime.fromisoformat(item["sla"]["responseDueAt"])
    assert due - datetime.fromisoformat(item["createdAt"]) == timedelta(seconds=1.8)

    for attempt in eventually(BREACH_DEADLINE_S, interval_s=1.0):
        with attempt:
            events = assert_data(api.get("/api/audit/events", params={"aggregateId": item["id"]}))
            breaches = [e for e in events if e["type"] == "intervention.sla.breached"]
            assert len(breaches) == 1, events
    assert breaches[0]["data"]["kind"] == "response"
    seen = assert_data(gateway.get(f"/api/interventions/{item['id']}", headers=requester.headers))
    assert seen["sla"]["responseBreached"] is True
    assert seen["sla"]["resolutionBreached"] is False


def test_an_escalated_alert_is_its_intervention_within_2s(
    api: httpx.Client, gateway: httpx.Client, cast: Cast
) -> None:
    """API.md: the intervention the escalation names is readable within 2 s, linked by
    `sourceAlertId`, in the alert's organization only. The 2 s are the contract's own bound
    (an event crosses the bus), not a wait for a read the client could expect at once."""
    body = {
        "organizationId": cast.org["id"],
        "title": "Ransomware note on a file server",
        "description": "EDR quarantined the binary",
        "severity": "critical",
        "category": "malware",
        "source": "e2e-interventions",
        "sourceRef": uuid.uuid4().hex,
    }
    alert = assert_data(api.post("/api/alerts", json=body), 201)
    path = f"/api/alerts/{alert['id']}/escalate"
    refused = assert_error(
        gateway.post(
            path, json={"priority": "high", "type": "tea_party"}, headers=cast.analyst.headers
        ),
        422,
        "VALIDATION_ERROR",
        path,
    )
    assert "type" in refused["details"]
    escalated = assert_data(
        gateway.post(
            path,
            json={"priority": "critical", "type": "incident_response", "title": "Contain fs-02"},
            headers=cast.analyst.headers,
        ),
        202,
    )
    item_path = f"/api/interventions/{escalated['interventionId']}"
    for attempt in eventually(2, 0.05):
        with attempt:
            found = gateway.get(item_path, headers=cast.customer_admin.headers)
            assert found.status_code == 200, found.text
    item = found.json()["data"]
    assert (item["sourceAlertId"], item["organizationId"]) == (alert["id"], cast.org["id"])
    assert (item["priority"], item["type"], item["title"]) == (
        "critical",
        "incident_response",
        "Contain fs-02",
    )
    assert item["status"] == "requested"
    assert_error(
        gateway.get(item_path, headers=cast.other_admin.headers), 404, "NOT_FOUND", item_path
    )
