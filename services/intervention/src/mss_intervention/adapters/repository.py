"""Interventions in PostgreSQL: explicit Core statements on the table models (RLS scopes
every one; lists also say the scope themselves so the tenant index is used)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col

from mss_contracts.access import GrantTerms
from mss_contracts.interventions import InterventionType, Priority
from mss_db import UnitOfWork
from mss_db.scope import in_scope
from mss_intervention.adapters.tables import (
    InterventionRow,
    OrgDirectoryRow,
    RemoteSessionRow,
    WorkLogRow,
    technician_grants,
)
from mss_intervention.domain.intervention import (
    Intervention,
    RemoteSession,
    WorkEntry,
)
from mss_intervention.domain.workflow import Status

ORG_DIRECTORY = "org_directory"

# The columns a step may change (everything but identity, tenant and the request's facts).
_MUTABLE = (
    "title",
    "description",
    "status",
    "assigned_to",
    "estimated_hours",
    "scheduled_for",
    "completed_at",
    "cancelled_at",
    "cancel_reason",
    "summary",
    "responded_at",
    "response_breached_at",
    "resolution_breached_at",
    "version",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class InterventionFilter:
    org_id: UUID | None = None
    status: Status | None = None
    priority: Priority | None = None
    type: InterventionType | None = None
    assigned_to: UUID | None = None


@dataclass(frozen=True, slots=True)
class Organization:
    id: UUID
    type: str
    status: str
    settings: dict[str, Any]
    version: int


@dataclass(frozen=True, slots=True)
class BillableEntry:
    org_id: UUID
    intervention_id: UUID
    type: InterventionType
    user_id: UUID
    quarters: int


class InterventionRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._conn = uow.conn

    async def add(self, item: Intervention) -> None:
        await self._conn.execute(insert(InterventionRow).values(**_columns(item)))

    async def save(self, item: Intervention) -> None:
        """Write a step's result; the row was loaded `for_update`, so no one raced us."""
        values = _columns(item)
        await self._conn.execute(
            update(InterventionRow)
            .where(col(InterventionRow.id) == item.id)
            .values({name: values[name] for name in _MUTABLE})
        )

    async def record_breaches(self, items: Sequence[Intervention]) -> None:
        """The SLA clock's batch: breach times, versions and update times in one statement."""
        if not items:
            return
        await self._conn.execute(
            text(
                """
                UPDATE intervention.interventions AS i
                SET response_breached_at = v.response_breached_at,
                    resolution_breached_at = v.resolution_breached_at,
                    version = v.version,
                    updated_at = v.updated_at
                FROM unnest(CAST(:ids AS uuid[]), CAST(:responses AS timestamptz[]),
                            CAST(:resolutions AS timestamptz[]), CAST(:versions AS integer[]),
                            CAST(:updated AS timestamptz[]))
                    AS v(id, response_breached_at, resolution_breached_at, version, updated_at)
                WHERE i.id = v.id
                """
            ),
            {
                "ids": [item.id for item in items],
                "responses": [item.response_breached_at for item in items],
                "resolutions": [item.resolution_breached_at for item in items],
                "versions": [item.version for item in items],
                "updated": [item.updated_at for item in items],
            },
        )

    async def add_work(self, item: Intervention, entry: WorkEntry) -> None:
        await self._conn.execute(
            insert(WorkLogRow).values(
                id=entry.id,
                org_id=item.org_id,
                intervention_id=item.id,
                user_id=entry.user_id,
                at=entry.at,
                quarters=entry.quarters,
                note=entry.note,
                created_at=item.updated_at,
            )
        )

    async def get(self, intervention_id: UUID, *, for_update: bool = False) -> Intervention | None:
        query = select(InterventionRow).where(col(InterventionRow.id) == intervention_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        return (await self._with_children([row]))[0]

    async def by_source_alert(self, org_id: UUID, alert_id: UUID) -> Intervention | None:
        row = (
            await self._conn.execute(
                select(InterventionRow).where(
                    col(InterventionRow.org_id) == org_id,
                    col(InterventionRow.source_alert_id) == alert_id,
                )
            )
        ).first()
        return None if row is None else (await self._with_children([row]))[0]

    async def page(
        self, where: InterventionFilter, *, offset: int, limit: int
    ) -> tuple[list[Intervention], int]:
        """Newest first, in the unit of work's scope."""
        conditions = [in_scope(col(InterventionRow.org_id), self._uow.scope)]
        if where.org_id is not None:
            conditions.append(col(InterventionRow.org_id) == where.org_id)
        if where.status is not None:
            conditions.append(col(InterventionRow.status) == where.status.value)
        if where.priority is not None:
            conditions.append(col(InterventionRow.priority) == where.priority.value)
        if where.type is not None:
            conditions.append(col(InterventionRow.type) == where.type.value)
        if where.assigned_to is not None:
            conditions.append(col(InterventionRow.assigned_to) == where.assigned_to)
        rows = (
            await self._conn.execute(
                select(InterventionRow)
                .where(*conditions)
                .order_by(col(InterventionRow.created_at).desc(), col(InterventionRow.id))
                .offset(offset)
                .limit(limit)
            )
        ).all()
        total = await self._conn.scalar(
            select(func.count()).select_from(InterventionRow).where(*conditions)
        )
        return await self._with_children(rows), int(total or 0)

    async def due_for_breach(self, now: datetime, *, limit: int) -> list[Intervention]:
        """Interventions with a deadline passed unmet and unannounced, locked for this
        transaction; rows another replica holds are skipped (it announces them)."""
        ids = (
            await self._conn.execute(
                text(
                    """
                    SELECT id FROM intervention.interventions
                    WHERE id IN (
                        (SELECT id FROM intervention.interventions
                          WHERE responded_at IS NULL AND response_breached_at IS NULL
                            AND cancelled_at IS NULL AND response_due_at <= :now
                          ORDER BY response_due_at LIMIT :limit)
                        UNION
                        (SELECT id FROM intervention.interventions
                          WHERE completed_at IS NULL AND resolution_breached_at IS NULL
                            AND cancelled_at IS NULL AND resolution_due_at <= :now
                          ORDER BY resolution_due_at LIMIT :limit)
                    )
                    FOR UPDATE SKIP LOCKED
                    """
                ),
                {"now": now, "limit": limit},
            )
        ).scalars()
        id_list = list(ids)
        if not id_list:
            return []
        rows = (
            await self._conn.execute(
                select(InterventionRow).where(col(InterventionRow.id).in_(id_list))
            )
        ).all()
        return await self._with_children(rows, sessions=False)

    async def billable(
        self, *, org_id: UUID | None, start: datetime, end: datetime
    ) -> list[BillableEntry]:
        """Work-log entries whose `at` lies in [start, end), in scope, summed per key."""
        conditions = [
            in_scope(col(WorkLogRow.org_id), self._uow.scope),
            col(WorkLogRow.at) >= start,
            col(WorkLogRow.at) < end,
        ]
        if org_id is not None:
            conditions.append(col(WorkLogRow.org_id) == org_id)
        rows = await self._conn.execute(
            select(
                col(WorkLogRow.org_id),
                col(WorkLogRow.intervention_id),
                col(InterventionRow.type),
                col(WorkLogRow.user_id),
                func.sum(col(WorkLogRow.quarters)).label("quarters"),
            )
            .join(InterventionRow, col(InterventionRow.id) == col(WorkLogRow.intervention_id))
            .where(*conditions)
            .group_by(
                col(WorkLogRow.org_id),
                col(WorkLogRow.intervention_id),
                col(InterventionRow.type),
                col(WorkLogRow.user_id),
            )
            .order_by(
                col(WorkLogRow.org_id), col(WorkLogRow.intervention_id), col(WorkLogRow.user_id)
            )
        )
        return [
            BillableEntry(
                org_id=row.org_id,
                intervention_id=row.intervention_id,
                type=InterventionType(row.type),
                user_id=row.user_id,
                quarters=int(row.quarters),
            )
            for row in rows
        ]

    async def _with_children(
        self, rows: Sequence[Any], *, sessions: bool = True
    ) -> list[Intervention]:
        ids = [row.id for row in rows]
        work: dict[UUID, list[WorkEntry]] = defaultdict(list)
        remote: dict[UUID, list[RemoteSession]] = defaultdict(list)
        if ids:
            for entry in await self._conn.execute(
                select(WorkLogRow)
                .where(col(WorkLogRow.intervention_id).in_(ids))
                .order_by(col(WorkLogRow.at), col(WorkLogRow.id))
            ):
                work[entry.intervention_id].append(
                    WorkEntry(
                        id=entry.id,
                        at=entry.at,
                        user_id=entry.user_id,
                        quarters=entry.quarters,
                        note=entry.note,
                    )
                )
            if sessions:
                for session in await self._conn.execute(
                    select(RemoteSessionRow)
                    .where(col(RemoteSessionRow.intervention_id).in_(ids))
                    .order_by(col(RemoteSessionRow.started_at))
                ):
                    remote[session.intervention_id].append(
                        RemoteSession(
                            id=session.id,
                            technician_id=session.technician_id,
                            service=session.service,
                            status=session.status,
                            started_at=session.started_at,
                            ended_at=session.ended_at,
                        )
                    )
        return [_intervention(row, tuple(work[row.id]), tuple(remote[row.id])) for row in rows]


class RemoteSessions:
    """The remote-access sessions that name an intervention, version-guarded."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def record(
        self,
        *,
        session_id: UUID,
        org_id: UUID,
        intervention_id: UUID,
        technician_id: UUID,
        service: str,
        started_at: datetime,
        ended_at: datetime | None,
        version: int,
    ) -> None:
        statement = pg_insert(RemoteSessionRow).values(
            id=session_id,
            org_id=org_id,
            intervention_id=intervention_id,
            technician_id=technician_id,
            service=service,
            status="active" if ended_at is None else "ended",
            started_at=started_at,
            ended_at=ended_at,
            version=version,
        )
        new = statement.excluded
        table = RemoteSessionRow.__table__
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.id],
                set_={"status": new.status, "ended_at": new.ended_at, "version": new.version},
                where=table.c.version < new.version,
            )
        )

    async def end(self, *, session_id: UUID, at: datetime, version: int) -> None:
        """An ended session, if we hold it (only sessions naming an intervention are kept)."""
        await self._conn.execute(
            update(RemoteSessionRow)
            .where(col(RemoteSessionRow.id) == session_id, col(RemoteSessionRow.version) < version)
            .values(status="ended", ended_at=at, version=version)
        )


class OrgDirectory:
    """Organizations as the organization service's events (or its internal read) state them."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._conn = uow.conn

    async def record(
        self,
        *,
        org_id: UUID,
        name: str,
        type: str,
        status: str,
        settings: dict[str, Any],
        version: int,
    ) -> None:
        """The directory's one write, version-guarded: events and fetches both come here."""
        statement = pg_insert(OrgDirectoryRow).values(
            id=org_id, name=name, type=type, status=status, settings=settings, version=version
        )
        new = statement.excluded
        table = OrgDirectoryRow.__table__
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.id],
                set_={
                    "name": new.name,
                    "type": new.type,
                    "status": new.status,
                    "settings": new.settings,
                    "version": new.version,
                },
                where=table.c.version < new.version,
            )
        )

    async def find(self, org_id: UUID) -> Organization | None:
        """From the directory, or from the owner when the directory lacks it."""

        async def load() -> Organization | None:
            row = (
                await self._conn.execute(
                    select(OrgDirectoryRow).where(col(OrgDirectoryRow.id) == org_id)
                )
            ).first()
            if row is None:
                return None
            return Organization(
                id=row.id,
                type=row.type,
                status=row.status,
                settings=row.settings,
                version=row.version,
            )

        return await self._uow.projection(ORG_DIRECTORY).find(org_id, load)


