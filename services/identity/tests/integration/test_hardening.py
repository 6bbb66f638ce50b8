"""Issue 11 against the real identity app: role changes end sessions, logins name only the
organizations whose password verified, unknown emails lock out, per-account and
per-address throttles, who may unlock whom, API keys audited and scoped, self-service.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from mss_auth.sessions import session_key
from mss_bus.consumer import apply_once
from mss_contracts.events import EventContext, EventEnvelope, OrganizationSuspended, new_event
from mss_contracts.permissions import OrganizationType, Role
from mss_db import OrgScope
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.api.runtime import IdentityRuntime
from mss_identity.consumers.on_organization_event import on_organization_event
from mss_identity.domain.users import User, UserStatus
from mss_service import ServiceRuntime
from mss_testing.plugin import TokenFactory

pytestmark = [pytest.mark.integration, pytest.mark.keep_outbox]

PASSWORD = "a long and unusual passphrase 42"
OTHER_PASSWORD = "another unusual passphrase for 7 seas"
WRONG = "certainly not the right passphrase"

NewOrg = Callable[[], Awaitable[uuid.UUID]]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _user(
    runtime: ServiceRuntime,
    org_id: uuid.UUID,
    *,
    email: str | None = None,
    role: Role = Role.BASIC_USER,
    password: str = PASSWORD,
) -> User:
    """An active user with a password, as accepting an invitation leaves it."""
    assert isinstance(runtime, IdentityRuntime)
    now = datetime.now(UTC)
    user = User(
        id=uuid.uuid4(),
        org_id=org_id,
        email=email or f"user-{uuid.uuid4().hex[:10]}@example.com",
        password_hash=await runtime.hasher.hash(password),
        first_name="Test",
        last_name="User",
        role=role,
        status=UserStatus.ACTIVE,
        mfa_enabled=False,
        email_verified=True,
        last_login_at=None,
        last_login_ip=None,
        failed_login_attempts=0,
        locked_until=None,
        version=1,
        created_at=now,
        updated_at=now,
    )
    async with runtime.uow(OrgScope.everything()) as uow:
        await IdentityRepository(uow).add_user(user, created_by=None)
        await uow.commit()
    return user


async def _login(
    client: httpx.AsyncClient, email: str, password: str, **extra: Any
) -> httpx.Response:
    return await client.post(
        "/api/auth/login", json={"email": email, "password": password, **extra}
    )


async def _events(
    db: asyncpg.Connection, aggregate_id: uuid.UUID, kind: str
) -> list[EventEnvelope]:
    rows = await db.fetch(
        "SELECT payload FROM identity.outbox WHERE event_type = $1 "
        "AND payload->>'aggregateId' = $2 ORDER BY created_at",
        kind,
        str(aggregate_id),
    )
    return [EventEnvelope.model_validate_json(row["payload"]) for row in rows]


def _without_timestamp(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    body.pop("timestamp")
    return body


# --- 1. role and status changes end the user's sessions --------------------------------------


async def test_a_role_change_ends_every_session_of_the_user_at_once(
    client: httpx.AsyncClient,
    identity_runtime: ServiceRuntime,
    new_customer_org: NewOrg,
    mint_token: TokenFactory,
    redis: Redis,
    admin_db: asyncpg.Connection,
) -> None:
    org = await new_customer_org()
    victim = await _user(identity_runtime, org, role=Role.ADMIN)
    login = await _login(client, victim.email, PASSWORD)
    token = login.json()["data"]["accessToken"]
    assert (await client.get("/api/auth/me", headers=_bearer(token))).status_code == 200
    admin = _bearer(await mint_token(role=Role.SUPER_ADMIN))

    changed = await client.put(
        f"/api/users/{victim.id}", json={"role": "basic_user"}, headers=admin
    )

    assert changed.status_code == 200, changed.text
    me = await client.get("/api/auth/me", headers=_bearer(token))
    assert me.status_code == 401
    assert me.json()["code"] == "SESSION_REVOKED"
    rows = await admin_db.fetch(
        "SELECT id, status, revoked_reason FROM identity.user_sessions WHERE user_id = $1",
        victim.id,
    )
    assert [(r["status"], r["revoked_reason"]) for r in rows] == [("revoked", "role_changed")]
    assert not await redis.exists(session_key(rows[0]["id"]))
    (revoked,) = await _events(admin_db, victim.id, "auth.session.revoked")
    assert revoked.data == {"sessionId": str(rows[0]["id"]), "reason": "role_changed"}
    # A change of names only ends nothing.
    fresh = (await _login(client, victim.email, PASSWORD)).json()["data"]["accessToken"]
    renamed = await client.put(f"/api/users/{victim.id}", json={"firstName": "Ann"}, headers=admin)
    assert renamed.status_code == 200
    assert (await client.get("/api/auth/me", headers=_bearer(fresh))).status_code == 200


# --- 2. organizations named only where the password verified ----------------------------------


async def test_a_login_offers_only_the_active_memberships_whose_password_verified(
    client: httpx.AsyncClient, identity_runtime: ServiceRuntime, new_customer_org: NewOrg
) -> None:
    email = f"multi-{uuid.uuid4().hex[:8]}@example.com"
    first, second, third, former = [await new_customer_org() for _ in range(4)]
    await _user(identity_runtime, first, email=email)
    await _user(identity_runtime, second, email=email)
    await _user(identity_runtime, third, email=email, password=OTHER_PASSWORD)
    gone = await _user(identity_runtime, former, email=email)
    async with identity_runtime.uow(OrgScope.everything()) as uow:
        await IdentityRepository(uow).change_user(gone.id, datetime.now(UTC), status="inactive")
        await uow.commit()

    wrong = await _login(client, email, WRONG)
    unknown = await _login(client, f"nobody-{uuid.uuid4().hex}@example.com", WRONG)
    offered = await _login(client, email, PASSWORD)
    alone = await _login(client, email, OTHER_PASSWORD)

    assert wrong.status_code == 401
    assert _without_timestamp(wrong) == _without_timestamp(unknown)
    assert offered.status_code == 409, offered.text
    choices = {o["organizationId"] for o in offered.json()["details"]["organizations"]}
    assert choices == {str(first), str(second)}
    assert alone.status_code == 409
    assert [o["organizationId"] for o in alone.json()["details"]["organizations"]] == [str(third)]
    chosen = await _login(client, email, PASSWORD, organizationId=str(second))
    assert chosen.status_code == 200, chosen.text


# --- 7. an unknown email locks out like a known one ----------------------------------------


async def test_an_unknown_email_locks_out_with_the_same_answers_as_a_known_one(
    client: httpx.AsyncClient, identity_runtime: ServiceRuntime, new_customer_org: NewOrg
) -> None:
    known = await _user(identity_runtime, await new_customer_org())
    unknown = f"nobody-{uuid.uuid4().hex}@example.com"
    for _ in range(5):
        answers = [await _login(client, address, WRONG) for address in (known.email, unknown)]
        assert [a.status_code for a in answers] == [401, 401]
        assert _without_timestamp(answers[0]) == _without_timestamp(answers[1])

    locked = [await _login(client, address, WRONG) for address in (known.email, unknown)]

    assert [a.status_code for a in locked] == [423, 423]
    bodies = [_without_timestamp(a) for a in locked]
    until = [datetime.fromisoformat(b["details"].pop("lockedUntil")) for b in bodies]
    assert bodies[0] == bodies[1]
    assert abs((until[0] - until[1]).total_seconds()) < 5
    assert 55 < (until[1] - datetime.now(UTC)).total_seconds() <= 60


# --- 10. the per-address budget of failed logins ------------------------------------------------


async def test_failed_logins_from_one_address_spend_its_budget_then_429(
    client: httpx.AsyncClient,
    identity_runtime: ServiceRuntime,
    new_customer_org: NewOrg,
    redis: Redis,
) -> None:
    assert isinstance(identity_runtime, IdentityRuntime)
    user = await _user(identity_runtime, await new_customer_org())
    budget = identity_runtime.login_guards.failures_per_address
    # The ASGI client calls from 127.0.0.1; a spray from there has used up almost all of it.
    await redis.set(budget.key("127.0.0.1"), budget.budget.limit - 1, ex=120)
    try:
        last = await _login(client, f"spray-{uuid.uuid4().hex}@example.com", WRONG)
        refused = await _login(client, user.email, PASSWORD)
    finally:
        await redis.delete(budget.key("127.0.0.1"))

    assert last.status_code == 401
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 120
    assert (await _login(client, user.email, PASSWORD)).status_code == 200


# --- 9. per-account throttles ------------------------------------------------------------------


async def test_forgotten_password_mails_an_account_three_times_per_window(
    client: httpx.AsyncClient,
    identity_runtime: ServiceRuntime,
    new_customer_org: NewOrg,
    admin_db: asyncpg.Connection,
) -> None:
    user = await _user(identity_runtime, await new_customer_org())
    unknown = await client.post("/api/auth/password/forgot", json={"email": "nobody@example.com"})
    answers = [
        await client.post("/api/auth/password/forgot", json={"email": user.email}) for _ in range(5)
    ]

    assert {a.status_code for a in answers} == {202}
    assert all(a.json() == unknown.json() for a in answers)
    assert len(await _events(admin_db, user.id, "auth.password.reset_requested")) == 3


async def test_wrong_current_passwords_are_throttled_at_password_change(
    client: httpx.AsyncClient, identity_runtime: ServiceRuntime, new_customer_org: NewOrg
) -> None:
    user = await _user(identity_runtime, await new_customer_org())
    headers = _bearer((await _login(client, user.email, PASSWORD)).json()["data"]["accessToken"])
    change = "/api/auth/password/change"
    for _ in range(5):
        body = {"currentPassword": WRONG, "newPassword": OTHER_PASSWORD}
        assert (await client.post(change, json=body, headers=headers)).status_code == 401

    right = {"currentPassword": PASSWORD, "newPassword": OTHER_PASSWORD}
    throttled = await client.post(change, json=right, headers=headers)

    assert throttled.status_code == 429, throttled.text
    assert throttled.json()["code"] == "RATE_LIMITED"
    assert int(throttled.headers["retry-after"]) >= 1
    assert (await _login(client, user.email, PASSWORD)).status_code == 200


# --- 6. unlocking follows who may manage whom ----------------------------------------------------


async def test_an_account_manager_cannot_unlock_a_super_admin(
    client: httpx.AsyncClient,
    identity_runtime: ServiceRuntime,
    mint_token: TokenFactory,
    admin_db: asyncpg.Connection,
) -> None:
    provider = uuid.uuid4()
    async with identity_runtime.uow(OrgScope.everything()) as uow:
        await IdentityRepository(uow).upsert_org(
            org_id=provider, name="P", type="mss_provider", status="active", settings={}, version=1
        )
        await uow.commit()
    target = await _user(identity_runtime, provider, role=Role.SUPER_ADMIN)
    await admin_db.execute(
        "UPDATE identity.users SET failed_login_attempts = 5, "
        "locked_until = now() + interval '1 minute' WHERE id = $1",
        target.id,
    )
    manager = await mint_token(role=Role.ACCOUNT_MANAGER, org_id=provider)

    refused = await client.post(f"/api/users/{target.id}/unlock", headers=_bearer(manager))

    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "FORBIDDEN"
    row = await admin_db.fetchrow(
        "SELECT failed_login_attempts, locked_until FROM identity.users WHERE id = $1", target.id
    )
    assert row["failed_login_attempts"] == 5
    assert row["locked_until"] is not None
    assert await _events(admin_db, target.id, "auth.account.unlocked") == []


# --- 5, 8, 12. API keys: audited, tokens end at logout and suspension, not a user ----------------


async def test_a_keys_life_is_in_the_outbox_without_its_secret(
    client: httpx.AsyncClient,
    new_customer_org: NewOrg,
    mint_token: TokenFactory,
    admin_db: asyncpg.Connection,
) -> None:
    org = await new_customer_org()
    admin = _bearer(await mint_token(role=Role.SUPER_ADMIN))
    body = {"organizationId": str(org), "name": "SIEM", "permissions": ["users:read"]}
    created = (await client.post("/api/api-keys", json=body, headers=admin)).json()["data"]
    key_id = uuid.UUID(created["id"])
    for _ in range(3):
        exchanged = await client.post("/api/auth/token", json={"apiKey": created["key"]})
        assert exchanged.status_code == 200
    assert (await client.delete(f"/api/api-keys/{key_id}", headers=admin)).status_code == 204
    assert (await client.delete(f"/api/api-keys/{key_id}", headers=admin)).status_code == 204

    made = await _events(admin_db, key_id, "api_key.created")
    used = await _events(admin_db, key_id, "api_key.used")
    revoked = await _events(admin_db, key_id, "api_key.revoked")

    assert [len(made), len(used), len(revoked)] == [1, 1, 1]
    assert made[0].data["permissions"] == ["users:read"]
    assert made[0].data["prefix"] == created["prefix"]
    assert {e.organization_id for e in (*made, *used, *revoked)} == {org}
    assert {e.aggregate_type for e in (*made, *used, *revoked)} == {"api_key"}
    stored = await admin_db.fetch(
        "SELECT payload::text AS payload FROM identity.outbox WHERE payload->>'aggregateId' = $1",
        str(key_id),
    )
    key_hash = await admin_db.fetchval(
        "SELECT key_hash FROM identity.api_keys WHERE id = $1", key_id
    )
    for row in stored:
        assert created["key"] not in row["payload"]
        assert key_hash not in row["payload"]


async def test_a_keys_token_ends_at_its_logout_is_no_user_and_ends_with_its_organization(
    client: httpx.AsyncClient,
    identity_runtime: ServiceRuntime,
    new_customer_org: NewOrg,
    mint_token: TokenFactory,
) -> None:
    org = await new_customer_org()
    admin = _bearer(await mint_token(role=Role.SUPER_ADMIN))
    body = {"organizationId": str(org), "name": "SIEM", "permissions": ["users:read"]}
    key = (await client.post("/api/api-keys", json=body, headers=admin)).json()["data"]["key"]

    async def token() -> dict[str, str]:
        exchanged = await client.post("/api/auth/token", json={"apiKey": key})
        return _bearer(exchanged.json()["data"]["accessToken"])

    first, second = await token(), await token()
    me = await client.get("/api/auth/me", headers=first)
    assert me.status_code == 403
    assert "API key" in me.json()["error"]
    assert (await client.post("/api/auth/logout", headers=first)).status_code == 204
    assert (await client.get("/api/users", headers=first)).status_code == 401
    assert (await client.get("/api/users", headers=second)).status_code == 200

    suspended = new_event(
        OrganizationSuspended(name="Customer", type=OrganizationType.CUSTOMER, status="suspended"),
        aggregate_id=org,
        organization_id=org,
        version=2,
        context=EventContext(),
    )
    assert await apply_once(
        identity_runtime.uow, suspended, on_organization_event(identity_runtime.sessions)
    )
    refused = await client.get("/api/users", headers=second)
    assert refused.status_code == 401
    assert refused.json()["code"] == "SESSION_REVOKED"


async def test_a_customer_organizations_key_holds_no_provider_only_permission(
    client: httpx.AsyncClient, new_customer_org: NewOrg, mint_token: TokenFactory
) -> None:
    org = await new_customer_org()
    admin = _bearer(await mint_token(role=Role.SUPER_ADMIN))
    body = {"organizationId": str(org), "permissions": ["users:read", "organizations:update"]}

    refused = await client.post("/api/api-keys", json=body, headers=admin)

    assert refused.status_code == 422, refused.text
    assert "organizations:update" in refused.json()["details"]["permissions"]


# --- 12. every user edits its own names, nothing else ---------------------------------------------


async def test_a_basic_user_edits_its_own_names_only(
    client: httpx.AsyncClient, identity_runtime: ServiceRuntime, new_customer_org: NewOrg
) -> None:
    org = await new_customer_org()
    user = await _user(identity_runtime, org)
    colleague = await _user(identity_runtime, org)
    headers = _bearer((await _login(client, user.email, PASSWORD)).json()["data"]["accessToken"])

    renamed = await client.put(
        f"/api/users/{user.id}", json={"firstName": "Grace", "lastName": "Hopper"}, headers=headers
    )

    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["data"]["firstName"], renamed.json()["data"]["lastName"]) == (
        "Grace",
        "Hopper",
    )
    for body in ({"role": "admin"}, {"status": "inactive"}, {"email": "x@example.com"}):
        refused = await client.put(f"/api/users/{user.id}", json=body, headers=headers)
        assert refused.status_code == 403, (body, refused.text)
    other = await client.put(f"/api/users/{colleague.id}", json={"firstName": "X"}, headers=headers)
    assert other.status_code == 403
    assert other.json()["error"] == "Missing permission users:update"
    # Renaming oneself is no role change: the session goes on.
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 200
