"""Every role against the permission matrix, through the gateway (API.md "Roles and permissions").

The expectations are not written here: each cell asks `mss_contracts.permissions` whether
the role holds the permission, so the matrix lives in one place. A role that holds it gets
the success answer (200 / 201); one that does not gets the 403 envelope with code
FORBIDDEN — refused for permission, never for identity (not 401) nor hidden (not 404).

One account per role (customer roles in customer org A, provider roles in the provider
org) comes from the session fixture `tenant_cast`; the cells only read, or create fresh
throwaway rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from support import (
    CUSTOMER_ROLE_NAMES,
    PROVIDER_ROLE_NAMES,
    TenantCast,
    error_code,
)

from mss_contracts.permissions import (
    CUSTOMER_ROLES,
    Role,
    has_permission,
    may_grant,
    permissions_for,
)

ALL_ROLES = (*CUSTOMER_ROLE_NAMES, *PROVIDER_ROLE_NAMES)


def _new_user_body(org_id: str, role: str) -> dict[str, Any]:
    return {
        "organizationId": org_id,
        "email": f"authz-{role}-{uuid.uuid4().hex[:10]}@example.com",
        "firstName": "Matrix",
        "lastName": role.title(),
        "role": role,
    }


def _target_org(cast: TenantCast, caller: str) -> str:
    """Where a caller creates users: its own org, or customer org A for provider roles."""
    return cast.org_a["id"] if caller in PROVIDER_ROLE_NAMES else cast.home_org(caller)


@dataclass(frozen=True)
class Probe:
    """The request that exercises one permission, and the status that means "allowed"."""

    allowed_status: int
    send: Callable[[httpx.Client, TenantCast, str, dict[str, str]], httpx.Response]


def _read_users(
    gw: httpx.Client, cast: TenantCast, caller: str, headers: dict[str, str]
) -> httpx.Response:
    return gw.get("/api/users", headers=headers, params={"limit": 100})


def _create_user(
    gw: httpx.Client, cast: TenantCast, caller: str, headers: dict[str, str]
) -> httpx.Response:
    # basic_user is a customer role every role with users:create may grant (GRANTABLE_ROLES).
    body = _new_user_body(_target_org(cast, caller), Role.BASIC_USER.value)
    return gw.post("/api/users", headers=headers, json=body)


def _create_organization(
    gw: httpx.Client, cast: TenantCast, caller: str, headers: dict[str, str]
) -> httpx.Response:
    body = {"name": f"e2e-authz-by-{caller}-{uuid.uuid4().hex[:10]}"}
    return gw.post("/api/organizations", headers=headers, json=body)


def _read_audit(
    gw: httpx.Client, cast: TenantCast, caller: str, headers: dict[str, str]
) -> httpx.Response:
    return gw.get("/api/audit/logs", headers=headers, params={"limit": 100})


PROBES: dict[str, Probe] = {
    "users:read": Probe(200, _read_users),
    "users:create": Probe(201, _create_user),
    "organizations:create": Probe(201, _create_organization),
    "audit:read": Probe(200, _read_audit),
}


def _check_allowed_body(
    permission: str, response: httpx.Response, cast: TenantCast, caller: str
) -> None:
    body = response.json()
    assert body["success"] is True, body
    data = body["data"]
    if permission == "users:read":
        assert isinstance(data, list)
        assert body["meta"]["total"] >= len(data)
        if caller in CUSTOMER_ROLE_NAMES:
            assert {row["organizationId"] for row in data} <= {cast.org_a["id"]}
    elif permission == "users:create":
        assert data["organizationId"] == _target_org(cast, caller)
        assert data["role"] == Role.BASIC_USER.value
        assert data["status"] == "invited"
    elif permission == "organizations:create":
        assert data["type"] == "customer"
        assert data["name"].startswith(f"e2e-authz-by-{caller}-")
    elif permission == "audit:read":
        assert isinstance(data, list)
        assert "nextCursor" in body["meta"]
        if caller in CUSTOMER_ROLE_NAMES:
            assert {row["organizationId"] for row in data} <= {cast.org_a["id"]}


@pytest.mark.parametrize("permission", list(PROBES))
@pytest.mark.parametrize("role", ALL_ROLES)
def test_role_permission_cell(
    role: str, permission: str, tenant_cast: TenantCast, gateway: httpx.Client
) -> None:
    account = tenant_cast.accounts[role]
    assert account.role == role
    probe = PROBES[permission]
    allowed = has_permission(permissions_for(Role(role)), permission)

    response = probe.send(gateway, tenant_cast, role, account.headers)

    if allowed:
        assert response.status_code == probe.allowed_status, response.text
        _check_allowed_body(permission, response, tenant_cast, role)
    else:
        assert response.status_code == 403, response.text
        assert error_code(response) == "FORBIDDEN", response.text


def test_the_matrix_is_not_degenerate() -> None:
    """Guards the parametrization: every probed permission is both granted and refused."""
    for permission in PROBES:
        verdicts = {has_permission(permissions_for(Role(r)), permission) for r in ALL_ROLES}
        assert verdicts == {True, False}, permission


# --- role-grant rules (GRANTABLE_ROLES): who may invite whom -------------------------------

GRANTERS = ("super_admin", "account_manager", "admin")


def _grant_cases() -> list[tuple[str, str]]:
    cases = []
    for granter in GRANTERS:
        for role in ALL_ROLES:
            # A customer admin's scope is its own org: provider roles can only live in the
            # provider org, which it cannot see (cross-tenant tests cover that: 404).
            if granter == "admin" and Role(role) not in CUSTOMER_ROLES:
                continue
            cases.append((granter, role))
    return cases


@pytest.mark.parametrize(("granter", "role"), _grant_cases())
def test_role_grant_rules(
    granter: str, role: str, tenant_cast: TenantCast, gateway: httpx.Client, api: httpx.Client
) -> None:
    """A role is given only by someone allowed to (nobody grants above themself)."""
    account = tenant_cast.accounts[granter]
    org_id = (
        tenant_cast.org_a["id"] if Role(role) in CUSTOMER_ROLES else tenant_cast.provider_org_id
    )
    body = _new_user_body(org_id, role)

    response = gateway.post("/api/users", headers=account.headers, json=body)

    if may_grant(Role(granter), Role(role)):
        assert response.status_code == 201, response.text
        assert response.json()["data"]["role"] == role
        assert response.json()["data"]["organizationId"] == org_id
    else:
        assert response.status_code == 403, response.text
        assert error_code(response) == "FORBIDDEN", response.text
        # Nothing was created behind the refusal (the super admin sees every org).
        listed = api.get("/api/users", params={"q": body["email"], "limit": 100})
        assert listed.status_code == 200, listed.text
        assert listed.json()["data"] == []


@pytest.mark.parametrize("role", ["super_admin", "account_manager", "technician"])
def test_customer_admin_cannot_give_a_provider_role_in_its_own_org(
    role: str, tenant_cast: TenantCast, gateway: httpx.Client, api: httpx.Client
) -> None:
    """A provider role does not exist in a customer org (and is not the admin's to give)."""
    admin = tenant_cast.accounts["admin"]
    body = _new_user_body(tenant_cast.org_a["id"], role)

    response = gateway.post("/api/users", headers=admin.headers, json=body)

    # The role does not fit the org type (checked before the grant rule): 422 on `role`.
    assert response.status_code == 422, response.text
    assert error_code(response) == "VALIDATION_ERROR", response.text
    assert "role" in response.json()["details"], response.text
    listed = api.get("/api/users", params={"q": body["email"]})
    assert listed.status_code == 200, listed.text
    assert listed.json()["data"] == []