class GrantDirectory:
    """The technician grants projection, asked whether a grant opens an organization now."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._conn = uow.conn

    async def holds_active_grant(self, technician_id: UUID, org_id: UUID, now: datetime) -> bool:
        """An active, unexpired grant whose time window admits `now`. The technician's
        address is not known here (it is checked when the technician works)."""
        table = technician_grants
        rows = await self._conn.execute(
            select(
                table.c.expires_at,
                table.c.allowed_services,
                table.c.time_restrictions,
            ).where(
                table.c.technician_id == technician_id,
                table.c.org_id == org_id,
                table.c.status == "active",
                table.c.expires_at > now,
            )
        )
        for row in rows:
            terms = GrantTerms.model_validate(
                {
                    "expiresAt": row.expires_at,
                    "allowedServices": row.allowed_services,
                    "ipRestrictions": [],
                    "timeRestrictions": row.time_restrictions,
                }
            )
            if terms.refusal(now=now, ip=None) is None:
                return True
        return False


def _columns(item: Intervention) -> dict[str, Any]:
    return {
        "id": item.id,
        "org_id": item.org_id,
        "title": item.title,
        "description": item.description,
        "priority": item.priority.value,
        "type": item.type.value,
        "status": item.status.value,
        "requested_by": item.requested_by,
        "assigned_to": item.assigned_to,
        "estimated_hours": item.estimated_hours,
        "scheduled_for": item.scheduled_for,
        "completed_at": item.completed_at,
        "cancelled_at": item.cancelled_at,
        "cancel_reason": item.cancel_reason,
        "summary": item.summary,
        "source_alert_id": item.source_alert_id,
        "response_due_at": item.response_due_at,
        "resolution_due_at": item.resolution_due_at,
        "responded_at": item.responded_at,
        "response_breached_at": item.response_breached_at,
        "resolution_breached_at": item.resolution_breached_at,
        "version": item.version,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


def _intervention(
    row: Any, work: tuple[WorkEntry, ...], sessions: tuple[RemoteSession, ...]
) -> Intervention:
    return Intervention(
        id=row.id,
        org_id=row.org_id,
        title=row.title,
        description=row.description,
        priority=Priority(row.priority),
        type=InterventionType(row.type),
        status=Status(row.status),
        requested_by=row.requested_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        response_due_at=row.response_due_at,
        resolution_due_at=row.resolution_due_at,
        version=row.version,
        assigned_to=row.assigned_to,
        estimated_hours=row.estimated_hours,
        scheduled_for=row.scheduled_for,
        responded_at=row.responded_at,
        completed_at=row.completed_at,
        cancelled_at=row.cancelled_at,
        cancel_reason=row.cancel_reason,
        summary=row.summary,
        source_alert_id=row.source_alert_id,
        response_breached_at=row.response_breached_at,
        resolution_breached_at=row.resolution_breached_at,
        work_log=work,
        remote_sessions=sessions,
    )
