"""Technician access grants and remote access sessions, end to end through the gateway
(API.md "Technician access", "Remote access", "Audit").

A provider technician opens a remote session on a customer's systems only inside an
active grant that admits the service, the caller's address (the one the gateway saw,
passed on as X-Real-IP) and the current time. Every step, and every read of the
customer's data by provider staff, lands in the customer's own audit log.

The technician calls from 127.0.4.1 (`source_client`), inside the grants' 127.0.4.0/24;
127.0.5.1 is outside. Each scenario that needs a grant of its own uses its own customer
organization, so that only that grant can admit the request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from support import Account, TokenMinter, assert_data, assert_error, eventually, source_client

TECH_IP = "127.0.4.1"
TECH_CIDR = "127.0.4.0/24"
OUTSIDE_IP = "127.0.5.1"
AUDIT_DEADLINE_S = 5.0


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _grant_body(technician_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "technicianId": technician_id,
        "accessLevel": "standard",
        "expiresAt": _iso(datetime.now(UTC) + timedelta(hours=1)),
        "allowedServices": ["ssh", "rdp"],
        "ipRestrictions": [TECH_CIDR],
        "timeRestrictions": None,
        "notes": "e2e technician access",
    }
    body.update(overrides)
    return body


def _grant(api: httpx.Client, org_id: str, technician_id: str, **overrides: Any) -> dict[str, Any]:
    """Grant as the super admin, at once: a technician the organization service has not
    heard of yet from identity's events is asked of identity (no wait, no retry)."""
    body = _grant_body(technician_id, **overrides)
    response = api.post(f"/api/organizations/{org_id}/technician-access", json=body)
    grant: dict[str, Any] = assert_data(response, 201)
    assert grant["organizationId"] == org_id
    assert grant["technicianId"] == technician_id
    assert grant["status"] == "active"
    return grant


def _open(client: httpx.Client, tech: Account, org_id: str, service: str = "ssh") -> httpx.Response:
    body = {"organizationId": org_id, "service": service, "justification": "e2e maintenance"}
    return client.post("/api/remote-access-sessions", json=body, headers=tech.headers)


def _assert_refused(response: httpx.Response, *hints: str) -> None:
    """403 FORBIDDEN; the sentence or its details name the cause (any of `hints`)."""
    body = assert_error(response, 403, "FORBIDDEN", "/api/remote-access-sessions")
    said = f"{body['error']} {body.get('details') or ''}".lower()
    assert not hints or any(hint in said for hint in hints), body


@dataclass
class World:
    """Customer organizations (one per grant scenario) and the accounts acting on them."""

    main: dict[str, Any]  # the grant of the happy path; its admin watches the audit log
    ungranted: dict[str, Any]
    timed: dict[str, Any]
    revoked: dict[str, Any]
    expiring: dict[str, Any]
    technician: Account
    account_manager: Account
    customer_admin: Account


@pytest.fixture(scope="module")
def world(create_organization: Any, make_account: Any, provider_org_id: str) -> World:
    orgs = {
        name: create_organization(f"e2e-techaccess-{name}")
        for name in ("main", "ungranted", "timed", "revoked", "expiring")
    }
    wanted = [
        ("technician", provider_org_id),
        ("account_manager", provider_org_id),
        ("admin", orgs["main"]["id"]),
    ]
    with ThreadPoolExecutor(max_workers=len(wanted)) as pool:
        technician, account_manager, customer_admin = pool.map(
            lambda pair: make_account(*pair), wanted
        )
    return World(
        **orgs,
        technician=technician,
        account_manager=account_manager,
        customer_admin=customer_admin,
    )


@pytest.fixture(scope="module")
def tech_client() -> Iterator[httpx.Client]:
    with source_client(TECH_IP) as http:
        yield http


@pytest.fixture(scope="module")
def main_grant(api: httpx.Client, world: World) -> dict[str, Any]:
    return _grant(api, world.main["id"], world.technician.id)


