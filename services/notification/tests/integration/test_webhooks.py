"""Webhooks: registration with the SSRF defence, the secret shown once and sealed, signed
deliveries that verify with standardwebhooks, retries, auto-disable, deletion, tenancy."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from standardwebhooks.webhooks import Webhook as Verifier

from mss_auth.tokens import KeyLoader
from mss_contracts.events import EventEnvelope
from mss_contracts.permissions import Role
from mss_notification.adapters.sealing import SecretSealer, webhook_key
from mss_notification.adapters.webhook_http import CheckedResolver, Refused, WebhookCaller
from mss_notification.application.webhooks import deliver_due
from mss_notification.config import NotificationSettings
from mss_notification.consumers.on_event import EventHandler
from mss_notification.main import build_runtime, create_app
from mss_service import ServiceRuntime
from mss_settings import PlatformSettings
from mss_testing.plugin import running

from .conftest import World, alert, envelope
from .receiver import Receiver, receiving

pytestmark = pytest.mark.integration


@pytest.fixture
async def dev_client(
    platform_settings: PlatformSettings, key_loader: KeyLoader, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """The API as scripts/up runs it: MSS_WEBHOOK_ALLOW_PRIVATE=1 (local receivers)."""
    monkeypatch.setenv("MSS_WEBHOOK_ALLOW_PRIVATE", "1")
    app = create_app(lambda: build_runtime(key_loader), run_relay=False)
    async with running(app) as c:
        yield c


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with receiving() as r:
        yield r


def caller() -> WebhookCaller:
    return WebhookCaller(allow_private=True, connect_timeout_s=2, timeout_s=3)


def sealer() -> SecretSealer:
    return SecretSealer(webhook_key(NotificationSettings()))


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], url: str, events: list[str]
) -> dict:  # type: ignore[type-arg]
    response = await client.post(
        "/api/webhooks", headers=headers, json={"url": url, "events": events}
    )
    assert response.status_code == 201, response.text
    data: dict = response.json()["data"]  # type: ignore[type-arg]
    return data


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/hook",
        "https://[::1]/hook",
        "https://localhost/hook",  # a DNS name resolving to loopback
        "http://hooks.example.com/hook",  # plain http
    ],
)
async def test_registration_refuses_urls_that_reach_inside(
    world: World, client: httpx.AsyncClient, url: str
) -> None:
    admin = await world.user(Role.ADMIN, await world.org())
    response = await client.post(
        "/api/webhooks",
        headers=await world.headers(admin),
        json={"url": url, "events": ["security.alert.*"]},
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert "url" in response.json()["details"]


async def test_connections_are_made_only_to_addresses_that_pass_the_check() -> None:
    """The name lookup every new connection makes (the rebinding guard) refuses a host
    that resolves inside, as the delivery's own check does."""
    with pytest.raises(Refused):
        await CheckedResolver(allow_private=False).resolve("localhost", 443)
    [answer] = await CheckedResolver(allow_private=False).resolve("93.184.215.14", 443)
    assert (answer["host"], answer["port"]) == ("93.184.215.14", 443)
    allowed = await CheckedResolver(allow_private=True).resolve("127.0.0.1", 8080)
    assert [a["host"] for a in allowed] == ["127.0.0.1"]


async def test_a_delivery_whose_host_now_resolves_inside_is_refused_at_delivery(
    world: World,
    dev_client: httpx.AsyncClient,
    handler: EventHandler,
    runtime: ServiceRuntime,
    receiver: Receiver,
    admin_db: asyncpg.Connection,
) -> None:
    """Registered while allowed, delivered by a worker with the flag off: checked again."""
    org = await world.org()
    admin = await world.user(Role.ADMIN, org)
    hook = await register(
        dev_client, await world.headers(admin), receiver.url, ["security.alert.*"]
    )
    await handler(envelope(alert(), aggregate_id=uuid.uuid4(), org_id=org))
    strict = WebhookCaller(allow_private=False, connect_timeout_s=2, timeout_s=3)
    await deliver_due(runtime.uow, caller=strict, sealer=sealer())
    assert receiver.requests == []
    row = await admin_db.fetchrow(
        "SELECT status, attempt, last_error FROM notification.webhook_deliveries"
        " WHERE webhook_id = $1",
        uuid.UUID(hook["id"]),
    )
    assert row["attempt"] == 1
    assert row["status"] == "pending"
    assert "refused" in row["last_error"]


