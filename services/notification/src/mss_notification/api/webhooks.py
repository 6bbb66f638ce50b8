"""Webhook routes (API.md "Notifications → Webhooks"): `webhooks:manage`, own organization."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_db.scope import OrgScope
from mss_notification.adapters.sealing import SecretSealer, webhook_key
from mss_notification.adapters.webhook_http import checked_address
from mss_notification.api.schemas import (
    DeliveryRead,
    TestQueued,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
)
from mss_notification.application import webhooks as use
from mss_notification.config import NotificationSettings
from mss_service import Runtime, event_context
from mss_web.envelope import Envelope

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])

Manager = Annotated[Principal, Depends(require("webhooks:manage"))]


def _own(principal: Principal) -> OrgScope:
    return OrgScope.of([principal.org_id])


def _settings(request: Request) -> NotificationSettings:
    settings = request.app.state.runtime.settings
    assert isinstance(settings, NotificationSettings)
    return settings


def _sealer(request: Request) -> SecretSealer:
    sealer = getattr(request.app.state, "webhook_sealer", None)
    if sealer is None:
        sealer = SecretSealer(webhook_key(_settings(request)))
        request.app.state.webhook_sealer = sealer
    assert isinstance(sealer, SecretSealer)
    return sealer


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Envelope[WebhookCreated])
async def create_webhook(
    body: WebhookCreate, principal: Manager, request: Request, rt: Runtime
) -> Envelope[WebhookCreated]:
    cmd = use.CreateWebhook(
        org_id=principal.org_id,
        url=body.url,
        events=list(dict.fromkeys(body.events)),
        description=body.description,
        created_by=principal.user_id,
    )
    async with rt.uow(_own(principal)) as uow:
        webhook, secret = await use.create_webhook(
            cmd,
            uow=uow,
            check=checked_address,
            allow_private=_settings(request).webhook_allow_private,
            sealer=_sealer(request),
            ctx=event_context(request, principal),
        )
    read = WebhookRead.model_validate(webhook, from_attributes=True)
    return Envelope(data=WebhookCreated(**read.model_dump(), secret=secret))


@router.get("", response_model=Envelope[list[WebhookRead]])
async def list_webhooks(principal: Manager, rt: Runtime) -> Envelope[list[WebhookRead]]:
    async with rt.uow(_own(principal)) as uow:
        hooks = await use.list_webhooks(principal.org_id, uow=uow)
    return Envelope(data=[WebhookRead.model_validate(w) for w in hooks])


@router.delete("/{id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_webhook(id: UUID, principal: Manager, request: Request, rt: Runtime) -> Response:
    async with rt.uow(_own(principal)) as uow:
        await use.delete_webhook(
            id, org_id=principal.org_id, uow=uow, ctx=event_context(request, principal)
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{id}/deliveries", response_model=Envelope[list[DeliveryRead]])
async def list_deliveries(
    id: UUID,
    principal: Manager,
    rt: Runtime,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Envelope[list[DeliveryRead]]:
    async with rt.uow(_own(principal)) as uow:
        deliveries = await use.deliveries_of(id, org_id=principal.org_id, limit=limit, uow=uow)
    return Envelope(data=[DeliveryRead.model_validate(d) for d in deliveries])


@router.post(
    "/{id}/test", status_code=status.HTTP_202_ACCEPTED, response_model=Envelope[TestQueued]
)
async def test_webhook(
    id: UUID, principal: Manager, request: Request, rt: Runtime
) -> Envelope[TestQueued]:
    async with rt.uow(_own(principal)) as uow:
        delivery_id = await use.test_webhook(
            id,
            org_id=principal.org_id,
            uow=uow,
            ctx=event_context(request, principal),
            now=datetime.now(UTC),
        )
    return Envelope(data=TestQueued(delivery_id=delivery_id))