# --- 1. no grant, no session ----------------------------------------------------------------


def test_a_technician_without_a_grant_is_refused_a_remote_session(
    world: World, tech_client: httpx.Client
) -> None:
    refused = _open(tech_client, world.technician, world.ungranted["id"])
    _assert_refused(refused)


# --- 2. inside the grant: open, list, end -----------------------------------------------------


def test_a_granted_technician_opens_lists_and_ends_a_session(
    world: World, main_grant: dict[str, Any], tech_client: httpx.Client
) -> None:
    assert main_grant["accessLevel"] == "standard"
    assert main_grant["allowedServices"] == ["ssh", "rdp"]
    assert main_grant["ipRestrictions"] == [TECH_CIDR]
    assert main_grant["timeRestrictions"] is None

    session = assert_data(_open(tech_client, world.technician, world.main["id"]), 201)
    assert session["organizationId"] == world.main["id"]
    assert session["technicianId"] == world.technician.id
    assert session["grantId"] == main_grant["id"]
    assert session["service"] == "ssh"
    assert session["clientIp"] == TECH_IP
    assert session["status"] == "active"

    mine = tech_client.get("/api/remote-access-sessions", headers=world.technician.headers)
    assert session["id"] in {s["id"] for s in assert_data(mine)}
    theirs = tech_client.get("/api/remote-access-sessions", headers=world.customer_admin.headers)
    listed = {s["id"]: s for s in assert_data(theirs)}
    assert session["id"] in listed
    assert {s["organizationId"] for s in listed.values()} == {world.main["id"]}

    ended = tech_client.post(
        f"/api/remote-access-sessions/{session['id']}/end", headers=world.technician.headers
    )
    ended_data = assert_data(ended, 200)
    assert ended_data["id"] == session["id"]
    assert ended_data["status"] == "ended"
    assert ended_data["endedAt"]


# --- 3. refusals ---------------------------------------------------------------------------


def test_a_service_outside_the_grant_is_refused(
    world: World, main_grant: dict[str, Any], tech_client: httpx.Client
) -> None:
    refused = _open(tech_client, world.technician, world.main["id"], service="vpn")
    _assert_refused(refused, "vpn", "service")


def test_an_address_outside_the_grant_is_refused(world: World, main_grant: dict[str, Any]) -> None:
    with source_client(OUTSIDE_IP) as outside:
        refused = _open(outside, world.technician, world.main["id"])
    _assert_refused(refused, "address", "ip")


def test_a_grant_whose_hours_exclude_today_refuses(
    api: httpx.Client, world: World, tech_client: httpx.Client
) -> None:
    today = datetime.now(UTC).isoweekday()
    # Three days away: neither today nor either neighbour, whatever the hour.
    other_day = (today + 2) % 7 + 1
    _grant(
        api,
        world.timed["id"],
        world.technician.id,
        timeRestrictions={"timezone": "UTC", "days": [other_day], "start": "00:00", "end": "23:59"},
    )
    refused = _open(tech_client, world.technician, world.timed["id"])
    _assert_refused(refused, "time")


def test_a_revoked_grant_refuses_within_a_second(
    api: httpx.Client, world: World, tech_client: httpx.Client
) -> None:
    grant = _grant(api, world.revoked["id"], world.technician.id)
    assert_data(_open(tech_client, world.technician, world.revoked["id"]), 201)

    # Identity's projection of grants widens the technician's scope too (`me` shows it), on
    # its first request since the grant: identity refreshes the technician's grants.
    assert world.revoked["id"] in _scope_in_identity(tech_client, world.technician)

    revoked = api.post(
        f"/api/technician-access/{grant['id']}/revoke", json={"reason": "e2e: job done"}
    )
    data = assert_data(revoked, 200)
    assert data["status"] == "revoked"
    assert data["revokedReason"] == "e2e: job done"
    for attempt in eventually(1.0, 0.05):
        with attempt:
            refused = _open(tech_client, world.technician, world.revoked["id"])
            assert refused.status_code == 403, refused.text
            # …and in identity, which learns of the revocation from its event.
            assert world.revoked["id"] not in _scope_in_identity(tech_client, world.technician)
    _assert_refused(refused)


