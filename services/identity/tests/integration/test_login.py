"""Password login against the real identity app: tokens, /me, JWKS, revocation, login events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import jwt
import pytest
from aio_pika.abc import AbstractQueue, AbstractRobustConnection
from fastapi import FastAPI
from redis.asyncio import Redis

from mss_auth.jwks import public_jwk
from mss_auth.sessions import session_key
from mss_auth.tokens import KeyLoader
from mss_bus import Topology
from mss_contracts.events import EventEnvelope
from mss_identity.api.runtime import IdentityRuntime
from mss_identity.application.users import ensure_super_admin
from mss_identity.main import create_app
from mss_settings import PlatformSettings
from mss_testing.plugin import eventually, running

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple 7"


@dataclass(frozen=True, slots=True)
class Admin:
    email: str
    user_id: uuid.UUID
    org_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Identity:
    app: FastAPI
    client: httpx.AsyncClient

    async def login(self, email: str, password: str) -> httpx.Response:
        return await self.client.post(
            "/api/auth/login", json={"email": email, "password": password}
        )


@pytest.fixture
async def identity(
    platform_settings: PlatformSettings, signing_keys_dir: Path
) -> AsyncIterator[Identity]:
    app = create_app()
    async with running(app) as client:
        yield Identity(app=app, client=client)


@pytest.fixture
async def admin(identity: Identity) -> Admin:
    """A super admin of a provider organization of its own, made by the bootstrap path."""
    runtime = identity.app.state.runtime
    assert isinstance(runtime, IdentityRuntime)
    org_id = uuid.uuid4()
    email = f"Admin-{uuid.uuid4().hex[:8]}@Example.com"
    result = await ensure_super_admin(
        provider_org_id=org_id,
        provider_name="MSS Provider (test)",
        email=email,
        password=PASSWORD,
        uow_factory=runtime.uow,
        hasher=runtime.hasher,
    )
    assert result.created
    assert result.password is None, "a chosen password is never echoed back"
    return Admin(email=email.lower(), user_id=result.user_id, org_id=org_id)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _keys_of(value: Any) -> set[str]:
    """Every key anywhere in a JSON document."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys_of(v)}
    return set()


async def test_super_admin_logs_in_and_gets_a_token_pair_without_secrets(
    identity: Identity,
    admin: Admin,
    admin_db: asyncpg.Connection,
    platform_settings: PlatformSettings,
    key_loader: KeyLoader,
) -> None:
    response = await identity.login(admin.email.upper(), PASSWORD)  # emails are case-blind
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    pair = body["data"]
    assert set(pair) == {"accessToken", "refreshToken", "tokenType", "expiresIn", "user"}
    assert pair["tokenType"] == "Bearer"
    assert pair["expiresIn"] == 900
    assert len(pair["refreshToken"]) >= 43, "256 random bits"
    user = pair["user"]
    assert user["id"] == str(admin.user_id)
    assert user["organizationId"] == str(admin.org_id)
    assert user["email"] == admin.email
    assert user["role"] == "super_admin"
    assert user["status"] == "active"
    assert not {"passwordHash", "password", "mfaSecret", "mfaBackupCodes"} & _keys_of(body)
    assert "$argon2" not in response.text

    (kid, public_key), *_ = (await key_loader()).items()
    header = jwt.get_unverified_header(pair["accessToken"])
    assert header == {"alg": "ES256", "kid": kid, "typ": "at+jwt"}
    claims = jwt.decode(
        pair["accessToken"],
        public_key,
        algorithms=["ES256"],
        audience=platform_settings.token_audience,
        issuer=platform_settings.token_issuer,
    )
    assert claims["sub"] == str(admin.user_id)
    assert claims["org"] == str(admin.org_id)
    assert claims["orgType"] == "mss_provider"
    assert claims["role"] == "super_admin"
    assert claims["exp"] - claims["iat"] == 900

    session = await admin_db.fetchrow(
        "SELECT user_id, org_id, status, refresh_token_hash FROM identity.user_sessions "
        "WHERE id = $1",
        uuid.UUID(claims["sid"]),
    )
    assert session is not None
    assert (session["user_id"], session["org_id"], session["status"]) == (
        admin.user_id,
        admin.org_id,
        "active",
    )
    assert session["refresh_token_hash"] != pair["refreshToken"], "stored only as a hash"
    assert await admin_db.fetchval(
        "SELECT last_login_at IS NOT NULL FROM identity.users WHERE id = $1", admin.user_id
    )


async def test_access_token_opens_me_with_the_super_admins_scope(
    identity: Identity, admin: Admin
) -> None:
    token = (await identity.login(admin.email, PASSWORD)).json()["data"]["accessToken"]
    me = await identity.client.get("/api/auth/me", headers=_bearer(token))
    assert me.status_code == 200, me.text
    data = me.json()["data"]
    assert data["role"] == "super_admin"
    assert "*:*" in data["permissions"]
    assert data["orgScope"]["allOrganizations"] is True
    assert data["user"]["id"] == str(admin.user_id)
    assert data["organization"]["id"] == str(admin.org_id)
    assert data["organization"]["type"] == "mss_provider"
    assert "passwordHash" not in _keys_of(me.json())

    anonymous = await identity.client.get("/api/auth/me")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "AUTHENTICATION_REQUIRED"


