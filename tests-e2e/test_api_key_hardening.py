"""API keys, black box through the gateway (issue 11, points 5, 8 and 11): their life is
audited without their secret, their tokens end at logout and with their organization, and
they hold only permissions a role of their organization's type could hold (plus the
integration permissions).

Exchanges come from 127.0.6.2: a per-IP budget of this file's own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import assert_data, assert_error, bearer, eventually, public_post, source_client

API_KEYS = "/api/api-keys"
TOKEN = "/api/auth/token"
LOGOUT = "/api/auth/logout"
AUDIT_DEADLINE_S = 15.0
SUSPENSION_BOUND_S = 1.0
# One route of identity and one of audit an API key of a customer organization may use.
KEY_PERMISSIONS = ["audit:read", "users:read"]
KEY_ROUTES = ("/api/users", "/api/audit/logs")


@pytest.fixture(scope="module")
def org(create_organization: Any) -> dict[str, Any]:
    organization: dict[str, Any] = create_organization("e2e-keys-hardening")
    return organization


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with source_client("127.0.6.2") as http:
        yield http


def new_key(api: httpx.Client, org_id: str, permissions: list[str]) -> dict[str, Any]:
    """Create a key as the super admin (identity may learn of the org a moment later)."""
    body = {"organizationId": org_id, "name": "e2e-hardening", "permissions": permissions}
    for attempt in eventually(10):
        with attempt:
            created = api.post(API_KEYS, json=body)
            assert created.status_code != 404, created.text
    key: dict[str, Any] = assert_data(created, 201)
    return key


def exchange(client: httpx.Client, key: str) -> str:
    token: str = assert_data(public_post(client, TOKEN, {"apiKey": key}))["accessToken"]
    return token


def statuses(client: httpx.Client, token: str) -> dict[str, int]:
    return {path: client.get(path, headers=bearer(token)).status_code for path in KEY_ROUTES}


# --- 5. creation, use and deletion are audited, never the secret ---------------------------


def test_a_keys_creation_first_use_and_deletion_are_audited_without_its_secret(
    api: httpx.Client, client: httpx.Client, org: dict[str, Any]
) -> None:
    created = new_key(api, org["id"], ["users:read"])
    secret: str = created["key"]
    for _ in range(2):
        exchange(client, secret)
    assert api.delete(f"{API_KEYS}/{created['id']}").status_code == 204

    wanted = {"api_key.created", "api_key.used", "api_key.revoked"}
    logs: httpx.Response | None = None
    for attempt in eventually(AUDIT_DEADLINE_S, 0.25):
        with attempt:
            logs = api.get("/api/audit/logs", params={"resourceId": created["id"], "limit": 100})
            actions = [entry["action"] for entry in assert_data(logs)]
            assert wanted <= set(actions), actions
    assert logs is not None
    entries = assert_data(logs)
    # Two exchanges within the hour: the first one is audited.
    assert [entry["action"] for entry in entries].count("api_key.used") == 1, entries
    assert {entry["organizationId"] for entry in entries} == {org["id"]}
    for entry in entries:
        assert entry["resourceType"] == "api_key", entry
        assert entry["success"] is True, entry
    assert secret not in logs.text
    assert hashlib.sha256(secret.encode()).hexdigest() not in logs.text
    events = api.get("/api/audit/events", params={"aggregateId": created["id"]})
    assert wanted <= {event["type"] for event in assert_data(events)}
    assert secret not in events.text


# --- 8. tokens exchanged from a key end at logout and with their organization ---------------


def test_a_token_exchanged_from_a_key_ends_at_its_logout(
    api: httpx.Client, client: httpx.Client, org: dict[str, Any]
) -> None:
    key = new_key(api, org["id"], KEY_PERMISSIONS)
    token = exchange(client, key["key"])
    other = exchange(client, key["key"])
    assert set(statuses(client, token).values()) == {200}

    logout = client.post(LOGOUT, headers=bearer(token))

    assert logout.status_code == 204, logout.text
    for path in KEY_ROUTES:
        assert_error(client.get(path, headers=bearer(token)), 401, "SESSION_REVOKED", path)
    # Only that token: the key and its other tokens live on.
    assert set(statuses(client, other).values()) == {200}
    assert set(statuses(client, exchange(client, key["key"])).values()) == {200}


def test_tokens_exchanged_from_a_key_end_within_1s_when_the_organization_is_suspended(
    api: httpx.Client, client: httpx.Client, create_organization: Any
) -> None:
    own = create_organization("e2e-keys-suspension")
    key = new_key(api, own["id"], KEY_PERMISSIONS)
    token = exchange(client, key["key"])
    assert set(statuses(client, token).values()) == {200}

    suspended = api.post(f"/api/organizations/{own['id']}/suspend", json={"reason": "e2e"})

    assert assert_data(suspended)["status"] == "suspended"
    for attempt in eventually(SUSPENSION_BOUND_S, 0.05):
        with attempt:
            assert set(statuses(client, token).values()) == {401}
    for path in KEY_ROUTES:
        assert_error(client.get(path, headers=bearer(token)), 401, "SESSION_REVOKED", path)
    refused = public_post(client, TOKEN, {"apiKey": key["key"]})
    assert_error(refused, 401, "INVALID_CREDENTIALS", TOKEN)


# --- 11. a key holds what a role of its organization's type could, or integration rights ---


@pytest.mark.parametrize(
    "permissions",
    [["organizations:update"], ["alerts:update"], ["users:read", "customer_access:read"]],
)
def test_a_customer_organizations_key_cannot_hold_provider_only_permissions(
    api: httpx.Client, org: dict[str, Any], permissions: list[str]
) -> None:
    body = {"organizationId": org["id"], "name": "e2e-overreach", "permissions": permissions}

    response = api.post(API_KEYS, json=body)

    refused = assert_error(response, 422, "VALIDATION_ERROR", API_KEYS)
    assert "permissions" in refused["details"], refused
    listed = assert_data(api.get(API_KEYS, params={"orgId": org["id"]}))
    assert all(set(permissions) != set(item["permissions"]) for item in listed), listed


def test_keys_hold_role_permissions_of_their_organizations_type_and_integration_ones(
    api: httpx.Client, org: dict[str, Any], provider_org_id: str
) -> None:
    customer = new_key(api, org["id"], ["alerts:create", "users:read"])
    provider = new_key(api, provider_org_id, ["alerts:create", "organizations:update"])

    assert customer["permissions"] == ["alerts:create", "users:read"]
    assert provider["permissions"] == ["alerts:create", "organizations:update"]