def _scope_in_identity(client: httpx.Client, tech: Account) -> list[str]:
    me = assert_data(client.get("/api/auth/me", headers=tech.headers))
    scope: list[str] = me["orgScope"]["organizationIds"]
    return scope


def test_an_expired_grant_refuses_and_reads_expired(
    api: httpx.Client, world: World, tech_client: httpx.Client
) -> None:
    expires_at = datetime.now(UTC) + timedelta(seconds=3)
    grant = _grant(api, world.expiring["id"], world.technician.id, expiresAt=_iso(expires_at))
    assert_data(_open(tech_client, world.technician, world.expiring["id"]), 201)

    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 0.3)
    refused = _open(tech_client, world.technician, world.expiring["id"])
    # "grant expired", or "no active grant" once the expiry sweep has run.
    _assert_refused(refused, "expir", "no active")

    listed = api.get(f"/api/organizations/{world.expiring['id']}/technician-access")
    statuses = {g["id"]: g["status"] for g in assert_data(listed)}
    assert statuses[grant["id"]] == "expired"


# --- 4. validation and who may grant --------------------------------------------------------


def _in_an_hour() -> str:
    return _iso(datetime.now(UTC) + timedelta(hours=1))


INVALID_GRANTS: dict[str, tuple[dict[str, Any], str]] = {
    "bad CIDR": ({"ipRestrictions": ["10.0.0.0/33"]}, "ipRestrictions"),
    "unknown timezone": (
        {
            "timeRestrictions": {
                "timezone": "Mars/Olympus_Mons",
                "days": [1, 2, 3, 4, 5],
                "start": "08:00",
                "end": "18:00",
            }
        },
        "timeRestrictions",
    ),
    "empty allowedServices": ({"allowedServices": []}, "allowedServices"),
    "past expiresAt": (
        {"expiresAt": _iso(datetime(2020, 1, 1, tzinfo=UTC))},
        "expiresAt",
    ),
}


@pytest.mark.parametrize("case", list(INVALID_GRANTS))
def test_an_invalid_grant_is_a_422_naming_the_field(
    api: httpx.Client, world: World, main_grant: dict[str, Any], case: str
) -> None:
    overrides, field = INVALID_GRANTS[case]
    path = f"/api/organizations/{world.main['id']}/technician-access"
    response = api.post(path, json=_grant_body(world.technician.id, **overrides))
    body = assert_error(response, 422, "VALIDATION_ERROR", path)
    assert any(key.split(".")[0] == field for key in body.get("details") or {}), body


def test_granting_to_someone_not_a_technician_is_a_422_on_technician_id(
    api: httpx.Client, world: World
) -> None:
    path = f"/api/organizations/{world.main['id']}/technician-access"
    for not_a_technician in (world.account_manager.id, world.customer_admin.id):
        response = api.post(path, json=_grant_body(not_a_technician))
        body = assert_error(response, 422, "VALIDATION_ERROR", path)
        assert "technicianId" in (body.get("details") or {}), body


def test_a_security_analyst_may_not_grant(
    gateway: httpx.Client, world: World, minter: TokenMinter, provider_org_id: str
) -> None:
    analyst = minter.mint(org=provider_org_id, role="security_analyst")
    path = f"/api/organizations/{world.main['id']}/technician-access"
    response = gateway.post(path, json=_grant_body(world.technician.id), headers=analyst.headers)
    assert_error(response, 403, "FORBIDDEN", path)


