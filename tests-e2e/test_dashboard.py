"""The dashboard through the gateway (API.md "Domain resources → Dashboard"): its numbers
are the alerts behind them, for one organization and for the caller's scope, and no
customer sees another's."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from support import TokenMinter, assert_data, assert_error, bearer, eventually

DASHBOARD = "/api/dashboard"


def _alert(org_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "organizationId": org_id,
        "title": "Ransomware note dropped",
        "description": "README_DECRYPT.txt on a file server",
        "severity": "high",
        "category": "malware",
        "source": "e2e-dashboard",
        "sourceRef": uuid.uuid4().hex,
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def customer(create_organization: Any) -> dict[str, Any]:
    org: dict[str, Any] = create_organization("e2e-dashboard")
    return org


@pytest.fixture(scope="module")
def other(create_organization: Any) -> dict[str, Any]:
    org: dict[str, Any] = create_organization("e2e-dashboard-other")
    return org


def _all_alerts(api: httpx.Client, org_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"orgId": org_id, "limit": 200}
        if cursor:
            params["cursor"] = cursor
        response = api.get("/api/alerts", params=params)
        found += assert_data(response)
        cursor = response.json()["meta"]["nextCursor"]
        if not cursor:
            return found


def test_the_dashboard_numbers_are_the_alerts_behind_them(
    api: httpx.Client,
    minter: TokenMinter,
    provider_org_id: str,
    customer: dict[str, Any],
    other: dict[str, Any],
) -> None:
    org = customer["id"]
    analyst = bearer(minter.mint(org=provider_org_id, role="security_analyst").token)
    made = [
        assert_data(api.post("/api/alerts", json=_alert(org, severity=s)), 201)["id"]
        for s in ("critical", "critical", "high", "medium", "low")
    ]
    assert_data(api.post("/api/alerts", json=_alert(other["id"], severity="critical")), 201)
    assert_data(api.post(f"/api/alerts/{made[0]}/acknowledge", headers=analyst))
    assert_data(
        api.post(
            f"/api/alerts/{made[1]}/resolve", json={"resolution": "true_positive"}, headers=analyst
        )
    )
    assert_data(
        api.post(f"/api/alerts/{made[2]}/resolve", json={"resolution": "benign"}, headers=analyst)
    )
    assert_data(
        api.post(f"/api/alerts/{made[2]}/reopen", json={"reason": "came back"}, headers=analyst)
    )

    board = assert_data(api.get(DASHBOARD, params={"orgId": org}, headers=analyst))
    alerts = _all_alerts(api, org)
    unresolved = [a for a in alerts if a["status"] != "resolved"]
    assert board["alerts"]["open"] == {
        s: sum(a["severity"] == s for a in unresolved)
        for s in ("critical", "high", "medium", "low")
    }
    assert board["alerts"]["byStatus"] == {
        s: sum(a["status"] == s for a in alerts) for s in ("open", "acknowledged", "resolved")
    }
    assert board["alerts"]["last24h"] == len(alerts)
    assert board["alerts"]["mttaSeconds"] is not None
    assert board["alerts"]["mttrSeconds"] is not None
    assert board["scope"] == {"organizationIds": 1}
    assert {item["organizationId"] for item in board["recent"]} == {org}
    assert len(board["recent"]) <= 20

    # A customer's dashboard without orgId is its own organization's, the same numbers.
    basic = bearer(minter.customer(org, role="basic_user").token)
    own = assert_data(api.get(DASHBOARD, headers=basic))
    assert own["alerts"] == board["alerts"]
    assert own["scope"] == {"organizationIds": 1}
    assert_error(api.get(DASHBOARD, params={"orgId": other["id"]}, headers=basic), 404, "NOT_FOUND")

    # The analyst's whole scope sums every organization: at least these two.
    everything = assert_data(api.get(DASHBOARD, headers=analyst))
    assert everything["scope"]["organizationIds"] >= 2
    assert everything["alerts"]["open"]["critical"] >= board["alerts"]["open"]["critical"] + 1


def test_interventions_count_as_the_intervention_service_holds_them(
    api: httpx.Client, create_organization: Any
) -> None:
    """The read model follows intervention.* events (another service's, so the only wait of
    this file: an event's trip through the bus)."""
    org = create_organization("e2e-dashboard-work")["id"]
    body = {
        "organizationId": org,
        "title": "Patch the VPN concentrator",
        "description": "CVE fix",
        "priority": "high",
        "type": "maintenance",
    }
    made = [assert_data(api.post("/api/interventions", json=body), 201) for _ in range(2)]
    assert_data(api.post(f"/api/interventions/{made[1]['id']}/cancel", json={"reason": "dup"}))
    for attempt in eventually(10, 0.2):
        with attempt:
            board = assert_data(api.get(DASHBOARD, params={"orgId": org}))["interventions"]
            assert board["byStatus"]["requested"] == 1, board
            assert board["byStatus"]["cancelled"] == 1, board
    assert board["open"] == 1
    assert board["slaBreached"] == 0


def test_a_malformed_org_id_is_a_422(api: httpx.Client) -> None:
    assert_error(api.get(DASHBOARD, params={"orgId": "nope"}), 422, "VALIDATION_ERROR")
