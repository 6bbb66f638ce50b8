"""Mailed tokens: accepting an invitation, forgotten passwords, email verification.

The tokens travel only inside the events the mailer reads; the database keeps their
SHA-256 hashes, and the audit's redaction removes them from stored copies.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import pyotp
import pytest
from aio_pika.abc import AbstractRobustConnection
from sqlalchemy import text
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from mss_bus import Topology
from mss_contracts.events import REDACTED, EventEnvelope, redacted
from mss_contracts.permissions import Role
from mss_db import OrgScope
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.adapters.repository import IdentityRepository
from mss_identity.application.users import ensure_super_admin
from mss_identity.main import build_runtime, create_app
from mss_settings import PlatformSettings
from mss_testing.plugin import TokenFactory, running

pytestmark = [pytest.mark.integration, pytest.mark.keep_outbox]

ROOT_PASSWORD = "a long and unusual passphrase 42"
CHOSEN = "violet tractor sings under nine lanterns"
LATER = "marble otters juggle copper kettles at dawn"


@dataclass
class World:
    provider: uuid.UUID
    org: uuid.UUID
    admin_id: uuid.UUID


@pytest.fixture
async def world(platform_settings: PlatformSettings) -> World:
    runtime = build_runtime()
    hasher = PasswordHasher(memory_kib=19 * 1024, time_cost=2, parallelism=1, workers=1)
    provider, org = uuid.uuid4(), uuid.uuid4()
    result = await ensure_super_admin(
        provider_org_id=provider,
        provider_name="Provider",
        email=f"root-{uuid.uuid4().hex[:8]}@example.com",
        password=ROOT_PASSWORD,
        uow_factory=runtime.uow,
        hasher=hasher,
    )
    async with runtime.uow(OrgScope.everything()) as uow:
        await IdentityRepository(uow).upsert_org(
            org_id=org, name="Customer", type="customer", status="active", settings={}, version=1
        )
        await uow.commit()
    hasher.close()
    await runtime.close()
    return World(provider, org, result.user_id)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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


async def _invite(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory
) -> dict[str, Any]:
    headers = _bearer(
        await mint_token(role=Role.SUPER_ADMIN, org_id=world.provider, user_id=world.admin_id)
    )
    response = await client.post(
        "/api/users",
        json={
            "organizationId": str(world.org),
            "email": f"new-{uuid.uuid4().hex[:8]}@example.com",
            "firstName": "Katherine",
            "lastName": "Johnson",
            "role": "request_user",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def _invitation_token(db: asyncpg.Connection, user_id: str) -> str:
    (invited,) = await _events(db, user_id, "user.invited")
    return str(invited.data["invitationToken"])


async def _accept(client: httpx.AsyncClient, token: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/auth/password/reset", json={"token": token, "newPassword": password}
    )


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def _active_user(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, db: asyncpg.Connection
) -> dict[str, Any]:
    user = await _invite(client, world, mint_token)
    assert (
        await _accept(client, await _invitation_token(db, user["id"]), CHOSEN)
    ).status_code == 204
    return user


async def _forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/auth/password/forgot", json={"email": email})


async def test_an_invited_user_accepts_with_the_emailed_token_and_logs_in(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    user = await _invite(client, world, mint_token)
    assert (await _login(client, user["email"], CHOSEN)).status_code == 401, "no password yet"
    token = await _invitation_token(admin_db, user["id"])

    weak = await _accept(client, token, "password123456")
    assert weak.status_code == 422
    assert weak.json()["code"] == "VALIDATION_ERROR"
    assert "newPassword" in weak.json()["details"]

    accepted = await _accept(client, token, CHOSEN)
    assert accepted.status_code == 204, accepted.text
    row = await admin_db.fetchrow(
        "SELECT status, email_verified, password_hash FROM identity.users WHERE id = $1",
        uuid.UUID(user["id"]),
    )
    assert row["status"] == "active"
    assert row["email_verified"] is True
    assert row["password_hash"].startswith("$argon2id$")
    used = await admin_db.fetchval(
        "SELECT used_at FROM identity.user_tokens WHERE token_hash = $1", _sha256(token)
    )
    assert used is not None

    login = await _login(client, user["email"], CHOSEN)
    assert login.status_code == 200, login.text
    me = login.json()["data"]["user"]
    assert (me["id"], me["status"], me["emailVerified"]) == (user["id"], "active", True)

    (updated,) = await _events(admin_db, user["id"], "user.updated")
    assert updated.data["changed"] == ["status", "emailVerified"]
    assert len(await _events(admin_db, user["id"], "auth.password.changed")) == 1

    replay = await _accept(client, token, LATER)
    assert replay.status_code == 400
    assert replay.json()["code"] == "BAD_REQUEST"
    assert replay.json()["error"] == "Invalid or expired token"


async def test_forgot_password_answers_the_same_202_for_known_and_unknown_emails(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    user = await _active_user(client, world, mint_token, admin_db)
    stranger = f"nobody-{uuid.uuid4().hex[:8]}@example.com"

    known = await _forgot(client, user["email"].upper())
    unknown = await _forgot(client, stranger)
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert known.json()["success"] is True

    (requested,) = await _events(admin_db, user["id"], "auth.password.reset_requested")
    assert requested.organization_id == world.org
    assert requested.data["email"] == user["email"]
    row = await admin_db.fetchrow(
        "SELECT * FROM identity.user_tokens WHERE token_hash = $1",
        _sha256(requested.data["resetToken"]),
    )
    assert row["purpose"] == "password_reset"
    assert row["user_id"] == uuid.UUID(user["id"])
    assert timedelta(minutes=29) < row["expires_at"] - row["created_at"] <= timedelta(minutes=30)
    stray = await admin_db.fetchval(
        "SELECT count(*) FROM identity.outbox WHERE payload::text ILIKE $1", f"%{stranger}%"
    )
    assert stray == 0, "an unknown email leaves no trace to mail"

    invited = await _invite(client, world, mint_token)
    assert (await _forgot(client, invited["email"])).json() == known.json()
    assert await _events(admin_db, invited["id"], "auth.password.reset_requested") == []


async def test_a_reset_token_works_once_and_ends_every_session(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    user = await _active_user(client, world, mint_token, admin_db)
    session = (await _login(client, user["email"], CHOSEN)).json()["data"]["accessToken"]
    assert (await client.get("/api/auth/me", headers=_bearer(session))).status_code == 200

    await _forgot(client, user["email"])
    (requested,) = await _events(admin_db, user["id"], "auth.password.reset_requested")
    token = requested.data["resetToken"]
    assert (await _accept(client, token, LATER)).status_code == 204
    assert (await _accept(client, token, CHOSEN + " again")).status_code == 400

    ended = await client.get("/api/auth/me", headers=_bearer(session))
    assert ended.status_code == 401
    assert ended.json()["code"] == "SESSION_REVOKED"
    assert (await _login(client, user["email"], CHOSEN)).status_code == 401
    assert (await _login(client, user["email"], LATER)).status_code == 200
    reasons = await admin_db.fetch(
        "SELECT revoked_reason FROM identity.user_sessions "
        "WHERE user_id = $1 AND status = 'revoked'",
        uuid.UUID(user["id"]),
    )
    assert [r["revoked_reason"] for r in reasons] == ["password_reset"]


async def test_an_expired_or_foreign_purpose_token_is_refused(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    user = await _invite(client, world, mint_token)
    token = await _invitation_token(admin_db, user["id"])
    await admin_db.execute(
        "UPDATE identity.user_tokens SET expires_at = now() - interval '1 second' "
        "WHERE token_hash = $1",
        _sha256(token),
    )
    expired = await _accept(client, token, CHOSEN)
    assert expired.status_code == 400
    assert expired.json()["code"] == "BAD_REQUEST"
    assert (await _accept(client, "made-up-token", CHOSEN)).status_code == 400
    assert (await _accept(client, _sha256(token), CHOSEN)).status_code == 400, "not the hash"

    verification = await client.post("/api/auth/email/verify", json={"token": token})
    assert verification.status_code == 400, "an invitation token is no verification token"
    status = await admin_db.fetchval(
        "SELECT status FROM identity.users WHERE id = $1", uuid.UUID(user["id"])
    )
    assert status == "invited"


async def test_an_email_verification_token_verifies_the_email_once(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    user = await _invite(client, world, mint_token)
    token = f"verify-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    await admin_db.execute(
        "INSERT INTO identity.user_tokens (token_hash, user_id, org_id, purpose, expires_at) "
        "VALUES ($1, $2, $3, 'email_verification', $4)",
        _sha256(token),
        uuid.UUID(user["id"]),
        world.org,
        datetime.now(UTC) + timedelta(hours=1),
    )
    verified = await client.post("/api/auth/email/verify", json={"token": token})
    assert verified.status_code == 204, verified.text
    assert await admin_db.fetchval(
        "SELECT email_verified FROM identity.users WHERE id = $1", uuid.UUID(user["id"])
    )
    (updated,) = await _events(admin_db, user["id"], "user.updated")
    assert updated.data["changed"] == ["emailVerified"]
    assert (await client.post("/api/auth/email/verify", json={"token": token})).status_code == 400


async def test_events_carry_the_token_never_its_hash_and_redaction_removes_it(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    user = await _active_user(client, world, mint_token, admin_db)
    await _forgot(client, user["email"])
    hashes = {
        r["token_hash"]
        for r in await admin_db.fetch(
            "SELECT token_hash FROM identity.user_tokens WHERE user_id = $1", uuid.UUID(user["id"])
        )
    }
    assert len(hashes) == 2

    rows = await admin_db.fetch(
        "SELECT payload FROM identity.outbox WHERE payload->>'aggregateId' = $1", user["id"]
    )
    for row in rows:
        assert not any(h in row["payload"] for h in hashes), "no token hash in any event"

    for event_type, field in (
        ("user.invited", "invitationToken"),
        ("auth.password.reset_requested", "resetToken"),
    ):
        (event,) = await _events(admin_db, user["id"], event_type)
        token = event.data[field]
        assert _sha256(token) in hashes, "the stored hash is the token's SHA-256"
        assert token not in hashes
        safe = redacted(event)
        assert safe.data[field] == REDACTED
        assert token not in json.dumps(safe.model_dump(mode="json", by_alias=True))
        assert event.data[field] == token, "the original envelope is left alone"
    root = _bearer(await mint_token(role=Role.SUPER_ADMIN, org_id=world.provider))
    body = (await client.get(f"/api/users/{user['id']}", headers=root)).text
    assert not any(h in body for h in hashes), "no token hash in a response either"


async def test_deleting_a_user_deactivates_it_and_ends_its_sessions(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    user = await _active_user(client, world, mint_token, admin_db)
    session = (await _login(client, user["email"], CHOSEN)).json()["data"]["accessToken"]
    root = _bearer(
        await mint_token(role=Role.SUPER_ADMIN, org_id=world.provider, user_id=world.admin_id)
    )
    deleted = await client.delete(f"/api/users/{user['id']}", headers=root)
    assert deleted.status_code == 204
    assert deleted.content == b""

    assert (await client.get("/api/auth/me", headers=_bearer(session))).status_code == 401
    assert (await _login(client, user["email"], CHOSEN)).status_code == 401
    fetched = await client.get(f"/api/users/{user['id']}", headers=root)
    assert fetched.json()["data"]["status"] == "inactive"
    (gone,) = await _events(admin_db, user["id"], "user.deleted")
    assert gone.data == {"email": user["email"]}
    revoked = await _events(admin_db, user["id"], "auth.session.revoked")
    assert [e.data["reason"] for e in revoked] == ["user_deleted"]

    await _forgot(client, user["email"])
    assert await _events(admin_db, user["id"], "auth.password.reset_requested") == []


async def test_an_administrator_revokes_every_session_of_a_user(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    user = await _active_user(client, world, mint_token, admin_db)
    sessions = [
        (await _login(client, user["email"], CHOSEN)).json()["data"]["accessToken"]
        for _ in range(2)
    ]
    root = _bearer(await mint_token(role=Role.SUPER_ADMIN, org_id=world.provider))
    revoked = await client.post(f"/api/users/{user['id']}/revoke-sessions", headers=root)
    assert revoked.status_code == 200
    assert revoked.json()["data"] == {"revoked": 2}
    for token in sessions:
        assert (await client.get("/api/auth/me", headers=_bearer(token))).status_code == 401


async def test_after_a_reset_login_still_asks_for_the_second_factor(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    user = await _active_user(client, world, mint_token, admin_db)
    session = _bearer((await _login(client, user["email"], CHOSEN)).json()["data"]["accessToken"])
    secret = (await client.post("/api/auth/mfa/setup", headers=session)).json()["data"]["secret"]
    enabled = await client.post(
        "/api/auth/mfa/enable", json={"code": pyotp.TOTP(secret).now()}, headers=session
    )
    assert enabled.status_code == 200, enabled.text

    await _forgot(client, user["email"])
    (requested,) = await _events(admin_db, user["id"], "auth.password.reset_requested")
    assert (await _accept(client, requested.data["resetToken"], LATER)).status_code == 204

    login = await _login(client, user["email"], LATER)
    assert login.status_code == 200
    assert login.json()["data"]["mfaRequired"] is True
    assert "accessToken" not in login.json()["data"]


async def test_user_tokens_rows_are_isolated_by_row_level_security(
    client: httpx.AsyncClient,
    world: World,
    mint_token: TokenFactory,
    admin_db: asyncpg.Connection,
    platform_settings: PlatformSettings,
) -> None:
    await _invite(client, world, mint_token)
    other_org = uuid.uuid4()
    runtime = build_runtime()
    try:
        async with runtime.uow(OrgScope.everything()) as uow:
            await IdentityRepository(uow).upsert_org(
                org_id=other_org,
                name="Other",
                type="customer",
                status="active",
                settings={},
                version=1,
            )
            await uow.commit()
        root = _bearer(await mint_token(role=Role.SUPER_ADMIN, org_id=world.provider))
        other = await client.post(
            f"/api/organizations/{other_org}/users",
            json={"email": "o@example.com", "firstName": "O", "lastName": "P", "role": "admin"},
            headers=root,
        )
        assert other.status_code == 201
        async with runtime.uow(OrgScope.of([world.org])) as uow:
            role = (await uow.conn.execute(text("SELECT current_user"))).scalar_one()
            rows = (await uow.conn.execute(text("SELECT * FROM identity.user_tokens"))).all()
        async with runtime.uow(OrgScope.of([])) as uow:
            none = (await uow.conn.execute(text("SELECT * FROM identity.user_tokens"))).all()
    finally:
        await runtime.close()
    assert role == "identity_app"
    assert rows
    assert {row.org_id for row in rows} == {world.org}
    assert none == [], "no scope, no rows"
    assert (
        await admin_db.fetchval(
            "SELECT count(*) FROM identity.user_tokens WHERE org_id = $1", other_org
        )
        == 1
    )


async def test_the_invitation_is_published_with_its_token_and_leaves_the_outbox(
    world: World,
    mint_token: TokenFactory,
    admin_db: asyncpg.Connection,
    amqp: AbstractRobustConnection,
    platform_settings: PlatformSettings,
    signing_keys_dir: Path,
) -> None:
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(
        Topology(platform_settings.bus_namespace).events_exchange,
        aio_pika.ExchangeType.TOPIC,
        durable=True,
    )
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="user.*")
    async with running(create_app()) as relaying:
        user = await _invite(relaying, world, mint_token)
        received: list[EventEnvelope] = []

        async def invited() -> EventEnvelope:
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                received.append(EventEnvelope.model_validate_json(message.body))
            ours = [e for e in received if str(e.aggregate_id) == user["id"]]
            assert {e.type for e in ours} == {"user.created", "user.invited"}
            return next(e for e in ours if e.type == "user.invited")

        event: EventEnvelope | None = None
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(15),
            wait=wait_fixed(0.1),
            retry=retry_if_exception_type(AssertionError),
            reraise=True,
        ):
            with attempt:
                event = await invited()
        # The relay deletes the rows when its transaction commits, just after the broker's
        # confirm: the messages can arrive a moment before that. Checked while the relay still runs.
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(10),
            wait=wait_fixed(0.1),
            retry=retry_if_exception_type(AssertionError),
            reraise=True,
        ):
            with attempt:
                left = await admin_db.fetchval(
                    "SELECT count(*) FROM identity.outbox WHERE payload->>'aggregateId' = $1",
                    user["id"],
                )
                assert left == 0, "published events leave the outbox"
    assert event is not None
    token = event.data["invitationToken"]
    stored = await admin_db.fetchval(
        "SELECT token_hash FROM identity.user_tokens WHERE user_id = $1", uuid.UUID(user["id"])
    )
    assert stored == _sha256(token)
    assert stored not in event.model_dump_json()


async def test_a_changed_email_is_unverified_until_the_mailed_link_is_used(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory, admin_db: asyncpg.Connection
) -> None:
    user = await _active_user(client, world, mint_token, admin_db)
    admin = _bearer(
        await mint_token(role=Role.SUPER_ADMIN, org_id=world.provider, user_id=world.admin_id)
    )
    address = f"moved-{uuid.uuid4().hex[:8]}@Example.com"
    changed = await client.put(f"/api/users/{user['id']}", json={"email": address}, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["email"] == address.lower()
    assert changed.json()["data"]["emailVerified"] is False

    (requested,) = await _events(admin_db, user["id"], "auth.email.verification_requested")
    assert requested.data["email"] == address.lower()
    token = str(requested.data["verificationToken"])
    assert (await client.post("/api/auth/email/verify", json={"token": token})).status_code == 204
    assert await admin_db.fetchval(
        "SELECT email_verified FROM identity.users WHERE id = $1", uuid.UUID(user["id"])
    )

    # Verified now: asking again sends nothing.
    login = await _login(client, address, CHOSEN)
    assert login.status_code == 200, login.text
    own = _bearer(login.json()["data"]["accessToken"])
    assert (await client.post("/api/auth/email/verification", headers=own)).status_code == 202
    assert len(await _events(admin_db, user["id"], "auth.email.verification_requested")) == 1


async def test_an_email_already_used_in_the_org_cannot_be_taken(
    client: httpx.AsyncClient, world: World, mint_token: TokenFactory
) -> None:
    first, second = (
        await _invite(client, world, mint_token),
        await _invite(client, world, mint_token),
    )
    admin = _bearer(
        await mint_token(role=Role.SUPER_ADMIN, org_id=world.provider, user_id=world.admin_id)
    )
    taken = await client.put(
        f"/api/users/{second['id']}", json={"email": first["email"]}, headers=admin
    )
    assert taken.status_code == 409, taken.text