def test_a_customer_admin_may_not_list_grants(
    gateway: httpx.Client, world: World, main_grant: dict[str, Any]
) -> None:
    headers = world.customer_admin.headers
    path = f"/api/organizations/{world.main['id']}/technician-access"
    assert_error(gateway.get(path, headers=headers), 403, "FORBIDDEN", path)
    assert_error(gateway.get("/api/technician-access", headers=headers), 403, "FORBIDDEN")


# --- 5. access transparency -----------------------------------------------------------------


def _logs(client: httpx.Client, admin: Account, **query: str) -> list[dict[str, Any]]:
    response = client.get(
        "/api/audit/logs",
        params={"orgId": admin.org_id, "limit": "100", **query},
        headers=admin.headers,
    )
    entries: list[dict[str, Any]] = assert_data(response)
    return entries


def _assert_stamped(entry: dict[str, Any]) -> None:
    assert entry["ipAddress"], entry
    assert entry["timestamp"], entry
    datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
    assert entry["organizationId"] is not None, entry


def test_the_customer_admin_sees_provider_access_in_its_audit_log(
    api: httpx.Client,
    gateway: httpx.Client,
    admin_user_id: str,
    world: World,
    main_grant: dict[str, Any],
    tech_client: httpx.Client,
) -> None:
    customer = world.main["id"]
    admin, manager, tech = world.customer_admin, world.account_manager, world.technician

    # The customer admin's own reads of its own data: never "customer_data.accessed".
    assert_data(gateway.get("/api/users", params={"orgId": customer}, headers=admin.headers))
    assert_data(gateway.get(f"/api/users/{admin.id}", headers=admin.headers))
    _logs(gateway, admin)

    # Provider staff read the customer's data; the technician opens a session.
    assert_data(gateway.get("/api/users", params={"orgId": customer}, headers=manager.headers))
    assert_data(gateway.get(f"/api/organizations/{customer}", headers=manager.headers))
    assert_data(api.get(f"/api/users/{admin.id}"))
    session = assert_data(_open(tech_client, tech, customer), 201)

    for attempt in eventually(AUDIT_DEADLINE_S, 0.25):
        with attempt:
            # (a) the account manager's reads of users and of the organization
            managed = _logs(gateway, admin, action="customer_data.accessed", userId=manager.id)
            assert {e["resourceType"] for e in managed} >= {"user", "organization"}, managed
            org_read = next(e for e in managed if e["resourceType"] == "organization")
            assert org_read["resourceId"] == customer, org_read

            # (b) the technician's session, with the address the gateway saw; the grant
            started = _logs(gateway, admin, action="remote_access.session.started", userId=tech.id)
            ours = [e for e in started if e["resourceId"] == session["id"]]
            assert ours, started
            granted = _logs(gateway, admin, action="technician_access.granted")
            grant_entries = [e for e in granted if e["resourceId"] == main_grant["id"]]
            assert grant_entries, granted

            # (c) the super admin's read of one of the customer's users
            read_user = _logs(
                gateway,
                admin,
                action="customer_data.accessed",
                userId=admin_user_id,
                resourceType="user",
                resourceId=admin.id,
            )
            assert read_user, "super admin's read of the customer user is not in the log"

    for entry in managed:
        _assert_stamped(entry)
        assert entry["organizationId"] == customer
    assert ours[0]["ipAddress"] == TECH_IP, ours[0]
    _assert_stamped(ours[0])
    assert grant_entries[0]["userId"] == admin_user_id, grant_entries[0]
    _assert_stamped(grant_entries[0])
    assert read_user[0]["resourceType"] == "user"
    assert read_user[0]["resourceId"] == admin.id
    _assert_stamped(read_user[0])

    # The customer admin's reads above were journaled (if at all) before the provider
    # reads that are now visible: none of them is a customer_data.accessed entry.
    own = _logs(gateway, admin, action="customer_data.accessed", userId=admin.id)
    assert own == [], own

    assert_data(
        tech_client.post(f"/api/remote-access-sessions/{session['id']}/end", headers=tech.headers)
    )
