"""A customer admin sees and touches its own organization only (API.md: "404 NOT_FOUND —
unknown id, or an id of another tenant").

Customer admin A (of customer org A, from the session fixture `tenant_cast`) aims at users
of customer org B and of the provider org: single-user routes answer 404 exactly as for an
unknown id and change nothing (checked as the super admin); lists, whatever filter they are
given, never carry another organization's rows.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from support import CUSTOMER_ROLE_NAMES, Account, TenantCast, error_code, eventually

Target = dict[str, Any]


def _invite(api: httpx.Client, org_id: str, role: str) -> Target:
    """A fresh invited user (the victim), created by the super admin; returns its `data`."""
    body = {
        "organizationId": org_id,
        "email": f"victim-{role}-{uuid.uuid4().hex[:10]}@example.com",
        "firstName": "Victim",
        "lastName": role.title(),
        "role": role,
    }
    response = api.post("/api/users", json=body)
    assert response.status_code == 201, response.text
    data: Target = response.json()["data"]
    return data


@pytest.fixture(scope="module")
def victims(api: httpx.Client, tenant_cast: TenantCast) -> dict[str, Target]:
    """One throwaway user in customer org B and one in the provider org."""
    return {
        "org_b": _invite(api, tenant_cast.org_b["id"], "basic_user"),
        "provider": _invite(api, tenant_cast.provider_org_id, "technician"),
    }


@pytest.fixture(scope="module")
def admin_a(tenant_cast: TenantCast) -> Account:
    return tenant_cast.accounts["admin"]


def _as_super_admin(api: httpx.Client, user_id: str) -> Target:
    response = api.get(f"/api/users/{user_id}")
    assert response.status_code == 200, response.text
    data: Target = response.json()["data"]
    return data


def _assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert error_code(response) == "NOT_FOUND", response.text
    assert response.json()["success"] is False


# --- single-user routes: another tenant's id is simply not found --------------------------

SINGLE_USER_CALLS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "get": ("GET", "/api/users/{id}", None),
    "put": (
        "PUT",
        "/api/users/{id}",
        {"firstName": "Hijacked", "lastName": "Hijacked", "status": "inactive"},
    ),
    "delete": ("DELETE", "/api/users/{id}", None),
    "reset_password": ("POST", "/api/users/{id}/reset-password", None),
    "revoke_sessions": ("POST", "/api/users/{id}/revoke-sessions", None),
}


@pytest.mark.parametrize("call", list(SINGLE_USER_CALLS))
@pytest.mark.parametrize("victim", ["org_b", "provider"])
def test_customer_admin_gets_404_for_another_tenants_user(
    victim: str,
    call: str,
    victims: dict[str, Target],
    admin_a: Account,
    api: httpx.Client,
    gateway: httpx.Client,
) -> None:
    target = victims[victim]
    before = _as_super_admin(api, target["id"])
    method, path, body = SINGLE_USER_CALLS[call]

    response = gateway.request(
        method, path.format(id=target["id"]), headers=admin_a.headers, json=body
    )

    _assert_not_found(response)
    # Indistinguishable from an id that exists nowhere.
    unknown = gateway.request(
        method, path.format(id=uuid.uuid4()), headers=admin_a.headers, json=body
    )
    _assert_not_found(unknown)
    assert response.json()["error"] == unknown.json()["error"]
    # And nothing happened to the victim.
    assert _as_super_admin(api, target["id"]) == before


def test_customer_admin_reads_a_user_of_its_own_org(
    tenant_cast: TenantCast, admin_a: Account, gateway: httpx.Client
) -> None:
    """The control: the 404s above are about the tenant, not about the route."""
    own = tenant_cast.accounts["basic_user"]
    response = gateway.get(f"/api/users/{own.id}", headers=admin_a.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["organizationId"] == tenant_cast.org_a["id"]


@pytest.mark.parametrize("victim_org", ["org_b", "provider"])
def test_customer_admin_cannot_invite_into_another_org(
    victim_org: str,
    tenant_cast: TenantCast,
    admin_a: Account,
    api: httpx.Client,
    gateway: httpx.Client,
) -> None:
    org_id = tenant_cast.org_b["id"] if victim_org == "org_b" else tenant_cast.provider_org_id
    role = "basic_user" if victim_org == "org_b" else "technician"
    body = {
        "email": f"intruder-{uuid.uuid4().hex[:10]}@example.com",
        "firstName": "In",
        "lastName": "Truder",
        "role": role,
    }

    flat = gateway.post(
        "/api/users", headers=admin_a.headers, json={**body, "organizationId": org_id}
    )
    nested = gateway.post(f"/api/organizations/{org_id}/users", headers=admin_a.headers, json=body)

    # The foreign organization is as unknown to admin A as one that does not exist.
    _assert_not_found(flat)
    _assert_not_found(nested)
    listed = api.get("/api/users", params={"q": body["email"]})
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"] == []


# --- lists: never another organization's rows ---------------------------------------------


def _org_ids(tenant_cast: TenantCast, which: str) -> str:
    return tenant_cast.org_b["id"] if which == "org_b" else tenant_cast.provider_org_id


def test_user_list_of_a_customer_admin_holds_its_org_only(
    tenant_cast: TenantCast, admin_a: Account, gateway: httpx.Client
) -> None:
    response = gateway.get("/api/users", headers=admin_a.headers, params={"limit": 100})
    assert response.status_code == 200, response.text
    rows = response.json()["data"]
    assert {row["organizationId"] for row in rows} == {tenant_cast.org_a["id"]}
    own_ids = {tenant_cast.accounts[role].id for role in CUSTOMER_ROLE_NAMES}
    assert own_ids <= {row["id"] for row in rows}
    assert tenant_cast.admin_b.id not in {row["id"] for row in rows}


def test_the_other_customer_admin_sees_its_own_org_only(
    tenant_cast: TenantCast, gateway: httpx.Client
) -> None:
    """The same from org B's side: admin B lists org B and nothing of org A."""
    admin_b = tenant_cast.admin_b
    listed = gateway.get("/api/users", headers=admin_b.headers, params={"limit": 100})
    assert listed.status_code == 200, listed.text
    rows = listed.json()["data"]
    assert {row["organizationId"] for row in rows} == {tenant_cast.org_b["id"]}
    assert admin_b.id in {row["id"] for row in rows}
    admin_a_id = tenant_cast.accounts["admin"].id
    _assert_not_found(gateway.get(f"/api/users/{admin_a_id}", headers=admin_b.headers))


