"""The walking skeleton, end to end: an organization created through the gateway is in
the audit log within 2 s (outbox → RabbitMQ → audit consumer), its hash chain verifies,
and the event store holds its organization.created event at version 1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

OrganizationFactory = Callable[..., dict[str, Any]]
AUDIT_DEADLINE_S = 2.0


def _data(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers.get("x-request-id")
    body = response.json()
    assert body["success"] is True
    return body["data"]


@retry(
    stop=stop_after_delay(AUDIT_DEADLINE_S),
    wait=wait_exponential(multiplier=0.02, max=0.25),
    retry=retry_if_exception_type(AssertionError),
    reraise=True,
)
def _created_entry_within_deadline(api: httpx.Client, org_id: str) -> dict[str, Any]:
    response = api.get(
        "/api/audit/logs", params={"orgId": org_id, "action": "organization.created"}
    )
    entries: list[dict[str, Any]] = _data(response)
    assert len(entries) == 1, f"organization.created of {org_id} not in the audit log yet"
    return entries[0]


def test_created_organization_is_audited_within_2s_and_its_chain_verifies(
    api: httpx.Client, create_organization: OrganizationFactory, admin_user_id: str
) -> None:
    org = create_organization("skeleton")
    assert org["type"] == "customer"
    assert org["status"] == "active"
    assert org["version"] == 1
    assert org["createdBy"] == admin_user_id

    entry = _created_entry_within_deadline(api, org["id"])

    assert entry["action"] == "organization.created"
    assert entry["resourceType"] == "organization"
    assert entry["resourceId"] == org["id"]
    assert entry["organizationId"] == org["id"]
    assert entry["userId"] == admin_user_id
    assert entry["success"] is True
    assert entry["details"]["data"]["name"] == org["name"]

    verification = _data(api.get("/api/audit/verify", params={"orgId": org["id"]}))
    assert verification["valid"] is True
    assert verification["checked"] >= 1
    assert verification.get("firstBrokenId") is None

    events: list[dict[str, Any]] = _data(
        api.get("/api/audit/events", params={"aggregateId": org["id"]})
    )
    created = [event for event in events if event["type"] == "organization.created"]
    assert len(created) == 1, events
    event = created[0]
    assert event["id"] == entry["eventId"]
    assert event["aggregateId"] == org["id"]
    assert event["aggregateType"] == "organization"
    assert event["organizationId"] == org["id"]
    assert event["metadata"]["version"] == 1
    assert event["metadata"]["userId"] == admin_user_id
    assert event["data"]["name"] == org["name"]
