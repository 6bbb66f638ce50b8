"""Identity's refusals before sign-in are `access.denied` events in its outbox (issue 11,
point 4): of the account and its organization when the account is known, of the digest
of the e-mail when it is not, of no one for an unknown token; never the secret tried.

Each test sends its own User-Agent, which the event's metadata carries: it finds its own
events among those of other tests sharing the database.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest

from mss_contracts.events import EventEnvelope
from mss_contracts.permissions import Role
from mss_db import OrgScope
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.api.runtime import IdentityRuntime
from mss_identity.domain.users import User, UserStatus
from mss_service import ServiceRuntime
from mss_testing.plugin import eventually

pytestmark = [pytest.mark.integration, pytest.mark.keep_outbox]

PASSWORD = "a long and unusual passphrase 42"
WRONG = "certainly not the right passphrase"


async def _user(runtime: ServiceRuntime, org_id: uuid.UUID) -> User:
    assert isinstance(runtime, IdentityRuntime)
    now = datetime.now(UTC)
    user = User(
        id=uuid.uuid4(),
        org_id=org_id,
        email=f"denied-{uuid.uuid4().hex[:10]}@example.com",
        password_hash=await runtime.hasher.hash(PASSWORD),
        first_name="Test",
        last_name="User",
        role=Role.BASIC_USER,
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


def _agent() -> dict[str, str]:
    return {"User-Agent": f"denials-test-{uuid.uuid4().hex}"}


async def _denials(db: asyncpg.Connection, agent: dict[str, str]) -> list[EventEnvelope]:
    rows = await db.fetch(
        "SELECT payload FROM identity.outbox WHERE event_type = 'access.denied' "
        "AND payload->'metadata'->>'userAgent' = $1 ORDER BY created_at",
        agent["User-Agent"],
    )
    return [EventEnvelope.model_validate_json(row["payload"]) for row in rows]


async def _first_denials(
    db: asyncpg.Connection, agent: dict[str, str], kinds: int
) -> list[EventEnvelope]:
    """The leading event of each of `kinds` kinds of refusal (out at the next flush)."""

    async def check() -> list[EventEnvelope]:
        found = await _denials(db, agent)
        assert len(found) >= kinds, found
        return found

    return await eventually(check)


async def test_a_wrong_password_is_a_denial_of_the_account_in_its_organization(
    client: httpx.AsyncClient,
    identity_runtime: ServiceRuntime,
    new_customer_org: Callable[[], Awaitable[uuid.UUID]],
    admin_db: asyncpg.Connection,
) -> None:
    org = await new_customer_org()
    user = await _user(identity_runtime, org)
    agent = _agent()

    refused = await client.post(
        "/api/auth/login", json={"email": user.email, "password": WRONG}, headers=agent
    )

    assert refused.status_code == 401
    (denied,) = await _first_denials(admin_db, agent, 1)
    assert (denied.aggregate_id, denied.organization_id) == (user.id, org)
    assert denied.metadata.user_id == user.id
    assert denied.data["action"] == "POST /api/auth/login"
    assert (denied.data["status"], denied.data["code"]) == (401, "INVALID_CREDENTIALS")
    assert denied.data["actorRole"] == "basic_user"
    assert denied.data["subject"] is None
    assert WRONG not in denied.model_dump_json()


async def test_an_unknown_emails_refusals_name_its_digest_never_the_email(
    client: httpx.AsyncClient, admin_db: asyncpg.Connection
) -> None:
    address = f"Nobody-{uuid.uuid4().hex[:10]}@Example.com"
    agent = _agent()

    refused = await client.post(
        "/api/auth/login", json={"email": address, "password": WRONG}, headers=agent
    )

    assert refused.status_code == 401
    (denied,) = await _first_denials(admin_db, agent, 1)
    digest = hashlib.sha256(address.lower().encode()).hexdigest()
    assert denied.organization_id is None, "the platform's chain: no organization is known"
    assert denied.metadata.user_id is None
    assert denied.data["subject"] == f"email-sha256:{digest}"
    text = denied.model_dump_json().lower()
    assert address.lower() not in text
    assert WRONG not in text


async def test_an_unknown_mfa_token_reset_token_and_api_key_are_denials_of_no_one(
    client: httpx.AsyncClient, admin_db: asyncpg.Connection
) -> None:
    agent = _agent()
    mfa_token, reset_token, api_key = (f"secret-{uuid.uuid4().hex}" for _ in range(3))

    mfa = await client.post(
        "/api/auth/mfa/complete", json={"mfaToken": mfa_token, "code": "123456"}, headers=agent
    )
    reset = await client.post(
        "/api/auth/password/reset",
        json={"token": reset_token, "newPassword": "a fresh and long passphrase 7"},
        headers=agent,
    )
    exchange = await client.post("/api/auth/token", json={"apiKey": api_key}, headers=agent)

    assert (mfa.status_code, reset.status_code, exchange.status_code) == (401, 400, 401)
    found = await _first_denials(admin_db, agent, 3)
    kinds = {(e.data["action"], e.data["status"], e.data["code"]) for e in found}
    assert kinds == {
        ("POST /api/auth/mfa/complete", 401, "INVALID_TOKEN"),
        ("POST /api/auth/password/reset", 400, "BAD_REQUEST"),
        ("POST /api/auth/token", 401, "INVALID_CREDENTIALS"),
    }
    for denied in found:
        assert denied.organization_id is None
        assert denied.metadata.user_id is None
        assert denied.data["subject"] is None
        text = denied.model_dump_json()
        for secret in (mfa_token, reset_token, api_key, "123456"):
            assert secret not in text