async def test_only_a_customer_admin_manages_webhooks(
    world: World, client: httpx.AsyncClient
) -> None:
    org = await world.org()
    viewer = await world.user(Role.REPORT_VIEWER, org)
    response = await client.get("/api/webhooks", headers=await world.headers(viewer))
    assert response.status_code == 403


async def test_signed_delivery_verifies_and_a_500_is_retried(
    world: World,
    dev_client: httpx.AsyncClient,
    handler: EventHandler,
    runtime: ServiceRuntime,
    receiver: Receiver,
    admin_db: asyncpg.Connection,
) -> None:
    org, other = await world.org(), await world.org()
    admin = await world.user(Role.ADMIN, org)
    headers = await world.headers(admin)
    hook = await register(dev_client, headers, receiver.url, ["security.alert.*"])
    secret = hook["secret"]
    assert secret.startswith("whsec_")
    assert hook["events"] == ["security.alert.*"]
    # Shown once: never in the list, sealed at rest, absent from the audit event.
    listed = (await dev_client.get("/api/webhooks", headers=headers)).json()["data"]
    assert [h["id"] for h in listed] == [hook["id"]]
    assert "secret" not in listed[0]
    stored = await admin_db.fetchval(
        "SELECT secret_sealed FROM notification.webhooks WHERE id = $1", uuid.UUID(hook["id"])
    )
    assert secret not in stored
    outbox = await admin_db.fetch(
        "SELECT payload::text AS p FROM notification.outbox WHERE payload->>'aggregateId' = $1",
        hook["id"],
    )
    assert outbox
    assert all(secret not in row["p"] for row in outbox)

    receiver.statuses = [500]
    event = envelope(alert(), aggregate_id=uuid.uuid4(), org_id=org)
    await handler(event)
    await handler(envelope(alert(), aggregate_id=uuid.uuid4(), org_id=other))  # not theirs
    assert await deliver_due(runtime.uow, caller=caller(), sealer=sealer()) >= 1
    [first] = receiver.requests
    pending = (
        await dev_client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=headers)
    ).json()["data"]
    assert [(d["eventId"], d["status"], d["attempt"], d["responseStatus"]) for d in pending] == [
        (str(event.id), "pending", 1, 500)
    ]
    next_at = datetime.fromisoformat(pending[0]["nextAttemptAt"])
    assert next_at - datetime.now(UTC) <= timedelta(seconds=60)
    excerpt = await admin_db.fetchval(
        "SELECT response_excerpt FROM notification.webhook_deliveries WHERE webhook_id = $1",
        uuid.UUID(hook["id"]),
    )
    assert len(excerpt) <= 512

    await deliver_due(
        runtime.uow, caller=caller(), sealer=sealer(), now=next_at + timedelta(seconds=1)
    )
    assert len(receiver.requests) == 2
    second = receiver.requests[1]
    payload = Verifier(secret).verify(second.body, second.headers)
    assert payload["type"] == "security.alert.created"
    assert payload["data"]["id"] == str(event.id)
    assert payload["data"]["organizationId"] == str(org)
    assert second.headers["webhook-id"] == first.headers["webhook-id"]  # same message, retried
    assert second.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(Exception):  # noqa: B017,PT011 (any verification error)
        Verifier("whsec_" + "A" * 43).verify(second.body, second.headers)
    done = (await dev_client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=headers)).json()[
        "data"
    ]
    assert [(d["status"], d["attempt"], d["responseStatus"]) for d in done] == [
        ("delivered", 2, 200)
    ]


async def test_deliveries_to_one_checked_address_reuse_a_kept_alive_connection(
    world: World,
    dev_client: httpx.AsyncClient,
    handler: EventHandler,
    runtime: ServiceRuntime,
    receiver: Receiver,
) -> None:
    org = await world.org()
    admin = await world.user(Role.ADMIN, org)
    await register(dev_client, await world.headers(admin), receiver.url, ["security.alert.*"])
    calls = caller()
    try:
        for _ in range(3):
            await handler(envelope(alert(), aggregate_id=uuid.uuid4(), org_id=org))
            await deliver_due(runtime.uow, caller=calls, sealer=sealer())
    finally:
        await calls.close()
    assert len(receiver.requests) == 3
    assert receiver.connections == 1


