"""Webhooks and their deliveries in PostgreSQL."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from mss_db import UnitOfWork
from mss_db.bulk import insert_rows
from mss_db.engine import driver_connection, json_dumps
from mss_notification.adapters.tables import SCHEMA, WebhookDeliveryRow, WebhookRow
from mss_notification.domain.webhooks import failures_after

ACTIVE, DISABLED, DELETED = "active", "disabled", "deleted"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True, slots=True)
class Webhook:
    id: UUID
    org_id: UUID
    url: str
    events: list[str]
    description: str | None
    secret_sealed: str
    status: str
    consecutive_failures: int
    created_at: datetime

    @property
    def organization_id(self) -> UUID:
        return self.org_id


@dataclass(frozen=True, slots=True)
class Delivery:
    id: UUID
    org_id: UUID
    webhook_id: UUID
    event_id: UUID
    event_type: str
    payload: dict[str, Any]
    attempt: int
    status: str
    response_status: int | None
    next_attempt_at: datetime | None
    created_at: datetime


def _webhook(row: Any) -> Webhook:
    return Webhook(
        id=row.id,
        org_id=row.org_id,
        url=row.url,
        events=list(row.events),
        description=row.description,
        secret_sealed=row.secret_sealed,
        status=row.status,
        consecutive_failures=row.consecutive_failures,
        created_at=row.created_at,
    )


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        org_id=row.org_id,
        webhook_id=row.webhook_id,
        event_id=row.event_id,
        event_type=row.event_type,
        payload=row.payload,
        attempt=row.attempt,
        status=row.status,
        response_status=row.response_status,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
    )


@dataclass(frozen=True, slots=True)
class Attempted:
    """What one delivery attempt came to (`record_attempts`)."""

    delivery_id: UUID
    status: str
    response_status: int | None
    excerpt: str | None
    error: str | None
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    webhook: Webhook
    event_id: UUID
    event_type: str
    payload: dict[str, Any]


_DELIVERIES = f"{SCHEMA}.{WebhookDeliveryRow.__tablename__}"
_DELIVERY_INSERT = (
    ("id", "uuid"),
    ("org_id", "uuid"),
    ("webhook_id", "uuid"),
    ("event_id", "uuid"),
    ("event_type", "text"),
    ("payload", "jsonb"),
    ("attempt", "int"),
    ("status", "text"),
    ("next_attempt_at", "timestamptz"),
    ("created_at", "timestamptz"),
)


class WebhookStore:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def add(
        self,
        *,
        org_id: UUID,
        url: str,
        events: list[str],
        description: str | None,
        secret_sealed: str,
        created_by: UUID,
    ) -> Webhook:
        row = (
            await self._conn.execute(
                insert(WebhookRow)
                .values(
                    id=uuid4(),
                    org_id=org_id,
                    url=url,
                    events=events,
                    description=description,
                    secret_sealed=secret_sealed,
                    status=ACTIVE,
                    consecutive_failures=0,
                    created_by=created_by,
                    created_at=func.clock_timestamp(),
                )
                .returning(WebhookRow)
            )
        ).one()
        return _webhook(row)

    async def listed(self, org_id: UUID) -> list[Webhook]:
        rows = (
            await self._conn.execute(
                select(WebhookRow)
                .where(col(WebhookRow.org_id) == org_id, col(WebhookRow.status) != DELETED)
                .order_by(col(WebhookRow.created_at).desc())
            )
        ).all()
        return [_webhook(row) for row in rows]

    async def get(self, webhook_id: UUID, *, org_id: UUID, lock: bool = False) -> Webhook | None:
        statement = select(WebhookRow).where(
            col(WebhookRow.id) == webhook_id,
            col(WebhookRow.org_id) == org_id,
            col(WebhookRow.status) != DELETED,
        )
        if lock:
            statement = statement.with_for_update()
        row = (await self._conn.execute(statement)).first()
        return None if row is None else _webhook(row)

    async def active_of(self, org_ids: Collection[UUID]) -> dict[UUID, list[Webhook]]:
        """The active webhooks of each of these organizations, in one statement."""
        found: dict[UUID, list[Webhook]] = {org_id: [] for org_id in org_ids}
        if not found:
            return found
        rows = (
            await self._conn.execute(
                select(WebhookRow)
                .where(col(WebhookRow.org_id).in_(list(found)), col(WebhookRow.status) == ACTIVE)
                .order_by(col(WebhookRow.created_at), col(WebhookRow.id))
            )
        ).all()
        for row in rows:
            found[row.org_id].append(_webhook(row))
        return found

    async def set_status(self, webhook_id: UUID, status: str) -> None:
        values: dict[str, Any] = {"status": status}
        if status == DELETED:
            values["deleted_at"] = func.clock_timestamp()
        if status == DISABLED:
            values["disabled_at"] = func.clock_timestamp()
        await self._conn.execute(
            update(WebhookRow).where(col(WebhookRow.id) == webhook_id).values(**values)
        )
        # Nothing more goes out for a webhook that is no longer active.
        await self._conn.execute(
            update(WebhookDeliveryRow)
            .where(
                col(WebhookDeliveryRow.webhook_id) == webhook_id,
                col(WebhookDeliveryRow.status) == PENDING,
            )
            .values(status=FAILED, next_attempt_at=None, last_error=f"webhook {status}")
        )

    async def count_outcomes(self, webhook_id: UUID, oks: Sequence[bool]) -> Webhook | None:
        """Move the webhook's run of failures on by these attempts, in order (a success
        restarts it); the webhook after it."""
        restart, count = failures_after(oks)
        failures: Any = count if restart else col(WebhookRow.consecutive_failures) + count
        row = (
            await self._conn.execute(
                update(WebhookRow)
                .where(col(WebhookRow.id) == webhook_id)
                .values(consecutive_failures=failures)
                .returning(WebhookRow)
            )
        ).first()
        return None if row is None else _webhook(row)

    async def add_deliveries(
        self, deliveries: Sequence[NewDelivery], *, now: datetime
    ) -> list[UUID]:
        """Pending deliveries, due `now`, in one statement (on the driver); the ids of those
        new (a webhook gets an event once)."""
        added = await insert_rows(
            self._conn,
            _DELIVERIES,
            _DELIVERY_INSERT,
            [
                (
                    uuid4(),
                    d.webhook.org_id,
                    d.webhook.id,
                    d.event_id,
                    d.event_type,
                    json_dumps(d.payload),
                    0,
                    PENDING,
                    now,
                    now,
                )
                for d in deliveries
            ],
            suffix="ON CONFLICT (webhook_id, event_id) DO NOTHING RETURNING id",
        )
        return [row["id"] for row in added]

    async def deliveries(self, webhook_id: UUID, *, limit: int) -> list[Delivery]:
        rows = (
            await self._conn.execute(
                select(WebhookDeliveryRow)
                .where(col(WebhookDeliveryRow.webhook_id) == webhook_id)
                .order_by(col(WebhookDeliveryRow.created_at).desc(), col(WebhookDeliveryRow.id))
                .limit(limit)
            )
        ).all()
        return [_delivery(row) for row in rows]

    async def claim_due(
        self, *, now: datetime, lease: timedelta, limit: int
    ) -> list[tuple[Delivery, Webhook]]:
        """Due deliveries of active webhooks, leased to this worker: their next attempt
        moves past the lease, so a worker that dies mid-call leaves them to another."""
        due = (
            select(col(WebhookDeliveryRow.id))
            .join(WebhookRow, col(WebhookRow.id) == col(WebhookDeliveryRow.webhook_id))
            .where(
                col(WebhookDeliveryRow.status) == PENDING,
                col(WebhookDeliveryRow.next_attempt_at) <= now,
                col(WebhookRow.status) == ACTIVE,
            )
            .order_by(col(WebhookDeliveryRow.next_attempt_at))
            .limit(limit)
            .with_for_update(of=WebhookDeliveryRow, skip_locked=True)
            .scalar_subquery()
        )
        rows = (
            await self._conn.execute(
                update(WebhookDeliveryRow)
                .where(col(WebhookDeliveryRow.id).in_(due))
                .values(next_attempt_at=now + lease)
                .returning(WebhookDeliveryRow)
            )
        ).all()
        claimed = [_delivery(row) for row in rows]
        if not claimed:
            return []
        hooks = (
            await self._conn.execute(
                select(WebhookRow).where(col(WebhookRow.id).in_({d.webhook_id for d in claimed}))
            )
        ).all()
        by_id = {row.id: _webhook(row) for row in hooks}
        return [(d, by_id[d.webhook_id]) for d in claimed if d.webhook_id in by_id]

    async def record_attempts(self, attempts: Sequence[Attempted]) -> None:
        """The outcome of each attempt, one statement for all (on the driver: `UPDATE ...
        FROM unnest`, one prepared plan whatever their number)."""
        if not attempts:
            return
        await driver_connection(self._conn).execute(
            f"UPDATE {_DELIVERIES} d SET attempt = d.attempt + 1, status = a.status,"  # noqa: S608 - constant identifiers
            " response_status = a.response_status, response_excerpt = a.excerpt,"
            " last_error = a.error, next_attempt_at = a.next_attempt_at,"
            " delivered_at = CASE WHEN a.status = $7 THEN clock_timestamp() END"
            " FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[],"
            " $6::timestamptz[]) AS a(id, status, response_status, excerpt, error,"
            " next_attempt_at) WHERE d.id = a.id",
            [a.delivery_id for a in attempts],
            [a.status for a in attempts],
            [a.response_status for a in attempts],
            [a.excerpt for a in attempts],
            [a.error for a in attempts],
            [a.next_attempt_at for a in attempts],
            DELIVERED,
        )
