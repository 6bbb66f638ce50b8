"""Lockout, refresh rotation with reuse detection, logout, own sessions, org suspension."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import asyncpg
import httpx
import pytest

from mss_bus.consumer import apply_once
from mss_contracts.events import (
    EventContext,
    OrganizationReactivated,
    OrganizationSuspended,
    new_event,
)
from mss_contracts.permissions import OrganizationType, Role
from mss_identity.consumers.on_organization_event import on_organization_event
from mss_service import ServiceRuntime
from mss_testing.plugin import Account, AccountFactory, TokenFactory

pytestmark = pytest.mark.integration

PASSWORD = "a long and unusual passphrase 42"


@pytest.fixture
async def account(new_account: AccountFactory) -> Account:
    return await new_account(PASSWORD)


async def _login(
    client: httpx.AsyncClient, account: Account, password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": account.email, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_five_failures_lock_the_account_until_an_admin_unlocks_it(
    client: httpx.AsyncClient, account: Account, mint_token: TokenFactory
) -> None:
    for _ in range(5):
        failed = await _login(client, account, "wrong password entirely")
        assert failed.status_code == 401
        assert failed.json()["code"] == "INVALID_CREDENTIALS"
    locked = await _login(client, account)  # even the right password is refused while locked
    assert locked.status_code == 423
    assert locked.json()["code"] == "ACCOUNT_LOCKED"
    assert "lockedUntil" in locked.json()["details"]

    admin = await mint_token(role=Role.SUPER_ADMIN)
    unlocked = await client.post(f"/api/users/{account.user_id}/unlock", headers=_bearer(admin))
    assert unlocked.status_code == 200, unlocked.text
    assert (await _login(client, account)).status_code == 200


async def test_customer_admin_cannot_unlock_a_user_of_another_org(
    client: httpx.AsyncClient, account: Account, mint_token: TokenFactory
) -> None:
    other_admin = await mint_token(role=Role.ADMIN, org_type=OrganizationType.CUSTOMER)
    response = await client.post(
        f"/api/users/{account.user_id}/unlock", headers=_bearer(other_admin)
    )
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


async def test_refresh_rotates_and_reuse_revokes_the_whole_session(
    client: httpx.AsyncClient, account: Account
) -> None:
    first = (await _login(client, account)).json()["data"]
    second = await client.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert second.status_code == 200
    pair = second.json()["data"]
    assert pair["refreshToken"] != first["refreshToken"]
    assert (
        await client.get("/api/auth/me", headers=_bearer(pair["accessToken"]))
    ).status_code == 200

    reused = await client.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert reused.status_code == 401
    assert reused.json()["code"] == "SESSION_REVOKED"
    # The thief's reuse kills the newest tokens of the session too.
    me = await client.get("/api/auth/me", headers=_bearer(pair["accessToken"]))
    assert me.status_code == 401
    assert me.json()["code"] == "SESSION_REVOKED"
    newest = await client.post("/api/auth/refresh", json={"refreshToken": pair["refreshToken"]})
    assert newest.status_code == 401


async def test_unknown_refresh_token_is_invalid(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/refresh", json={"refreshToken": "x" * 43})
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_TOKEN"


async def test_logout_ends_the_session_at_once(client: httpx.AsyncClient, account: Account) -> None:
    tokens = (await _login(client, account)).json()["data"]
    headers = _bearer(tokens["accessToken"])
    assert (await client.post("/api/auth/logout", headers=headers)).status_code == 204
    after = await client.get("/api/auth/me", headers=headers)
    assert after.status_code == 401
    assert after.json()["code"] == "SESSION_REVOKED"
    refreshed = await client.post(
        "/api/auth/refresh", json={"refreshToken": tokens["refreshToken"]}
    )
    assert refreshed.status_code == 401


async def test_a_user_lists_and_ends_their_own_sessions_only(
    client: httpx.AsyncClient, account: Account
) -> None:
    one = (await _login(client, account)).json()["data"]["accessToken"]
    two = (await _login(client, account)).json()["data"]["accessToken"]
    listed = (await client.get("/api/auth/sessions", headers=_bearer(one))).json()["data"]
    assert len(listed) >= 2
    current = [s for s in listed if s["current"]]
    others = [s for s in listed if not s["current"]]
    assert len(current) == 1
    assert "refreshTokenHash" not in current[0]
    for session in others:
        ended = await client.delete(f"/api/auth/sessions/{session['id']}", headers=_bearer(one))
        assert ended.status_code == 204
    assert (await client.get("/api/auth/me", headers=_bearer(two))).status_code == 401
    assert (await client.get("/api/auth/me", headers=_bearer(one))).status_code == 200
    missing = await client.delete(f"/api/auth/sessions/{uuid.uuid4()}", headers=_bearer(one))
    assert missing.status_code == 404


async def test_suspending_the_organization_ends_its_sessions_and_blocks_login(
    client: httpx.AsyncClient, account: Account, identity_runtime: ServiceRuntime
) -> None:
    token = (await _login(client, account)).json()["data"]["accessToken"]
    effect = on_organization_event(identity_runtime.sessions)
    suspended = new_event(
        OrganizationSuspended(
            name="Provider", type=OrganizationType.MSS_PROVIDER, status="suspended"
        ),
        aggregate_id=account.org_id,
        organization_id=account.org_id,
        version=5,
        context=EventContext(),
    )
    assert await apply_once(identity_runtime.uow, suspended, effect)
    me = await client.get("/api/auth/me", headers=_bearer(token))
    assert me.status_code == 401
    assert me.json()["code"] == "SESSION_REVOKED"
    blocked = await _login(client, account)
    assert blocked.status_code == 403

    reactivated = new_event(
        OrganizationReactivated(
            name="Provider", type=OrganizationType.MSS_PROVIDER, status="active"
        ),
        aggregate_id=account.org_id,
        organization_id=account.org_id,
        version=6,
        context=EventContext(),
    )
    assert await apply_once(identity_runtime.uow, reactivated, effect)
    assert (await _login(client, account)).status_code == 200
    # An older event arriving late changes nothing: projections keep the newest version.
    assert await apply_once(identity_runtime.uow, suspended, effect) is False
    stale = new_event(
        OrganizationSuspended(
            name="Provider", type=OrganizationType.MSS_PROVIDER, status="suspended"
        ),
        aggregate_id=account.org_id,
        organization_id=account.org_id,
        version=4,
        context=EventContext(),
    )
    survivor = (await _login(client, account)).json()["data"]["accessToken"]
    await apply_once(identity_runtime.uow, stale, effect)
    assert (await client.get("/api/auth/me", headers=_bearer(survivor))).status_code == 200
    assert (await _login(client, account)).status_code == 200


async def _idle_for(db: asyncpg.Connection, refresh_token: str, minutes: int) -> None:
    """Pretend the session was last used `minutes` ago."""
    await db.execute(
        "UPDATE identity.user_sessions SET last_used_at = now() - make_interval(mins => $2) "
        "WHERE id = (SELECT session_id FROM identity.refresh_tokens WHERE token_hash = $1)",
        hashlib.sha256(refresh_token.encode()).hexdigest(),
        minutes,
    )


async def test_sessions_expire_after_30_idle_minutes_or_the_orgs_shorter_limits(
    client: httpx.AsyncClient, new_account: AccountFactory, admin_db: asyncpg.Connection
) -> None:
    default, strict = await new_account(PASSWORD), await new_account(PASSWORD)
    await admin_db.execute(
        "UPDATE identity.org_directory SET settings = $2::jsonb WHERE id = $1",
        strict.org_id,
        '{"sessionIdleMinutes": 5, "sessionAbsoluteHours": 1}',
    )
    pairs = {}
    for account in (default, strict):
        login = await _login(client, account)
        assert login.status_code == 200, login.text
        pairs[account.org_id] = login.json()["data"]["refreshToken"]

    lifetime = await admin_db.fetchval(
        "SELECT expires_at - created_at FROM identity.user_sessions WHERE user_id = $1",
        strict.user_id,
    )
    assert abs(lifetime - timedelta(hours=1)) < timedelta(seconds=5)

    for account in (default, strict):
        await _idle_for(admin_db, pairs[account.org_id], minutes=6)
    fine = await client.post("/api/auth/refresh", json={"refreshToken": pairs[default.org_id]})
    assert fine.status_code == 200, fine.text
    idle = await client.post("/api/auth/refresh", json={"refreshToken": pairs[strict.org_id]})
    assert idle.status_code == 401

    await _idle_for(admin_db, fine.json()["data"]["refreshToken"], minutes=31)
    stale = await client.post(
        "/api/auth/refresh", json={"refreshToken": fine.json()["data"]["refreshToken"]}
    )
    assert stale.status_code == 401


async def test_a_session_lives_12_hours_at_most_however_active(
    client: httpx.AsyncClient, account: Account, admin_db: asyncpg.Connection
) -> None:
    login = await _login(client, account)
    refresh_token = login.json()["data"]["refreshToken"]
    lifetime = await admin_db.fetchval(
        "SELECT expires_at - created_at FROM identity.user_sessions WHERE user_id = $1",
        account.user_id,
    )
    assert abs(lifetime - timedelta(hours=12)) < timedelta(seconds=5)

    # Used a moment ago, but past its absolute end: refused.
    await admin_db.execute(
        "UPDATE identity.user_sessions SET expires_at = now() - interval '1 second', "
        "last_used_at = now() WHERE user_id = $1",
        account.user_id,
    )
    refused = await client.post("/api/auth/refresh", json={"refreshToken": refresh_token})
    assert refused.status_code == 401
