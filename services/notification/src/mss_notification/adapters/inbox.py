"""Notifications, preferences and the mails they ask for, in PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from mss_db import UnitOfWork
from mss_db.bulk import insert_rows
from mss_notification.adapters.tables import (
    SCHEMA,
    NotificationMailRow,
    NotificationRow,
    PreferencesRow,
)
from mss_notification.domain.notice import Notice
from mss_notification.domain.preferences import Digest, Preferences, QuietHours


@dataclass(frozen=True, slots=True)
class StoredNotification:
    id: UUID
    user_id: UUID
    organization_id: UUID
    type: str
    title: str
    body: str
    resource_type: str | None
    resource_id: UUID | None
    severity: str | None
    read_at: datetime | None
    created_at: datetime


# The columns a StoredNotification is read from (RETURNING of the bulk insert).
_NOTIFICATION_COLUMNS = (
    "id, org_id, user_id, subject_org_id, type, title, body, resource_type, resource_id,"
    " severity, read_at, created_at"
)


def _notification(row: Mapping[Any, Any]) -> StoredNotification:
    return StoredNotification(
        id=row["id"],
        user_id=row["user_id"],
        organization_id=row["subject_org_id"] or row["org_id"],
        type=row["type"],
        title=row["title"],
        body=row["body"],
        resource_type=row["resource_type"],
        resource_id=row["resource_id"],
        severity=row["severity"],
        read_at=row["read_at"],
        created_at=row["created_at"],
    )


@dataclass(frozen=True, slots=True)
class InboxQuery:
    user_id: UUID
    org_id: UUID
    unread: bool = False
    since: datetime | None = None
    # Keyset position: the (created_at, id) of the last row of the previous page.
    after: tuple[datetime, UUID] | None = None
    limit: int = 20


NOTIFICATIONS = f"{SCHEMA}.{NotificationRow.__tablename__}"
_NOTIFICATION_INSERT = (
    ("id", "uuid"),
    ("org_id", "uuid"),
    ("user_id", "uuid"),
    ("event_id", "uuid"),
    ("subject_org_id", "uuid"),
    ("type", "text"),
    ("title", "text"),
    ("body", "text"),
    ("resource_type", "text"),
    ("resource_id", "uuid"),
    ("severity", "text"),
)
NOTIFICATION_MAILS = f"{SCHEMA}.{NotificationMailRow.__tablename__}"
_MAIL_INSERT = (
    ("id", "uuid"),
    ("org_id", "uuid"),
    ("user_id", "uuid"),
    ("event_id", "uuid"),
    ("recipient", "text"),
    ("subject", "text"),
    ("body", "text"),
    ("status", "text"),
    ("digest", "text"),
    ("send_after", "timestamptz"),
)


class Inbox:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def add_many(
        self,
        *,
        event_id: UUID,
        subject_org_id: UUID | None,
        notice: Notice,
        recipients: Sequence[tuple[UUID, UUID]],
    ) -> list[StoredNotification]:
        """One statement for every (user, org) recipient; those notified already skipped.

        On the driver (mss_db.bulk): a VALUES list would be a new statement to compile for
        every number of recipients."""
        if not recipients:
            return []
        rows = await insert_rows(
            self._conn,
            NOTIFICATIONS,
            _NOTIFICATION_INSERT,
            [
                (
                    uuid4(),
                    org_id,
                    user_id,
                    event_id,
                    subject_org_id,
                    notice.type,
                    notice.title,
                    notice.body,
                    notice.resource_type,
                    notice.resource_id,
                    notice.severity,
                )
                for user_id, org_id in recipients
            ],
            suffix=f"ON CONFLICT (user_id, event_id) DO NOTHING RETURNING {_NOTIFICATION_COLUMNS}",
        )
        return [_notification(row) for row in rows]

    async def page(self, query: InboxQuery) -> list[StoredNotification]:
        """Newest first, `limit` + 1 rows (the extra one says another page exists)."""
        statement = select(NotificationRow).where(
            col(NotificationRow.org_id) == query.org_id,
            col(NotificationRow.user_id) == query.user_id,
        )
        if query.unread:
            statement = statement.where(col(NotificationRow.read_at).is_(None))
        if query.since is not None:
            statement = statement.where(col(NotificationRow.created_at) > query.since)
        if query.after is not None:
            statement = statement.where(
                tuple_(col(NotificationRow.created_at), col(NotificationRow.id))
                < tuple_(*query.after)
            )
        statement = statement.order_by(
            col(NotificationRow.created_at).desc(), col(NotificationRow.id).desc()
        ).limit(query.limit + 1)
        return [_notification(row._mapping) for row in (await self._conn.execute(statement))]

    async def mark_read(
        self, *, user_id: UUID, org_id: UUID, notification_id: UUID | None
    ) -> list[UUID]:
        """Mark one (or, with None, every) unread notification of the user read."""
        statement = (
            update(NotificationRow)
            .where(
                col(NotificationRow.org_id) == org_id,
                col(NotificationRow.user_id) == user_id,
                col(NotificationRow.read_at).is_(None),
            )
            .values(read_at=func.clock_timestamp())
            .returning(col(NotificationRow.id))
        )
        if notification_id is not None:
            statement = statement.where(col(NotificationRow.id) == notification_id)
        return list((await self._conn.execute(statement)).scalars())

    async def get(
        self, *, user_id: UUID, org_id: UUID, notification_id: UUID
    ) -> StoredNotification | None:
        row = (
            await self._conn.execute(
                select(NotificationRow).where(
                    col(NotificationRow.org_id) == org_id,
                    col(NotificationRow.user_id) == user_id,
                    col(NotificationRow.id) == notification_id,
                )
            )
        ).first()
        return None if row is None else _notification(row._mapping)


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _preferences(row: Any) -> Preferences:
    quiet = row.quiet_hours
    return Preferences(
        in_app=row.in_app,
        email=row.email,
        min_alert_severity=row.min_alert_severity,
        quiet_hours=(
            QuietHours(
                timezone=quiet["timezone"],
                start=time.fromisoformat(quiet["start"]),
                end=time.fromisoformat(quiet["end"]),
            )
            if quiet
            else None
        ),
        digest=Digest(row.digest),
        muted_types=frozenset(row.muted_types),
    )


class PreferenceStore:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def of(self, user_ids: Sequence[UUID]) -> dict[UUID, Preferences]:
        """The stored preferences of these users (absent: never chosen)."""
        if not user_ids:
            return {}
        rows = (
            await self._conn.execute(
                select(PreferencesRow).where(col(PreferencesRow.user_id).in_(list(user_ids)))
            )
        ).all()
        return {row.user_id: _preferences(row) for row in rows}

    async def put(self, *, user_id: UUID, org_id: UUID, preferences: Preferences) -> None:
        quiet = preferences.quiet_hours
        values: dict[str, Any] = {
            "in_app": preferences.in_app,
            "email": preferences.email,
            "min_alert_severity": preferences.min_alert_severity,
            "quiet_hours": (
                {"timezone": quiet.timezone, "start": _hhmm(quiet.start), "end": _hhmm(quiet.end)}
                if quiet
                else None
            ),
            "digest": preferences.digest.value,
            "muted_types": sorted(preferences.muted_types),
            "updated_at": func.clock_timestamp(),
        }
        statement = insert(PreferencesRow).values(user_id=user_id, org_id=org_id, **values)
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[col(PreferencesRow.user_id)], set_=values
            )
        )


@dataclass(frozen=True, slots=True)
class QueuedMail:
    org_id: UUID
    user_id: UUID
    event_id: UUID
    recipient: str
    subject: str
    body: str
    digest: Digest
    send_after: datetime


@dataclass(frozen=True, slots=True)
class DueMail:
    id: UUID
    org_id: UUID
    user_id: UUID
    event_id: UUID
    recipient: str
    subject: str
    body: str
    attempts: int


class MailQueue:
    """Mails of notifications: queued with the notification, sent later by the worker."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def queue(self, mails: Sequence[QueuedMail]) -> None:
        """One statement for all the mails of an event (a mail queued already is kept)."""
        await insert_rows(
            self._conn,
            NOTIFICATION_MAILS,
            _MAIL_INSERT,
            [
                (
                    uuid4(),
                    m.org_id,
                    m.user_id,
                    m.event_id,
                    m.recipient,
                    m.subject,
                    m.body,
                    "pending",
                    m.digest.value,
                    m.send_after,
                )
                for m in mails
            ],
            suffix="ON CONFLICT (user_id, event_id) DO NOTHING",
        )

    async def claim_due(self, *, now: datetime, limit: int, cap: int) -> list[DueMail]:
        """Single mails whose time has come, locked for this worker (others skip them): the
        `limit` oldest, and every other due mail of their recipients (up to `cap` in all),
        so a user's flood is claimed together and can go out as one mail."""
        due = (
            col(NotificationMailRow.status) == "pending",
            col(NotificationMailRow.digest) == Digest.OFF.value,
            col(NotificationMailRow.send_after) <= now,
        )
        oldest = (
            select(col(NotificationMailRow.user_id))
            .where(*due)
            .order_by(col(NotificationMailRow.send_after))
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("oldest")
        )
        rows = (
            await self._conn.execute(
                select(NotificationMailRow)
                .where(*due, col(NotificationMailRow.user_id).in_(select(oldest.c.user_id)))
                .order_by(col(NotificationMailRow.send_after))
                .limit(cap)
                .with_for_update(skip_locked=True)
            )
        ).all()
        return [_due(row) for row in rows]

    async def claim_digest(self, *, digest: Digest, before: datetime, limit: int) -> list[DueMail]:
        """Digest mails of periods that have ended, locked for this worker."""
        rows = (
            await self._conn.execute(
                select(NotificationMailRow)
                .where(
                    col(NotificationMailRow.status) == "pending",
                    col(NotificationMailRow.digest) == digest.value,
                    col(NotificationMailRow.created_at) < before,
                    col(NotificationMailRow.send_after) <= func.now(),
                )
                .order_by(col(NotificationMailRow.user_id), col(NotificationMailRow.created_at))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        return [_due(row) for row in rows]

    async def finish(
        self, ids: Sequence[UUID], *, status: str, error: str | None = None, attempts: int = 1
    ) -> None:
        if not ids:
            return
        await self._conn.execute(
            update(NotificationMailRow)
            .where(col(NotificationMailRow.id).in_(list(ids)))
            .values(
                status=status,
                last_error=error,
                attempts=col(NotificationMailRow.attempts) + attempts,
                sent_at=func.clock_timestamp() if status in ("sent", "digested") else None,
            )
        )


def _due(row: Any) -> DueMail:
    return DueMail(
        id=row.id,
        org_id=row.org_id,
        user_id=row.user_id,
        event_id=row.event_id,
        recipient=row.recipient,
        subject=row.subject,
        body=row.body,
        attempts=row.attempts,
    )
