"""The delivery log in PostgreSQL."""

from __future__ import annotations

from uuid import UUID, uuid4

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from mss_db import UnitOfWork
from mss_notification.adapters.tables import MailDeliveryRow
from mss_notification.domain.delivery import DeliveryStatus, SendOutcome
from mss_notification.domain.mail import Mail


class DeliveryRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def record(
        self, *, event_id: UUID, org_id: UUID | None, mail: Mail, outcome: SendOutcome
    ) -> None:
        """Keep the outcome of one event's mail (an event has at most one row)."""
        sent = outcome.status is DeliveryStatus.SENT
        await self._conn.execute(
            insert(MailDeliveryRow)
            .values(
                id=uuid4(),
                event_id=event_id,
                org_id=org_id,
                recipient=mail.recipient,
                template=str(mail.template),
                status=str(outcome.status),
                attempts=outcome.attempts,
                last_error=outcome.error,
                created_at=func.clock_timestamp(),
                sent_at=func.clock_timestamp() if sent else None,
            )
            .on_conflict_do_nothing(index_elements=[col(MailDeliveryRow.event_id)])
        )
