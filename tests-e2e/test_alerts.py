"""Alerts through the gateway (API.md "Domain resources → Alerts"): a SIEM's API key feeds
one customer, analysts triage, customers watch their own, and no tenant sees another's.

Exchanges of API keys come from 127.0.7.2: a per-IP budget of this file's own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import (
    TokenMinter,
    api_key_headers,
    assert_data,
    assert_error,
    source_client,
)

ALERTS = "/api/alerts"


def _alert(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Suspicious PowerShell download cradle",
        "description": "powershell -enc … fetched a payload from a fresh domain",
        "severity": "high",
        "category": "malware",
        "source": "e2e-siem",
        "sourceRef": uuid.uuid4().hex,
        "affectedAssets": ["fin-ws-017"],
        "observables": [{"type": "domain", "value": "cdn-update.example"}],
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with source_client("127.0.7.2") as http:
        yield http


@pytest.fixture(scope="module")
def customer(create_organization: Any) -> dict[str, Any]:
    org: dict[str, Any] = create_organization("e2e-alerts")
    return org


@pytest.fixture(scope="module")
def siem(api: httpx.Client, client: httpx.Client, customer: dict[str, Any]) -> dict[str, str]:
    """The headers of a SIEM: an API key holding alerts:create for the customer only."""
    return api_key_headers(api, client, customer["id"], ["alerts:create"], "e2e-siem")


def test_a_siem_feeds_its_customer_and_duplicates_count(
    api: httpx.Client, siem: dict[str, str], customer: dict[str, Any]
) -> None:
    body = _alert()
    created = assert_data(api.post(ALERTS, json=body, headers=siem), 201)
    assert created["organizationId"] == customer["id"]
    assert (created["status"], created["occurrenceCount"]) == ("open", 1)
    again = assert_data(api.post(ALERTS, json=body, headers=siem), 200)
    assert (again["id"], again["occurrenceCount"]) == (created["id"], 2)
    # The analyst (the e2e super admin) sees it.
    seen = assert_data(api.get(f"{ALERTS}/{created['id']}"))
    assert seen["occurrenceCount"] == 2


def test_a_siem_cannot_feed_another_customer(
    api: httpx.Client, siem: dict[str, str], create_organization: Any
) -> None:
    other = create_organization("e2e-alerts-other")
    response = api.post(ALERTS, json=_alert(organizationId=other["id"]), headers=siem)
    assert_error(response, 403, "FORBIDDEN")


def test_a_batch_is_all_or_nothing_and_names_the_bad_item(
    api: httpx.Client, siem: dict[str, str], customer: dict[str, Any]
) -> None:
    marker = uuid.uuid4().hex
    items = [_alert(title=f"batch {marker} {n}") for n in range(4)]
    items[3]["severity"] = "apocalyptic"
    refused = api.post(f"{ALERTS}/batch", json={"alerts": items}, headers=siem)
    assert_error(refused, 422, "VALIDATION_ERROR")
    assert "alerts[3].severity" in refused.json()["details"]
    listed = api.get(ALERTS, params={"orgId": customer["id"], "q": marker})
    assert assert_data(listed) == []
    items[3]["severity"] = "low"
    items.append(items[0])
    accepted = assert_data(api.post(f"{ALERTS}/batch", json={"alerts": items}, headers=siem))
    assert (accepted["created"], accepted["deduplicated"]) == (4, 1)
    assert [i["result"] for i in accepted["items"]][-1] == "deduplicated"


def test_the_workflow_through_the_gateway(api: httpx.Client, siem: dict[str, str]) -> None:
    alert = assert_data(api.post(ALERTS, json=_alert(), headers=siem), 201)
    path = f"{ALERTS}/{alert['id']}"
    assert assert_data(api.post(f"{path}/acknowledge"))["status"] == "acknowledged"
    twice = api.post(f"{path}/acknowledge")
    assert_error(twice, 409, "INVALID_STATE_TRANSITION")
    assert twice.json()["details"]["status"] == "acknowledged"
    stale = api.patch(path, json={"severity": "critical"}, headers={"If-Match": "1"})
    assert_error(stale, 412, "PRECONDITION_FAILED")
    patched = assert_data(api.patch(path, json={"severity": "critical"}, headers={"If-Match": "2"}))
    assert (patched["severity"], patched["version"]) == ("critical", 3)
    comment = assert_data(
        api.post(f"{path}/comments", json={"body": "Isolated the host", "visibility": "customer"}),
        201,
    )
    assert comment["alertId"] == alert["id"]
    escalated = assert_data(api.post(f"{path}/escalate", json={"priority": "high"}), 202)
    assert escalated["alert"]["interventionId"] == escalated["interventionId"]
    resolved = assert_data(api.post(f"{path}/resolve", json={"resolution": "true_positive"}))
    assert resolved["status"] == "resolved"
    assert_error(
        api.post(f"{path}/escalate", json={"priority": "high"}), 409, "INVALID_STATE_TRANSITION"
    )
    assert assert_data(api.post(f"{path}/reopen", json={"reason": "recurred"}))["status"] == "open"


def test_customers_see_only_their_own_and_roles_hold(
    api: httpx.Client,
    siem: dict[str, str],
    customer: dict[str, Any],
    create_organization: Any,
    minter: TokenMinter,
) -> None:
    own = assert_data(api.post(ALERTS, json=_alert(), headers=siem), 201)
    other_org = create_organization("e2e-alerts-theirs")
    theirs = assert_data(api.post(ALERTS, json=_alert(organizationId=other_org["id"])), 201)
    viewer = minter.customer(customer["id"], role="report_viewer").headers
    listed = assert_data(api.get(ALERTS, params={"limit": 200}, headers=viewer))
    assert {a["organizationId"] for a in listed} == {customer["id"]}
    assert own["id"] in {a["id"] for a in listed}
    assert_error(api.get(f"{ALERTS}/{theirs['id']}", headers=viewer), 404, "NOT_FOUND")
    assert_error(api.post(f"{ALERTS}/{own['id']}/acknowledge", headers=viewer), 403, "FORBIDDEN")
    basic = minter.customer(customer["id"], role="basic_user").headers
    assert_error(api.get(ALERTS, headers=basic), 403, "FORBIDDEN")


def test_bad_list_queries_are_refused_with_the_parameter_named(api: httpx.Client) -> None:
    for params, field in (
        ({"severity": "urgent"}, "severity"),
        ({"q": "ab"}, "q"),
        ({"sort": "title"}, "sort"),
        ({"cursor": "%%%"}, "cursor"),
    ):
        response = api.get(ALERTS, params=params)
        assert_error(response, 422, "VALIDATION_ERROR")
        assert field in response.json()["details"]


def test_keyset_pages_walk_one_organization(
    api: httpx.Client, siem: dict[str, str], customer: dict[str, Any]
) -> None:
    marker = uuid.uuid4().hex[:12]
    for n in range(5):
        api.post(ALERTS, json=_alert(title=f"page {marker} {n}"), headers=siem)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"orgId": customer["id"], "q": marker, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        body = api.get(ALERTS, params=params).json()
        seen += [a["id"] for a in body["data"]]
        cursor = body["meta"]["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert body["meta"]["total"] == 5