async def test_unknown_email_and_wrong_password_get_the_same_answer(
    identity: Identity, admin: Admin
) -> None:
    unknown = await identity.login(f"nobody-{uuid.uuid4().hex[:8]}@example.com", PASSWORD)
    wrong = await identity.login(admin.email, "not the password")

    def comparable(response: httpx.Response) -> dict[str, Any]:
        body = response.json()
        return {k: v for k, v in body.items() if k != "timestamp"}

    assert unknown.status_code == wrong.status_code == 401
    assert comparable(unknown) == comparable(wrong)
    assert comparable(wrong) == {
        "success": False,
        "error": "Invalid email or password",
        "code": "INVALID_CREDENTIALS",
        "path": "/api/auth/login",
    }


async def test_an_email_of_several_organizations_asks_which_one(identity: Identity) -> None:
    runtime = identity.app.state.runtime
    assert isinstance(runtime, IdentityRuntime)
    email = f"twice-{uuid.uuid4().hex[:8]}@example.com"
    orgs = {uuid.uuid4(): "First provider", uuid.uuid4(): "Second provider"}
    for org_id, name in orgs.items():
        await ensure_super_admin(
            provider_org_id=org_id,
            provider_name=name,
            email=email,
            password=PASSWORD,
            uow_factory=runtime.uow,
            hasher=runtime.hasher,
        )
    ambiguous = await identity.login(email, PASSWORD)
    assert ambiguous.status_code == 409, ambiguous.text
    body = ambiguous.json()
    assert body["code"] == "CONFLICT"
    assert body["error"] == "This email exists in several organizations: choose one"
    offered = {o["organizationId"]: o["name"] for o in body["details"]["organizations"]}
    assert offered == {str(org_id): name for org_id, name in orgs.items()}
    second = list(orgs)[1]
    chosen = await identity.client.post(
        "/api/auth/login",
        json={"email": email, "password": PASSWORD, "organizationId": str(second)},
    )
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["data"]["user"]["organizationId"] == str(second)


async def test_jwks_publishes_the_public_signing_key_only(
    identity: Identity, key_loader: KeyLoader
) -> None:
    response = await identity.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    (kid, public_key), *_ = (await key_loader()).items()
    listed = {key["kid"]: key for key in keys}
    assert kid in listed
    jwk = listed[kid]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ES256", "sig")
    assert jwk == public_jwk(kid, public_key)
    for key in keys:
        assert "d" not in key, "never the private part"


async def test_token_whose_session_key_was_deleted_is_refused_as_revoked(
    identity: Identity, admin: Admin, redis: Redis
) -> None:
    token = (await identity.login(admin.email, PASSWORD)).json()["data"]["accessToken"]
    sid = uuid.UUID(jwt.decode(token, options={"verify_signature": False})["sid"])
    assert (await identity.client.get("/api/auth/me", headers=_bearer(token))).status_code == 200

    assert await redis.delete(session_key(sid)) == 1
    refused = await identity.client.get("/api/auth/me", headers=_bearer(token))
    assert refused.status_code == 401
    assert refused.json()["code"] == "SESSION_REVOKED"
    assert refused.headers["WWW-Authenticate"] == "Bearer"


async def _listen(amqp: AbstractRobustConnection, topology: Topology) -> AbstractQueue:
    channel = await amqp.channel()
    exchange = await channel.declare_exchange(
        topology.events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="auth.login.*")
    return queue


async def test_login_outcomes_are_published_as_events_with_their_organization(
    identity: Identity,
    admin: Admin,
    amqp: AbstractRobustConnection,
    admin_db: asyncpg.Connection,
    platform_settings: PlatformSettings,
) -> None:
    queue = await _listen(amqp, Topology(platform_settings.bus_namespace))
    stranger = f"stranger-{uuid.uuid4().hex[:8]}@example.com"
    assert (await identity.login(admin.email, "wrong")).status_code == 401
    assert (await identity.login(stranger, "wrong")).status_code == 401
    token = (await identity.login(admin.email, PASSWORD)).json()["data"]["accessToken"]
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]

    received: list[EventEnvelope] = []

    async def published() -> dict[str, list[EventEnvelope]]:
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            envelope = EventEnvelope.model_validate_json(message.body)
            assert message.message_id == str(envelope.id)
            assert message.routing_key == envelope.type
            received.append(envelope)
        ours = [e for e in received if e.data.get("email") in (admin.email, stranger)]
        by_type: dict[str, list[EventEnvelope]] = {}
        for envelope in ours:
            by_type.setdefault(envelope.type, []).append(envelope)
        assert len(by_type.get("auth.login.failed", [])) == 2
        assert len(by_type.get("auth.login.success", [])) == 1
        return by_type

    events = await eventually(published)
    (success,) = events["auth.login.success"]
    assert success.organization_id == admin.org_id
    assert success.aggregate_id == admin.user_id
    assert success.aggregate_type == "user"
    assert success.metadata.user_id == admin.user_id
    assert str(success.metadata.session_id) == sid
    assert success.data == {"email": admin.email, "mfaUsed": False}

    failures = {e.data["email"]: e for e in events["auth.login.failed"]}
    assert failures[admin.email].organization_id == admin.org_id
    assert failures[admin.email].aggregate_id == admin.user_id
    assert failures[admin.email].data["reason"] == "invalid_credentials"
    assert failures[stranger].organization_id is None, "no organization to tell for a stranger"
    assert failures[stranger].metadata.user_id is None

    published_ids = [e.id for e in received]
    assert len(published_ids) == len(set(published_ids))

    async def outbox_emptied() -> None:
        # The relay deletes a batch once the broker confirmed it, so a consumer may see an
        # event a moment before its row is gone: bounded, the row must go.
        left = await admin_db.fetchval(
            "SELECT count(*) FROM identity.outbox WHERE id = ANY($1::uuid[])", published_ids
        )
        assert left == 0, "published events leave the outbox"

    await eventually(outbox_emptied)
