"""The inbox and preferences use cases (the caller's own notifications only)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, fields
from datetime import datetime
from uuid import UUID

from mss_contracts.events import (
    EventContext,
    NotificationPreferencesUpdated,
    NotificationsRead,
    new_event,
)
from mss_contracts.settings import NotificationDefaults
from mss_db import UnitOfWork
from mss_notification.adapters.directory import Directory
from mss_notification.adapters.inbox import Inbox, InboxQuery, PreferenceStore, StoredNotification
from mss_notification.domain.errors import BadCursor, NotificationNotFound
from mss_notification.domain.preferences import Preferences


def encode_cursor(created_at: datetime, notification_id: UUID) -> str:
    raw = f"{created_at.isoformat()}|{notification_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, _, id_ = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        position = datetime.fromisoformat(at), UUID(id_)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursor() from exc
    if position[0].tzinfo is None:
        raise BadCursor()
    return position


@dataclass(frozen=True, slots=True)
class InboxPage:
    items: list[StoredNotification]
    next_cursor: str | None


async def read_inbox(
    *,
    user_id: UUID,
    org_id: UUID,
    unread: bool,
    since: datetime | None,
    cursor: str | None,
    limit: int,
    uow: UnitOfWork,
) -> InboxPage:
    query = InboxQuery(
        user_id=user_id,
        org_id=org_id,
        unread=unread,
        since=since,
        after=decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    rows = await Inbox(uow).page(query)
    items, more = rows[:limit], len(rows) > limit
    last = items[-1] if items else None
    return InboxPage(
        items=items,
        next_cursor=encode_cursor(last.created_at, last.id) if more and last else None,
    )


async def mark_read(
    notification_id: UUID, *, user_id: UUID, org_id: UUID, uow: UnitOfWork, ctx: EventContext
) -> StoredNotification:
    """Mark one of the caller's notifications read (again: no change, same answer)."""
    inbox = Inbox(uow)
    changed = await inbox.mark_read(user_id=user_id, org_id=org_id, notification_id=notification_id)
    found = await inbox.get(user_id=user_id, org_id=org_id, notification_id=notification_id)
    if found is None:
        raise NotificationNotFound()
    if changed:
        await uow.outbox.add(
            new_event(
                NotificationsRead(notification_ids=changed, count=len(changed)),
                aggregate_id=user_id,
                organization_id=org_id,
                version=1,
                context=ctx,
            )
        )
    await uow.commit()
    return found


async def mark_all_read(*, user_id: UUID, org_id: UUID, uow: UnitOfWork, ctx: EventContext) -> int:
    changed = await Inbox(uow).mark_read(user_id=user_id, org_id=org_id, notification_id=None)
    if changed:
        await uow.outbox.add(
            new_event(
                NotificationsRead(all=True, count=len(changed)),
                aggregate_id=user_id,
                organization_id=org_id,
                version=1,
                context=ctx,
            )
        )
    await uow.commit()
    return len(changed)


async def preferences_of(*, user_id: UUID, org_id: UUID, uow: UnitOfWork) -> Preferences:
    """The user's choice, else the organization's notification defaults."""
    chosen = (await PreferenceStore(uow).of([user_id])).get(user_id)
    if chosen is not None:
        return chosen
    org = await Directory(uow).held_org(org_id)
    return Preferences.defaults(
        org.settings.notification_defaults if org else NotificationDefaults()
    )


async def put_preferences(
    preferences: Preferences, *, user_id: UUID, org_id: UUID, uow: UnitOfWork, ctx: EventContext
) -> Preferences:
    before = await preferences_of(user_id=user_id, org_id=org_id, uow=uow)
    await PreferenceStore(uow).put(user_id=user_id, org_id=org_id, preferences=preferences)
    changed = [
        f.name
        for f in fields(Preferences)
        if getattr(before, f.name) != getattr(preferences, f.name)
    ]
    await uow.outbox.add(
        new_event(
            NotificationPreferencesUpdated(changed=changed),
            aggregate_id=user_id,
            organization_id=org_id,
            version=1,
            context=ctx,
        )
    )
    await uow.commit()
    return preferences