@pytest.mark.parametrize("foreign", ["org_b", "provider"])
def test_user_list_filtered_on_a_foreign_org_is_empty(
    foreign: str, tenant_cast: TenantCast, admin_a: Account, gateway: httpx.Client
) -> None:
    foreign_id = _org_ids(tenant_cast, foreign)
    response = gateway.get(
        "/api/users", headers=admin_a.headers, params={"orgId": foreign_id, "limit": 100}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == []
    assert body["meta"]["total"] == 0


@pytest.mark.parametrize("foreign", ["org_b", "provider"])
def test_nested_user_list_of_a_foreign_org_is_not_found(
    foreign: str, tenant_cast: TenantCast, admin_a: Account, gateway: httpx.Client
) -> None:
    foreign_id = _org_ids(tenant_cast, foreign)
    response = gateway.get(f"/api/organizations/{foreign_id}/users", headers=admin_a.headers)
    _assert_not_found(response)
    # Own org through the same route: the rows are there.
    own = gateway.get(
        f"/api/organizations/{tenant_cast.org_a['id']}/users", headers=admin_a.headers
    )
    assert own.status_code == 200, own.text
    assert {row["organizationId"] for row in own.json()["data"]} == {tenant_cast.org_a["id"]}


def _audit_rows(
    gateway: httpx.Client, headers: dict[str, str], params: dict[str, str], pages: int = 5
) -> list[dict[str, Any]]:
    """Up to `pages` pages of audit entries (cursor pagination)."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(pages):
        query = {**params, "limit": "100", **({"cursor": cursor} if cursor else {})}
        response = gateway.get("/api/audit/logs", headers=headers, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["data"])
        cursor = body["meta"]["nextCursor"]
        if not cursor:
            break
    return rows


def test_audit_log_of_a_customer_admin_holds_its_org_only(
    tenant_cast: TenantCast, admin_a: Account, gateway: httpx.Client
) -> None:
    # Org A's own history (its users' invitations, logins) reaches the audit store by events.
    for attempt in eventually(15, 0.5):
        with attempt:
            rows = _audit_rows(gateway, admin_a.headers, {})
            assert rows, "no audit entry of org A yet"
    assert {row["organizationId"] for row in rows} == {tenant_cast.org_a["id"]}


@pytest.mark.parametrize("foreign", ["org_b", "provider"])
def test_audit_log_filtered_on_a_foreign_org_is_empty(
    foreign: str,
    tenant_cast: TenantCast,
    admin_a: Account,
    api: httpx.Client,
    gateway: httpx.Client,
) -> None:
    foreign_id = _org_ids(tenant_cast, foreign)
    # The foreign org does have entries: the super admin sees them.
    for attempt in eventually(15, 0.5):
        with attempt:
            theirs = _audit_rows(api, {}, {"orgId": foreign_id}, pages=1)
            assert theirs, f"no audit entry of {foreign} yet"

    response = gateway.get(
        "/api/audit/logs", headers=admin_a.headers, params={"orgId": foreign_id, "limit": 100}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []


@pytest.mark.parametrize("victim", ["org_b", "provider"])
def test_audit_trail_of_a_foreign_user_is_invisible(
    victim: str,
    victims: dict[str, Target],
    admin_a: Account,
    api: httpx.Client,
    gateway: httpx.Client,
) -> None:
    user_id = victims[victim]["id"]
    for attempt in eventually(15, 0.5):
        with attempt:
            seen = api.get("/api/audit/logs", params={"resourceId": user_id})
            assert seen.status_code == 200, seen.text
            assert seen.json()["data"], "the victim's creation is not audited yet"

    logs = gateway.get("/api/audit/logs", headers=admin_a.headers, params={"resourceId": user_id})
    assert logs.status_code == 200, logs.text
    assert logs.json()["data"] == []
    events = gateway.get(
        "/api/audit/events", headers=admin_a.headers, params={"aggregateId": user_id}
    )
    assert events.status_code == 200, events.text
    assert events.json()["data"] == []
    assert user_id not in events.text


@pytest.mark.parametrize("foreign", ["org_b", "provider"])
def test_audit_chain_check_of_a_foreign_org_is_not_found(
    foreign: str, tenant_cast: TenantCast, admin_a: Account, gateway: httpx.Client
) -> None:
    response = gateway.get(
        "/api/audit/verify",
        headers=admin_a.headers,
        params={"orgId": _org_ids(tenant_cast, foreign)},
    )
    _assert_not_found(response)


@pytest.mark.parametrize("foreign", ["org_b", "provider"])
def test_customer_admin_cannot_read_a_foreign_organization(
    foreign: str, tenant_cast: TenantCast, admin_a: Account, gateway: httpx.Client
) -> None:
    """Customer admins lack organizations:read: refused (403), never served (200)."""
    foreign_id = _org_ids(tenant_cast, foreign)
    for path in (f"/api/organizations/{foreign_id}", f"/api/organizations/{foreign_id}/settings"):
        response = gateway.get(path, headers=admin_a.headers)
        assert response.status_code != 200, response.text
        assert response.status_code == 403, response.text
        assert error_code(response) == "FORBIDDEN", response.text
        assert "data" not in response.json()