async def test_the_test_endpoint_sends_a_webhook_test_event(
    world: World, dev_client: httpx.AsyncClient, runtime: ServiceRuntime, receiver: Receiver
) -> None:
    admin = await world.user(Role.ADMIN, await world.org())
    headers = await world.headers(admin)
    hook = await register(dev_client, headers, receiver.url, ["intervention.*"])
    queued = await dev_client.post(f"/api/webhooks/{hook['id']}/test", headers=headers)
    assert queued.status_code == 202
    delivery_id = queued.json()["data"]["deliveryId"]
    await deliver_due(runtime.uow, caller=caller(), sealer=sealer())
    [request] = receiver.requests
    body = Verifier(hook["secret"]).verify(request.body, request.headers)
    assert body["type"] == "webhook.test"
    [row] = (
        await dev_client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=headers)
    ).json()["data"]
    assert (row["id"], row["status"], row["eventType"]) == (
        delivery_id,
        "delivered",
        "webhook.test",
    )


async def test_deleted_webhooks_are_silent_and_other_orgs_cannot_touch_them(
    world: World,
    dev_client: httpx.AsyncClient,
    handler: EventHandler,
    runtime: ServiceRuntime,
    receiver: Receiver,
) -> None:
    org = await world.org()
    admin = await world.user(Role.ADMIN, org)
    stranger = await world.user(Role.ADMIN, await world.org())
    headers = await world.headers(admin)
    hook = await register(dev_client, headers, receiver.url, ["security.alert.created"])
    theirs = await world.headers(stranger)
    assert (
        await dev_client.delete(f"/api/webhooks/{hook['id']}", headers=theirs)
    ).status_code == 404
    assert (
        await dev_client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=theirs)
    ).status_code == 404
    await handler(envelope(alert(), aggregate_id=uuid.uuid4(), org_id=org))  # queued, not sent
    assert (
        await dev_client.delete(f"/api/webhooks/{hook['id']}", headers=headers)
    ).status_code == 204
    await handler(envelope(alert(), aggregate_id=uuid.uuid4(), org_id=org))
    await deliver_due(runtime.uow, caller=caller(), sealer=sealer())
    assert receiver.requests == []
    assert (await dev_client.get("/api/webhooks", headers=headers)).json()["data"] == []
    assert (
        await dev_client.delete(f"/api/webhooks/{hook['id']}", headers=headers)
    ).status_code == 404


async def test_fifty_failures_in_a_row_disable_the_webhook_and_tell_the_admins(
    world: World,
    dev_client: httpx.AsyncClient,
    client: httpx.AsyncClient,
    handler: EventHandler,
    runtime: ServiceRuntime,
    receiver: Receiver,
    admin_db: asyncpg.Connection,
) -> None:
    org = await world.org()
    admin = await world.user(Role.ADMIN, org)
    headers = await world.headers(admin)
    hook = await register(dev_client, headers, receiver.url, ["security.alert.*"])
    hook_id = uuid.UUID(hook["id"])
    await admin_db.execute(
        "UPDATE notification.webhooks SET consecutive_failures = 49 WHERE id = $1", hook_id
    )
    receiver.statuses = [503]
    await handler(envelope(alert(), aggregate_id=uuid.uuid4(), org_id=org))
    await deliver_due(runtime.uow, caller=caller(), sealer=sealer())
    status = await admin_db.fetchval(
        "SELECT status FROM notification.webhooks WHERE id = $1", hook_id
    )
    assert status == "disabled"
    payload = await admin_db.fetchval(
        "SELECT payload FROM notification.outbox"
        " WHERE event_type = 'webhook.disabled' AND payload->>'aggregateId' = $1",
        str(hook_id),
    )
    disabled = EventEnvelope.model_validate(json.loads(payload))
    await handler(disabled)
    notices = (await client.get("/api/notifications", headers=headers)).json()["data"]
    assert "webhook.disabled" in [n["type"] for n in notices]
