"""The Users API's role and tenant rules, and API keys for integrations, black box through
the gateway (issue 3, points 7 and 8).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import (
    Account,
    assert_data,
    assert_error,
    bearer,
    invite_user,
    public_post,
    source_client,
)

USERS = "/api/users"
API_KEYS = "/api/api-keys"
TOKEN = "/api/auth/token"


@pytest.fixture(scope="module")
def home(create_organization: Any) -> dict[str, Any]:
    organization: dict[str, Any] = create_organization("e2e-users-home")
    return organization


@pytest.fixture(scope="module")
def other(create_organization: Any) -> dict[str, Any]:
    organization: dict[str, Any] = create_organization("e2e-users-other")
    return organization


@pytest.fixture(scope="module")
def customer_admin(make_account: Any, home: dict[str, Any]) -> Account:
    account: Account = make_account("admin", home["id"])
    return account


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """API-key exchanges from 127.0.3.6: a per-IP budget of this file's own."""
    with source_client("127.0.3.6") as http:
        yield http


def new_user_body(role: str, org_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"{role}-{uuid.uuid4().hex[:10]}@example.com",
        "firstName": "E2e",
        "lastName": "Refused",
        "role": role,
    }
    if org_id is not None:
        body["organizationId"] = org_id
    return body


def users_with_email(api: httpx.Client, address: str) -> list[dict[str, Any]]:
    """Every user with this address, in any organization (as the super admin)."""
    found: list[dict[str, Any]] = assert_data(api.get(USERS, params={"q": address, "limit": 100}))
    return [user for user in found if user["email"] == address]


# --- 7. roles fit the organization; tenants are walled off ---------------------------------


def test_a_provider_role_in_a_customer_organization_is_a_422(
    api: httpx.Client, home: dict[str, Any]
) -> None:
    # The organization is known to identity first, so the answer is about the role; and
    # the search by address does find an invited user (the empty answers below count).
    _, address = invite_user(api, home["id"], "basic_user")
    assert len(users_with_email(api, address)) == 1
    body = new_user_body("technician", home["id"])

    response = api.post(USERS, json=body)

    refused = assert_error(response, 422, "VALIDATION_ERROR", USERS)
    assert "role" in refused["details"], refused
    assert users_with_email(api, body["email"]) == []


def test_a_customer_role_in_the_provider_organization_is_a_422(
    api: httpx.Client, provider_org_id: str
) -> None:
    body = new_user_body("admin", provider_org_id)

    response = api.post(USERS, json=body)

    refused = assert_error(response, 422, "VALIDATION_ERROR", USERS)
    assert "role" in refused["details"], refused
    assert users_with_email(api, body["email"]) == []


def test_a_customer_admin_cannot_create_users_in_another_organization(
    api: httpx.Client,
    gateway: httpx.Client,
    customer_admin: Account,
    home: dict[str, Any],
    other: dict[str, Any],
) -> None:
    # `other` is known to identity (a user was invited there), so a refusal is the tenant
    # wall, not a late organization event.
    invite_user(api, other["id"], "basic_user")
    flat = new_user_body("basic_user", other["id"])
    nested_path = f"/api/organizations/{other['id']}/users"
    nested = new_user_body("basic_user")

    refused_flat = gateway.post(USERS, json=flat, headers=customer_admin.headers)
    refused_nested = gateway.post(nested_path, json=nested, headers=customer_admin.headers)

    # Another tenant's organization is simply not found.
    assert_error(refused_flat, 404, "NOT_FOUND", USERS)
    assert_error(refused_nested, 404, "NOT_FOUND", nested_path)
    assert users_with_email(api, flat["email"]) == []
    assert users_with_email(api, nested["email"]) == []
    listed = assert_data(api.get(USERS, params={"orgId": other["id"], "limit": 100}))
    assert {flat["email"], nested["email"]}.isdisjoint(user["email"] for user in listed)

    # The same admin does create users in its own organization (nested and flat).
    own_path = f"/api/organizations/{home['id']}/users"
    own = new_user_body("basic_user")
    created = assert_data(gateway.post(own_path, json=own, headers=customer_admin.headers), 201)
    assert created["organizationId"] == home["id"]
    assert created["status"] == "invited"
    default_org = new_user_body("report_viewer")
    created = assert_data(
        gateway.post(USERS, json=default_org, headers=customer_admin.headers), 201
    )
    assert created["organizationId"] == home["id"]


