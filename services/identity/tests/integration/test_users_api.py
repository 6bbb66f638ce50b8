"""The Users API: invite, list, read, update and deactivate users, scoped to tenants."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from mss_contracts.events import EventEnvelope
from mss_contracts.permissions import OrganizationType, Role
from mss_db import OrgScope
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.application.users import ensure_super_admin
from mss_identity.main import build_runtime
from mss_settings import PlatformSettings
from mss_testing.plugin import TokenFactory, eventually

pytestmark = [pytest.mark.integration, pytest.mark.keep_outbox]

PASSWORD = "a long and unusual passphrase 42"
SECRET_FIELDS = {"passwordHash", "mfaSecret", "mfaBackupCodes", "tokenHash"}
USER_FIELDS = {
    "id",
    "organizationId",
    "email",
    "firstName",
    "lastName",
    "role",
    "status",
    "mfaEnabled",
    "emailVerified",
    "lastLoginAt",
    "lastLoginIp",
    "createdAt",
    "updatedAt",
}


@dataclass
class World:
    """A provider org with a real super admin, and two customer orgs of our own."""

    provider: uuid.UUID
    org_a: uuid.UUID
    org_b: uuid.UUID
    admin_id: uuid.UUID
    admin_email: str


@pytest.fixture
async def world(platform_settings: PlatformSettings) -> World:
    runtime = build_runtime()
    hasher = PasswordHasher(memory_kib=19 * 1024, time_cost=2, parallelism=1, workers=1)
    provider, org_a, org_b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    email = f"root-{uuid.uuid4().hex[:8]}@example.com"
    result = await ensure_super_admin(
        provider_org_id=provider,
        provider_name="Provider",
        email=email,
        password=PASSWORD,
        uow_factory=runtime.uow,
        hasher=hasher,
    )
    async with runtime.uow(OrgScope.everything()) as uow:
        repo = IdentityRepository(uow)
        for org_id, name in ((org_a, "Customer A"), (org_b, "Customer B")):
            await repo.upsert_org(
                org_id=org_id, name=name, type="customer", status="active", settings={}, version=1
            )
        await uow.commit()
    hasher.close()
    await runtime.close()
    return World(provider, org_a, org_b, result.user_id, email)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _super_admin(mint_token: TokenFactory, world: World) -> dict[str, str]:
    return _bearer(
        await mint_token(role=Role.SUPER_ADMIN, org_id=world.provider, user_id=world.admin_id)
    )


async def _customer_admin(
    mint_token: TokenFactory, org_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> dict[str, str]:
    return _bearer(
        await mint_token(
            role=Role.ADMIN, org_id=org_id, org_type=OrganizationType.CUSTOMER, user_id=user_id
        )
    )


def _person(role: Role, org_id: uuid.UUID | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "email": f"u-{uuid.uuid4().hex[:8]}@Example.com",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "role": role.value,
        **extra,
    }
    if org_id is not None:
        body["organizationId"] = str(org_id)
    return body


async def _create(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post("/api/users", json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def _events(
    db: asyncpg.Connection, aggregate_id: uuid.UUID | str, event_type: str
) -> list[EventEnvelope]:
    rows = await db.fetch(
        "SELECT payload FROM identity.outbox WHERE event_type = $1 "
        "AND payload->>'aggregateId' = $2 ORDER BY created_at",
        event_type,
        str(aggregate_id),
    )
    return [EventEnvelope.model_validate_json(row["payload"]) for row in rows]


async def test_super_admin_invites_a_customer_user_with_a_hashed_seven_day_token(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    headers = await _super_admin(mint_token, world)
    body = _person(Role.REPORT_VIEWER, world.org_a)
    response = await client.post("/api/users", json=body, headers=headers)

    assert response.status_code == 201, response.text
    user = response.json()["data"]
    assert set(user) == USER_FIELDS
    assert not SECRET_FIELDS & set(user)
    assert user["organizationId"] == str(world.org_a)
    assert user["email"] == body["email"].lower()
    assert (user["role"], user["status"], user["emailVerified"]) == (
        "report_viewer",
        "invited",
        False,
    )
    row = await admin_db.fetchrow(
        "SELECT * FROM identity.users WHERE id = $1", uuid.UUID(user["id"])
    )
    assert row["password_hash"] is None
    assert row["status"] == "invited"
    assert row["created_by"] == world.admin_id
    (token_row,) = await admin_db.fetch(
        "SELECT * FROM identity.user_tokens WHERE user_id = $1", uuid.UUID(user["id"])
    )
    assert token_row["purpose"] == "invitation"
    assert token_row["org_id"] == world.org_a
    assert token_row["used_at"] is None
    lifetime = token_row["expires_at"] - token_row["created_at"]
    assert timedelta(days=7) - timedelta(seconds=5) < lifetime <= timedelta(days=7)

    (created,) = await _events(admin_db, user["id"], "user.created")
    assert created.organization_id == world.org_a
    assert created.metadata.user_id == world.admin_id
    assert created.data["status"] == "invited"
    (invited,) = await _events(admin_db, user["id"], "user.invited")
    assert invited.data["email"] == user["email"]
    assert len(invited.data["invitationToken"]) >= 40
    assert invited.data["invitationToken"] != token_row["token_hash"]
    assert token_row["token_hash"] not in invited.model_dump_json()


async def test_list_paginates_and_filters_by_org_role_status_and_query(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory
) -> None:
    headers = await _super_admin(mint_token, world)
    viewers = [
        await _create(client, headers, _person(Role.REPORT_VIEWER, world.org_a)) for _ in range(3)
    ]
    grace = await _create(
        client, headers, _person(Role.ADMIN, world.org_a, firstName="Grace", lastName="Hopper")
    )
    await _create(client, headers, _person(Role.ADMIN, world.org_b))

    first = await client.get(
        "/api/users", params={"orgId": str(world.org_a), "limit": 3}, headers=headers
    )
    assert first.status_code == 200, first.text
    assert first.json()["meta"] == {"total": 4, "page": 1, "limit": 3, "totalPages": 2}
    second = await client.get(
        "/api/users", params={"orgId": str(world.org_a), "limit": 3, "page": 2}, headers=headers
    )
    ids = [u["id"] for u in first.json()["data"] + second.json()["data"]]
    assert sorted(ids) == sorted([u["id"] for u in viewers] + [grace["id"]])
    assert all(u["organizationId"] == str(world.org_a) for u in first.json()["data"])

    by_role = await client.get(
        "/api/users", params={"orgId": str(world.org_a), "role": "admin"}, headers=headers
    )
    assert [u["id"] for u in by_role.json()["data"]] == [grace["id"]]
    by_query = await client.get(
        "/api/users", params={"orgId": str(world.org_a), "q": "hopp"}, headers=headers
    )
    assert [u["id"] for u in by_query.json()["data"]] == [grace["id"]]
    active = await client.get(
        "/api/users", params={"orgId": str(world.org_a), "status": "active"}, headers=headers
    )
    assert active.json()["data"] == []
    assert active.json()["meta"]["total"] == 0
    invited = await client.get(
        "/api/users", params={"orgId": str(world.org_a), "status": "invited"}, headers=headers
    )
    assert invited.json()["meta"]["total"] == 4

    bad = await client.get("/api/users", params={"limit": 101}, headers=headers)
    assert bad.status_code == 422
    assert bad.json()["code"] == "VALIDATION_ERROR"
    bad_role = await client.get("/api/users", params={"role": "pirate"}, headers=headers)
    assert bad_role.status_code == 422


async def test_nested_organization_routes_list_and_create_in_that_org(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory
) -> None:
    headers = await _super_admin(mint_token, world)
    body = _person(Role.REQUEST_USER)
    created = await client.post(
        f"/api/organizations/{world.org_b}/users", json=body, headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["organizationId"] == str(world.org_b)

    listed = await client.get(f"/api/organizations/{world.org_b}/users", headers=headers)
    assert listed.status_code == 200
    assert [u["id"] for u in listed.json()["data"]] == [created.json()["data"]["id"]]
    assert listed.json()["meta"]["total"] == 1

    with_org = await client.post(
        f"/api/organizations/{world.org_b}/users",
        json=_person(Role.REQUEST_USER, world.org_a),
        headers=headers,
    )
    assert with_org.status_code == 422, "the nested body has no organizationId"
    unknown = await client.get(f"/api/organizations/{uuid.uuid4()}/users", headers=headers)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "NOT_FOUND"


async def test_a_role_of_the_other_organization_type_is_refused_with_422(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    headers = await _super_admin(mint_token, world)
    provider_role_in_customer = await client.post(
        "/api/users", json=_person(Role.TECHNICIAN, world.org_a), headers=headers
    )
    customer_role_in_provider = await client.post(
        "/api/users", json=_person(Role.ADMIN, world.provider), headers=headers
    )
    for response in (provider_role_in_customer, customer_role_in_provider):
        assert response.status_code == 422
        assert response.json()["code"] == "VALIDATION_ERROR"
        assert "role" in response.json()["details"]
    count = await admin_db.fetchval(
        "SELECT count(*) FROM identity.users WHERE org_id = $1", world.org_a
    )
    assert count == 0

    viewer = await _create(client, headers, _person(Role.REPORT_VIEWER, world.org_a))
    promoted = await client.put(
        f"/api/users/{viewer['id']}", json={"role": "security_analyst"}, headers=headers
    )
    assert promoted.status_code == 422
    assert "role" in promoted.json()["details"]

    unknown_org = await client.post(
        "/api/users", json=_person(Role.ADMIN, uuid.uuid4()), headers=headers
    )
    assert unknown_org.status_code == 404


async def test_an_email_is_unique_per_organization_but_may_repeat_across_them(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory
) -> None:
    headers = await _super_admin(mint_token, world)
    body = _person(Role.BASIC_USER, world.org_a)
    await _create(client, headers, body)
    again = await client.post(
        "/api/users", json={**body, "email": body["email"].upper()}, headers=headers
    )
    assert again.status_code == 409
    assert again.json()["code"] == "CONFLICT"
    elsewhere = await client.post(
        "/api/users", json={**body, "organizationId": str(world.org_b)}, headers=headers
    )
    assert elsewhere.status_code == 201


async def test_a_customer_admin_never_reaches_another_organization(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory
) -> None:
    root = await _super_admin(mint_token, world)
    mine = await _create(client, root, _person(Role.REPORT_VIEWER, world.org_a))
    theirs = await _create(client, root, _person(Role.REPORT_VIEWER, world.org_b))
    admin_a = await _customer_admin(mint_token, world.org_a)

    into_b = await client.post(
        "/api/users", json=_person(Role.BASIC_USER, world.org_b), headers=admin_a
    )
    assert into_b.status_code == 404
    assert into_b.json()["code"] == "NOT_FOUND"
    nested_into_b = await client.post(
        f"/api/organizations/{world.org_b}/users", json=_person(Role.BASIC_USER), headers=admin_a
    )
    assert nested_into_b.status_code == 404
    assert (
        await client.get(f"/api/organizations/{world.org_b}/users", headers=admin_a)
    ).status_code == 404
    attempts: list[tuple[str, str, dict[str, str] | None]] = [
        ("GET", f"/api/users/{theirs['id']}", None),
        ("PUT", f"/api/users/{theirs['id']}", {"firstName": "Mallory"}),
        ("DELETE", f"/api/users/{theirs['id']}", None),
        ("POST", f"/api/users/{theirs['id']}/reset-password", None),
        ("POST", f"/api/users/{theirs['id']}/revoke-sessions", None),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, headers=admin_a, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["code"] == "NOT_FOUND"

    unfiltered = await client.get("/api/users", params={"limit": 100}, headers=admin_a)
    assert unfiltered.status_code == 200
    assert {u["organizationId"] for u in unfiltered.json()["data"]} == {str(world.org_a)}
    assert [u["id"] for u in unfiltered.json()["data"]] == [mine["id"]]
    for other in (world.org_b, world.provider):
        filtered = await client.get("/api/users", params={"orgId": str(other)}, headers=admin_a)
        assert filtered.status_code == 200
        assert filtered.json()["data"] == []
        assert filtered.json()["meta"]["total"] == 0

    created = await _create(client, admin_a, _person(Role.REQUEST_USER))
    assert created["organizationId"] == str(world.org_a), "defaults to the caller's org"


async def test_an_account_manager_cannot_create_or_promote_a_super_admin(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    manager = _bearer(await mint_token(role=Role.ACCOUNT_MANAGER, org_id=world.provider))
    body = _person(Role.SUPER_ADMIN, world.provider)
    refused = await client.post("/api/users", json=body, headers=manager)
    assert refused.status_code == 403
    assert refused.json()["code"] == "FORBIDDEN"
    assert (
        await admin_db.fetchval(
            "SELECT count(*) FROM identity.users WHERE email = $1", body["email"].lower()
        )
        == 0
    )

    colleague = await _create(client, manager, _person(Role.ACCOUNT_MANAGER, world.provider))
    promoted = await client.put(
        f"/api/users/{colleague['id']}", json={"role": "super_admin"}, headers=manager
    )
    assert promoted.status_code == 403
    root = await client.get(f"/api/users/{world.admin_id}", headers=manager)
    assert root.status_code == 200
    demote_root = await client.put(
        f"/api/users/{world.admin_id}", json={"status": "inactive"}, headers=manager
    )
    assert demote_root.status_code == 403


async def test_update_changes_names_role_and_status_and_emits_user_updated(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    headers = await _super_admin(mint_token, world)
    user = await _create(client, headers, _person(Role.REPORT_VIEWER, world.org_a))
    response = await client.put(
        f"/api/users/{user['id']}",
        json={"firstName": "  Grace ", "lastName": "Hopper", "role": "admin"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["firstName"], data["lastName"], data["role"]) == ("Grace", "Hopper", "admin")
    assert data["status"] == "invited"
    (updated,) = await _events(admin_db, user["id"], "user.updated")
    assert updated.data["changed"] == ["firstName", "lastName", "role"]
    assert updated.metadata.version == 2

    inactive = await client.put(
        f"/api/users/{user['id']}", json={"status": "inactive"}, headers=headers
    )
    assert inactive.json()["data"]["status"] == "inactive"
    assert (
        await admin_db.fetchval(
            "SELECT count(*) FROM identity.user_tokens WHERE user_id = $1 AND used_at IS NULL",
            uuid.UUID(user["id"]),
        )
        == 0
    ), "deactivation kills the outstanding invitation"
    back = await client.put(f"/api/users/{user['id']}", json={"status": "active"}, headers=headers)
    assert back.json()["data"]["status"] == "invited", "no password yet: still only invited"
    straight = await client.put(
        f"/api/users/{user['id']}", json={"status": "active"}, headers=headers
    )
    assert straight.status_code == 409
    assert straight.json()["code"] == "INVALID_STATE_TRANSITION"

    for bad in ({"email": "not-an-address"}, {"status": "invited"}, {"firstName": "  "}):
        refused = await client.put(f"/api/users/{user['id']}", json=bad, headers=headers)
        assert refused.status_code == 422, bad
    fetched = await client.get(f"/api/users/{user['id']}", headers=headers)
    assert fetched.json()["data"]["firstName"] == "Grace"


async def test_nobody_deletes_deactivates_or_demotes_themself(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    headers = await _super_admin(mint_token, world)
    path = f"/api/users/{world.admin_id}"
    attempts: list[tuple[str, dict[str, str] | None]] = [
        ("DELETE", None),
        ("PUT", {"role": "account_manager"}),
        ("PUT", {"status": "inactive"}),
    ]
    for method, body in attempts:
        response = await client.request(method, path, headers=headers, json=body)
        assert response.status_code == 409, (method, body)
        assert response.json()["code"] == "CONFLICT"
    row = await admin_db.fetchrow(
        "SELECT role, status FROM identity.users WHERE id = $1", world.admin_id
    )
    assert (row["role"], row["status"]) == ("super_admin", "active")
    renamed = await client.put(path, json={"firstName": "Root"}, headers=headers)
    assert renamed.status_code == 200


async def test_users_routes_need_their_permission_and_valid_ids(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory
) -> None:
    viewer = _bearer(
        await mint_token(
            role=Role.REPORT_VIEWER, org_id=world.org_a, org_type=OrganizationType.CUSTOMER
        )
    )
    assert (await client.get("/api/users", headers=viewer)).status_code == 403
    created = await client.post("/api/users", json=_person(Role.BASIC_USER), headers=viewer)
    assert created.status_code == 403
    assert created.json()["code"] == "FORBIDDEN"
    manager = _bearer(await mint_token(role=Role.ACCOUNT_MANAGER, org_id=world.provider))
    deleted = await client.delete(f"/api/users/{world.admin_id}", headers=manager)
    assert deleted.status_code == 403, "account managers lack users:delete"
    assert (await client.get("/api/users")).status_code == 401

    root = await _super_admin(mint_token, world)
    malformed = await client.get("/api/users/not-a-uuid", headers=root)
    assert malformed.status_code == 422
    unknown = await client.get(f"/api/users/{uuid.uuid4()}", headers=root)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "NOT_FOUND"


async def test_revoke_sessions_and_admin_reset_answer_for_a_user_in_scope(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    headers = await _super_admin(mint_token, world)
    user = await _create(client, headers, _person(Role.REPORT_VIEWER, world.org_a))
    revoked = await client.post(f"/api/users/{user['id']}/revoke-sessions", headers=headers)
    assert revoked.status_code == 200
    assert revoked.json()["data"] == {"revoked": 0}

    reset = await client.post(f"/api/users/{user['id']}/reset-password", headers=headers)
    assert reset.status_code == 202
    assert reset.json()["data"] is None
    (requested,) = await _events(admin_db, user["id"], "auth.password.reset_requested")
    assert requested.data["email"] == user["email"]
    expires = datetime.fromisoformat(requested.data["expiresAt"])
    assert timedelta(minutes=29) < expires - datetime.now(UTC) <= timedelta(minutes=30)
    purposes = await admin_db.fetch(
        "SELECT purpose FROM identity.user_tokens WHERE user_id = $1 AND used_at IS NULL",
        uuid.UUID(user["id"]),
    )
    assert sorted(r["purpose"] for r in purposes) == ["invitation", "password_reset"]

    assert (await client.delete(f"/api/users/{user['id']}", headers=headers)).status_code == 204
    again = await client.post(f"/api/users/{user['id']}/reset-password", headers=headers)
    assert again.status_code == 409


async def test_provider_reads_of_customer_users_are_journaled_for_each_customer(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    """Access transparency: a customer_data.accessed per customer org a provider read showed,
    at the next flush (the journal's leading edge; later reads fold into its window)."""
    admin = await _super_admin(mint_token, world)
    await _create(client, admin, _person(Role.BASIC_USER, world.org_a))
    person = await _create(client, admin, _person(Role.BASIC_USER, world.org_b))

    listed = await client.get("/api/users", params={"orgId": str(world.org_a)}, headers=admin)
    assert listed.status_code == 200
    one = await client.get(f"/api/users/{person['id']}", headers=admin)
    assert one.status_code == 200
    # The customer's own admin reading its users is not provider access.
    own = await client.get("/api/users", headers=await _customer_admin(mint_token, world.org_a))
    assert own.status_code == 200

    async def journaled() -> list[EventEnvelope]:  # the journal flushes every 250 ms
        rows = await admin_db.fetch(
            "SELECT payload FROM identity.outbox WHERE event_type = 'customer_data.accessed' "
            "AND payload->>'organizationId' = ANY($1::text[])",
            [str(world.org_a), str(world.org_b)],
        )
        found = [EventEnvelope.model_validate_json(r["payload"]) for r in rows]
        assert len(found) == 2, found
        return found

    events = await eventually(journaled, timeout_s=5)
    by_org = {e.organization_id: e for e in events}
    listing, single = by_org[world.org_a], by_org[world.org_b]
    assert listing.data["path"] == "/api/users"
    assert listing.aggregate_type == "user"
    assert listing.aggregate_id == world.org_a
    assert listing.data["resourceCount"] >= 1
    assert single.data["path"] == f"/api/users/{person['id']}"
    assert single.aggregate_id == uuid.UUID(person["id"])
    for event in events:
        assert event.data["accessCount"] == 1
        assert event.metadata.user_id == world.admin_id
        assert event.metadata.ip_address == "127.0.0.1"
        assert event.data["actorRole"] == "super_admin"


async def test_a_user_cannot_be_moved_to_another_organization(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    """Field-level (ASVS V8.2.3): the organization of a user is not a writable field."""
    admin = await _super_admin(mint_token, world)
    person = await _create(client, admin, _person(Role.BASIC_USER, world.org_a))
    moved = await client.put(
        f"/api/users/{person['id']}", json={"organizationId": str(world.org_b)}, headers=admin
    )
    assert moved.status_code == 422, moved.text
    assert "organizationId" in moved.json()["details"]
    assert (
        await admin_db.fetchval(
            "SELECT org_id FROM identity.users WHERE id = $1", uuid.UUID(person["id"])
        )
        == world.org_a
    )
