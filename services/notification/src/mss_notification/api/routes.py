"""The inbox and preferences routes (API.md "Notifications"): the caller's own only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from mss_auth.dependencies import require
from mss_auth.principal import Principal
from mss_contracts.api import CursorMeta
from mss_db.scope import OrgScope
from mss_notification.api.schemas import (
    NotificationRead,
    PreferencesBody,
    PreferencesRead,
    ReadAll,
)
from mss_notification.application import inbox as use
from mss_service import Runtime, event_context
from mss_web.envelope import CursorEnvelope, Envelope

router = APIRouter(prefix="/api/notifications", tags=["notification"])

Reader = Annotated[Principal, Depends(require("notifications:read"))]
Updater = Annotated[Principal, Depends(require("notifications:update"))]


def _own(principal: Principal) -> OrgScope:
    """The caller's own inbox: its organization only, whatever wider scope its role has."""
    return OrgScope.of([principal.org_id])


@router.get("", response_model=CursorEnvelope[NotificationRead])
async def list_notifications(
    principal: Reader,
    rt: Runtime,
    unread: Annotated[bool, Query()] = False,
    since: Annotated[datetime | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> CursorEnvelope[NotificationRead]:
    async with rt.uow(_own(principal)) as uow:
        page = await use.read_inbox(
            user_id=principal.user_id,
            org_id=principal.org_id,
            unread=unread,
            since=since,
            cursor=cursor,
            limit=limit,
            uow=uow,
        )
    return CursorEnvelope(
        data=[NotificationRead.model_validate(n) for n in page.items],
        meta=CursorMeta(limit=limit, next_cursor=page.next_cursor),
    )


@router.post("/read-all", response_model=Envelope[ReadAll])
async def read_all(principal: Updater, request: Request, rt: Runtime) -> Envelope[ReadAll]:
    async with rt.uow(_own(principal)) as uow:
        updated = await use.mark_all_read(
            user_id=principal.user_id,
            org_id=principal.org_id,
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=ReadAll(updated=updated))


@router.get("/preferences", response_model=Envelope[PreferencesRead])
async def get_preferences(principal: Reader, rt: Runtime) -> Envelope[PreferencesRead]:
    async with rt.uow(_own(principal)) as uow:
        preferences = await use.preferences_of(
            user_id=principal.user_id, org_id=principal.org_id, uow=uow
        )
    return Envelope(data=PreferencesRead.of(preferences))


@router.put("/preferences", response_model=Envelope[PreferencesRead])
async def put_preferences(
    body: PreferencesBody, principal: Updater, request: Request, rt: Runtime
) -> Envelope[PreferencesRead]:
    async with rt.uow(_own(principal)) as uow:
        current = await use.preferences_of(
            user_id=principal.user_id, org_id=principal.org_id, uow=uow
        )
        preferences = await use.put_preferences(
            body.applied_to(current),
            user_id=principal.user_id,
            org_id=principal.org_id,
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=PreferencesRead.of(preferences))


@router.post("/{id}/read", response_model=Envelope[NotificationRead])
async def read_one(
    id: UUID, principal: Updater, request: Request, rt: Runtime
) -> Envelope[NotificationRead]:
    async with rt.uow(_own(principal)) as uow:
        notification = await use.mark_read(
            id,
            user_id=principal.user_id,
            org_id=principal.org_id,
            uow=uow,
            ctx=event_context(request, principal),
        )
    return Envelope(data=NotificationRead.model_validate(notification))