# --- 8. API keys --------------------------------------------------------------------------


def test_an_api_key_is_shown_once_carries_only_its_permissions_and_dies_when_deleted(
    api: httpx.Client,
    gateway: httpx.Client,
    client: httpx.Client,
    customer_admin: Account,
    home: dict[str, Any],
    other: dict[str, Any],
) -> None:
    home_user, _ = invite_user(api, home["id"], "basic_user")
    other_user, _ = invite_user(api, other["id"], "basic_user")

    created = api.post(
        API_KEYS,
        json={"organizationId": home["id"], "name": "e2e-siem", "permissions": ["users:read"]},
    )

    key_data = assert_data(created, 201)
    key: str = key_data["key"]
    assert key
    assert key_data["organizationId"] == home["id"]
    assert key_data["permissions"] == ["users:read"]
    assert key_data["prefix"]
    assert key_data["prefix"] in key
    assert key_data["revokedAt"] is None

    # Shown once: the listing identifies the key by id and prefix, never the key itself.
    listing = api.get(API_KEYS, params={"orgId": home["id"]})
    listed = {item["id"]: item for item in assert_data(listing)}
    assert key_data["id"] in listed
    assert "key" not in listed[key_data["id"]]
    assert key not in listing.text
    assert listed[key_data["id"]]["prefix"] == key_data["prefix"]

    # Only a super admin manages keys.
    assert_error(gateway.get(API_KEYS, headers=customer_admin.headers), 403, "FORBIDDEN", API_KEYS)

    exchanged = assert_data(public_post(client, TOKEN, {"apiKey": key}))
    assert exchanged["tokenType"] == "Bearer"
    assert exchanged["expiresIn"] > 0
    headers = bearer(exchanged["accessToken"])

    users = assert_data(gateway.get(USERS, params={"limit": 100}, headers=headers))
    assert {user["organizationId"] for user in users} == {home["id"]}
    ids = {user["id"] for user in users}
    assert home_user["id"] in ids
    assert customer_admin.id in ids
    assert other_user["id"] not in ids
    other_org = assert_data(
        gateway.get(USERS, params={"orgId": other["id"], "limit": 100}, headers=headers)
    )
    assert other_org == []
    other_path = f"{USERS}/{other_user['id']}"
    assert_error(gateway.get(other_path, headers=headers), 404, "NOT_FOUND", other_path)
    home_path = f"{USERS}/{home_user['id']}"
    assert assert_data(gateway.get(home_path, headers=headers))["id"] == home_user["id"]
    assert_error(
        gateway.post(USERS, json=new_user_body("basic_user"), headers=headers),
        403,
        "FORBIDDEN",
        USERS,
    )
    assert_error(gateway.get("/api/audit/logs", headers=headers), 403, "FORBIDDEN")

    deleted = api.delete(f"{API_KEYS}/{key_data['id']}")
    assert deleted.status_code in (200, 204), deleted.text
    revoked = {item["id"]: item for item in assert_data(api.get(API_KEYS))}
    assert revoked[key_data["id"]]["revokedAt"] is not None

    refused = public_post(client, TOKEN, {"apiKey": key})
    assert_error(refused, 401, "INVALID_CREDENTIALS", TOKEN)


def test_an_unknown_api_key_and_a_wildcard_key_are_refused(
    api: httpx.Client, client: httpx.Client, home: dict[str, Any]
) -> None:
    unknown = public_post(client, TOKEN, {"apiKey": f"mssk_00000000_{uuid.uuid4().hex}"})
    assert_error(unknown, 401, "INVALID_CREDENTIALS", TOKEN)

    for permissions in (["*:*"], [], ["no:such"]):
        response = api.post(
            API_KEYS, json={"organizationId": home["id"], "permissions": permissions}
        )
        refused = assert_error(response, 422, "VALIDATION_ERROR", API_KEYS)
        assert "permissions" in refused["details"], (permissions, refused)
    keys = assert_data(api.get(API_KEYS, params={"orgId": home["id"]}))
    assert all("*:*" not in item["permissions"] for item in keys)
