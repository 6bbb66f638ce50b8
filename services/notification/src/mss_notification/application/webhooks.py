"""Webhook use cases: register (secret shown once), list, delete, test; queue an event's
deliveries with the event; send due deliveries, retry, disable after a run of failures."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from uuid import UUID, uuid4

from standardwebhooks.webhooks import Webhook as Signer

from mss_contracts.events import (
    EventContext,
    EventEnvelope,
    WebhookCreated,
    WebhookDeleted,
    WebhookDisabled,
    WebhookTested,
    new_event,
    redacted,
)
from mss_db import OrgScope, UnitOfWork, UnitOfWorkFactory
from mss_notification.adapters.sealing import SecretSealer
from mss_notification.adapters.webhook_http import Answer, Refused, Unreachable
from mss_notification.adapters.webhook_store import (
    DELETED,
    DELIVERED,
    DISABLED,
    FAILED,
    PENDING,
    Attempted,
    Delivery,
    NewDelivery,
    Webhook,
    WebhookStore,
)
from mss_notification.application.lookups import Lookups
from mss_notification.domain.errors import WebhookNotFound, WebhookUrlRefused
from mss_notification.domain.webhooks import DISABLE_AFTER, TEST_EVENT, matches, next_attempt

log = logging.getLogger("mss.notification.webhooks")

# The events a webhook may receive (those the worker's queue is bound to).
WEBHOOK_EVENT_BINDINGS = ["security.alert.*", "security.report.*", "intervention.#"]
LEASE = timedelta(seconds=60)
BATCH = 100
CONCURRENCY = 50


class Caller(Protocol):
    allow_private: bool

    async def post(self, url: str, *, headers: dict[str, str], body: bytes) -> Answer: ...


class Checker(Protocol):
    async def __call__(self, url: str, *, allow_private: bool) -> object: ...


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes (the Standard Webhooks convention)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _snapshot(webhook: Webhook, status: str | None = None) -> dict[str, object]:
    return {"url": webhook.url, "events": webhook.events, "status": status or webhook.status}


@dataclass(frozen=True, slots=True)
class CreateWebhook:
    org_id: UUID
    url: str
    events: list[str]
    description: str | None
    created_by: UUID


async def create_webhook(
    cmd: CreateWebhook,
    *,
    uow: UnitOfWork,
    check: Checker,
    allow_private: bool,
    sealer: SecretSealer,
    ctx: EventContext,
) -> tuple[Webhook, str]:
    """The new webhook and its secret (the only time the secret leaves the service)."""
    try:
        await check(cmd.url, allow_private=allow_private)
    except Refused as exc:
        raise WebhookUrlRefused(exc.reason) from exc
    secret = new_secret()
    webhook = await WebhookStore(uow).add(
        org_id=cmd.org_id,
        url=cmd.url,
        events=cmd.events,
        description=cmd.description,
        secret_sealed=sealer.seal(secret),
        created_by=cmd.created_by,
    )
    await uow.outbox.add(
        new_event(
            WebhookCreated.model_validate(_snapshot(webhook)),
            aggregate_id=webhook.id,
            organization_id=webhook.org_id,
            version=1,
            context=ctx,
        )
    )
    await uow.commit()
    return webhook, secret


async def list_webhooks(org_id: UUID, *, uow: UnitOfWork) -> list[Webhook]:
    return await WebhookStore(uow).listed(org_id)


async def delete_webhook(
    webhook_id: UUID, *, org_id: UUID, uow: UnitOfWork, ctx: EventContext
) -> None:
    store = WebhookStore(uow)
    webhook = await store.get(webhook_id, org_id=org_id, lock=True)
    if webhook is None:
        raise WebhookNotFound()
    await store.set_status(webhook.id, DELETED)
    await uow.outbox.add(
        new_event(
            WebhookDeleted.model_validate(_snapshot(webhook, DELETED)),
            aggregate_id=webhook.id,
            organization_id=webhook.org_id,
            version=2,
            context=ctx,
        )
    )
    await uow.commit()


async def deliveries_of(
    webhook_id: UUID, *, org_id: UUID, limit: int, uow: UnitOfWork
) -> list[Delivery]:
    store = WebhookStore(uow)
    if await store.get(webhook_id, org_id=org_id) is None:
        raise WebhookNotFound()
    return await store.deliveries(webhook_id, limit=limit)


def _body(event_type: str, timestamp: datetime, data: dict[str, object]) -> dict[str, object]:
    """`{type, timestamp, data}` (Standard Webhooks' payload shape)."""
    return {"type": event_type, "timestamp": timestamp.isoformat(), "data": data}


async def test_webhook(
    webhook_id: UUID, *, org_id: UUID, uow: UnitOfWork, ctx: EventContext, now: datetime
) -> UUID:
    """Queue a `webhook.test` delivery; its id."""
    store = WebhookStore(uow)
    webhook = await store.get(webhook_id, org_id=org_id)
    if webhook is None or webhook.status != "active":
        raise WebhookNotFound()
    event_id = uuid4()
    payload = _body(
        TEST_EVENT,
        now,
        {
            "id": str(event_id),
            "type": TEST_EVENT,
            "organizationId": str(org_id),
            "webhookId": str(webhook.id),
        },
    )
    [delivery_id] = await store.add_deliveries(  # a fresh event id: always new
        [NewDelivery(webhook=webhook, event_id=event_id, event_type=TEST_EVENT, payload=payload)],
        now=now,
    )
    await uow.outbox.add(
        new_event(
            WebhookTested.model_validate({**_snapshot(webhook), "deliveryId": delivery_id}),
            aggregate_id=webhook.id,
            organization_id=webhook.org_id,
            version=1,
            context=ctx,
        )
    )
    await uow.commit()
    return delivery_id


def _is_webhook_event(event_type: str) -> bool:
    return event_type.startswith(("security.alert.", "security.report.", "intervention."))


async def queue_deliveries(
    uow: UnitOfWork, envelopes: Sequence[EventEnvelope], *, lookups: Lookups, now: datetime
) -> int:
    """One delivery per active webhook of each event's organization that takes its type
    (in the consumer's transaction: the events and their deliveries commit together), all
    in one statement; how many were new."""
    queued: list[NewDelivery] = []
    for envelope in envelopes:
        if envelope.organization_id is None or not _is_webhook_event(envelope.type):
            continue
        hooks = [
            w
            for w in await lookups.webhooks(envelope.organization_id)
            if matches(w.events, envelope.type)
        ]
        if not hooks:
            continue
        data = redacted(envelope).model_dump(mode="json", by_alias=True)
        payload = _body(envelope.type, envelope.metadata.timestamp, data)
        queued += [
            NewDelivery(webhook=w, event_id=envelope.id, event_type=envelope.type, payload=payload)
            for w in hooks
        ]
    return len(await WebhookStore(uow).add_deliveries(queued, now=now))


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    status: int | None
    excerpt: str | None
    error: str | None


def signed(delivery: Delivery, secret: str, *, now: datetime) -> tuple[dict[str, str], bytes]:
    """The headers and body of one attempt (`webhook-id` = the delivery, stable across
    retries, so receivers can drop duplicates)."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True)
    msg_id = f"msg_{delivery.id.hex}"
    signature = Signer(secret).sign(msg_id=msg_id, timestamp=now, data=body)
    headers = {
        "content-type": "application/json",
        "user-agent": "MSS-Platform-Webhooks/1",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    return headers, body.encode()


async def attempt_delivery(
    delivery: Delivery, webhook: Webhook, *, caller: Caller, sealer: SecretSealer, now: datetime
) -> Attempt:
    headers, body = signed(delivery, sealer.open(webhook.secret_sealed), now=now)
    try:
        answer = await caller.post(webhook.url, headers=headers, body=body)
    except Refused as exc:
        return Attempt(ok=False, status=None, excerpt=None, error=f"refused: {exc.reason}")
    except Unreachable as exc:
        return Attempt(ok=False, status=None, excerpt=None, error=exc.reason)
    return Attempt(
        ok=200 <= answer.status < 300, status=answer.status, excerpt=answer.excerpt, error=None
    )


def _attempted(delivery: Delivery, outcome: Attempt, *, now: datetime) -> Attempted:
    if outcome.ok:
        status, retry_at = DELIVERED, None
    else:
        retry_at = next_attempt(
            attempt=delivery.attempt + 1, created_at=delivery.created_at, now=now
        )
        status = PENDING if retry_at else FAILED
    return Attempted(
        delivery_id=delivery.id,
        status=status,
        response_status=outcome.status,
        excerpt=outcome.excerpt,
        error=outcome.error,
        next_attempt_at=retry_at,
    )


async def record_outcomes(
    results: Sequence[tuple[Delivery, Webhook, Attempt]], *, uow: UnitOfWork, now: datetime
) -> None:
    """Each attempt's outcome (one statement), then each webhook's run of failures; a
    webhook reaching `DISABLE_AFTER` in a row is disabled (and says so: webhook.disabled)."""
    store = WebhookStore(uow)
    await store.record_attempts([_attempted(d, outcome, now=now) for d, _, outcome in results])
    oks: dict[UUID, list[bool]] = {}
    for _, webhook, outcome in results:
        oks.setdefault(webhook.id, []).append(outcome.ok)
    for webhook_id, outcomes in oks.items():
        after = await store.count_outcomes(webhook_id, outcomes)
        if after is None or after.status != "active" or after.consecutive_failures < DISABLE_AFTER:
            continue
        await store.set_status(after.id, DISABLED)
        await uow.outbox.add(
            new_event(
                WebhookDisabled.model_validate(
                    {
                        **_snapshot(after, DISABLED),
                        "consecutiveFailures": after.consecutive_failures,
                    }
                ),
                aggregate_id=after.id,
                organization_id=after.org_id,
                version=2,
                context=EventContext(),
            )
        )
        log.warning("webhook %s disabled after %d failures", after.id, after.consecutive_failures)


async def deliver_due(
    factory: UnitOfWorkFactory,
    *,
    caller: Caller,
    sealer: SecretSealer,
    now: datetime | None = None,
    limit: int = BATCH,
) -> int:
    """One round: claim due deliveries, call them (bounded concurrency), record each."""
    now = now or datetime.now(UTC)
    async with factory(OrgScope.everything()) as uow:
        claimed = await WebhookStore(uow).claim_due(now=now, lease=LEASE, limit=limit)
        await uow.commit()
    if not claimed:
        return 0
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(delivery: Delivery, webhook: Webhook) -> tuple[Delivery, Webhook, Attempt]:
        async with gate:
            outcome = await attempt_delivery(
                delivery, webhook, caller=caller, sealer=sealer, now=datetime.now(UTC)
            )
        return delivery, webhook, outcome

    results: Sequence[tuple[Delivery, Webhook, Attempt]] = await asyncio.gather(
        *(one(d, w) for d, w in claimed)
    )
    async with factory(OrgScope.everything()) as uow:
        await record_outcomes(results, uow=uow, now=datetime.now(UTC))
        await uow.commit()
    return len(results)
