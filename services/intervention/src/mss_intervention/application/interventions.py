"""Intervention use cases: request, each workflow step, the text update, reads.

Every step loads the intervention locked (`FOR UPDATE`), announces any deadline that
passed unmet first (so a late approval still yields its one breach event, in order),
lets the domain decide, and writes the state and its event in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from mss_contracts.events import (
    EventContext,
    InterventionApproved,
    InterventionAssigned,
    InterventionCancelled,
    InterventionCompleted,
    InterventionRequested,
    InterventionScheduled,
    InterventionStarted,
    InterventionUpdated,
    InterventionWorkLogged,
)
from mss_contracts.interventions import InterventionType, Priority
from mss_contracts.permissions import OrganizationType
from mss_contracts.settings import settings_of
from mss_db import UnitOfWork
from mss_grants import TABLE as GRANT_PROJECTION
from mss_intervention.adapters.repository import (
    GrantDirectory,
    InterventionFilter,
    InterventionRepository,
    OrgDirectory,
)
from mss_intervention.application.events import (
    announce_breaches,
    emit,
    snapshot,
    snapshot_fields,
)
from mss_intervention.domain.errors import (
    GrantRequired,
    InterventionNotFound,
    InvalidIntervention,
    OrganizationNotFound,
    StaleVersion,
)
from mss_intervention.domain.intervention import (
    Intervention,
    actors_of,
    deadlines,
)
from mss_intervention.domain.workflow import Actor, Status


@dataclass(frozen=True, slots=True)
class Caller:
    """Who takes a step: the principal's identity and the permissions the steps read."""

    user_id: UUID
    org_id: UUID
    can_create: bool
    can_assign: bool
    can_update: bool

    def actors(self, item: Intervention) -> frozenset[Actor]:
        return actors_of(
            intervention=item,
            user_id=self.user_id,
            home_org_id=self.org_id,
            can_create=self.can_create,
            can_assign=self.can_assign,
            can_update=self.can_update,
        )


@dataclass(frozen=True, slots=True)
class RequestIntervention:
    org_id: UUID
    title: str
    description: str
    priority: Priority
    type: InterventionType
    requested_by: UUID | None
    # An escalated alert names the intervention it becomes, and itself.
    intervention_id: UUID | None = None
    source_alert_id: UUID | None = None


async def request_intervention(
    cmd: RequestIntervention, *, uow: UnitOfWork, ctx: EventContext
) -> Intervention:
    """A customer organization asks for work; its SLA deadlines are fixed now."""
    org = await OrgDirectory(uow).find(cmd.org_id)
    if org is None or not uow.scope.allows(org.id):
        raise OrganizationNotFound()
    if org.type != OrganizationType.CUSTOMER.value:
        raise InvalidIntervention({"organizationId": "must be a customer organization"})
    if org.status != "active":
        raise InvalidIntervention({"organizationId": "must be an active organization"})
    now = datetime.now(UTC)
    sla = deadlines(cmd.priority, settings_of(org.settings), now)
    item = Intervention(
        id=cmd.intervention_id or uuid4(),
        org_id=org.id,
        title=cmd.title,
        description=cmd.description,
        priority=cmd.priority,
        type=cmd.type,
        status=Status.REQUESTED,
        requested_by=cmd.requested_by,
        created_at=now,
        updated_at=now,
        response_due_at=sla.response_due_at,
        resolution_due_at=sla.resolution_due_at,
        source_alert_id=cmd.source_alert_id,
    )
    await InterventionRepository(uow).add(item)
    await emit(uow, item, snapshot(InterventionRequested, item), ctx)
    await uow.commit()
    return item


async def get_intervention(intervention_id: UUID, *, uow: UnitOfWork) -> Intervention:
    item = await InterventionRepository(uow).get(intervention_id)
    if item is None:
        raise InterventionNotFound()
    return item


async def list_interventions(
    where: InterventionFilter, *, offset: int, limit: int, uow: UnitOfWork
) -> tuple[list[Intervention], int]:
    return await InterventionRepository(uow).page(where, offset=offset, limit=limit)


async def _load(uow: UnitOfWork, intervention_id: UUID, if_match: int | None) -> Intervention:
    item = await InterventionRepository(uow).get(intervention_id, for_update=True)
    if item is None:
        raise InterventionNotFound()
    if if_match is not None and if_match != item.version:
        raise StaleVersion(item.version)
    return item


async def _require_grant(uow: UnitOfWork, technician_id: UUID, org_id: UUID, now: datetime) -> None:
    """A grant made a moment ago counts: a miss asks the organization service first."""
    grants = GrantDirectory(uow)

    async def load() -> bool | None:
        return True if await grants.holds_active_grant(technician_id, org_id, now) else None

    if not await uow.projection(GRANT_PROJECTION).find(technician_id, load):
        raise GrantRequired()


Step = Callable[[Intervention, datetime], Intervention]


async def _take(
    intervention_id: UUID,
    step: Step,
    event: type[InterventionApproved]
    | type[InterventionAssigned]
    | type[InterventionScheduled]
    | type[InterventionStarted],
    *,
    uow: UnitOfWork,
    ctx: EventContext,
    if_match: int | None,
) -> Intervention:
    now = datetime.now(UTC)
    item = await announce_breaches(uow, await _load(uow, intervention_id, if_match), now, ctx)
    after = step(item, now)
    await InterventionRepository(uow).save(after)
    await emit(uow, after, snapshot(event, after), ctx)
    await uow.commit()
    return after


async def approve_intervention(
    intervention_id: UUID,
    *,
    caller: Caller,
    uow: UnitOfWork,
    ctx: EventContext,
    if_match: int | None = None,
) -> Intervention:
    """The provider's response: it stops the response clock."""
    return await _take(
        intervention_id,
        lambda item, now: item.approve(caller.actors(item), now),
        InterventionApproved,
        uow=uow,
        ctx=ctx,
        if_match=if_match,
    )


async def assign_intervention(
    intervention_id: UUID,
    technician_id: UUID,
    *,
    caller: Caller,
    uow: UnitOfWork,
    ctx: EventContext,
    if_match: int | None = None,
) -> Intervention:
    """Only a technician holding an active grant for the organization right now."""
    now = datetime.now(UTC)
    item = await announce_breaches(uow, await _load(uow, intervention_id, if_match), now, ctx)
    after = item.assign(caller.actors(item), technician_id, now)
    await _require_grant(uow, technician_id, item.org_id, now)
    await InterventionRepository(uow).save(after)
    await emit(uow, after, snapshot(InterventionAssigned, after), ctx)
    await uow.commit()
    return after


async def schedule_intervention(
    intervention_id: UUID,
    *,
    scheduled_for: datetime,
    estimated_hours: float | None,
    caller: Caller,
    uow: UnitOfWork,
    ctx: EventContext,
    if_match: int | None = None,
) -> Intervention:
    return await _take(
        intervention_id,
        lambda item, now: item.schedule(
            caller.actors(item),
            scheduled_for=scheduled_for,
            estimated_hours=estimated_hours,
            now=now,
        ),
        InterventionScheduled,
        uow=uow,
        ctx=ctx,
        if_match=if_match,
    )


async def start_intervention(
    intervention_id: UUID,
    *,
    caller: Caller,
    uow: UnitOfWork,
    ctx: EventContext,
    if_match: int | None = None,
) -> Intervention:
    """The assigned technician, inside an active grant."""
    now = datetime.now(UTC)
    item = await announce_breaches(uow, await _load(uow, intervention_id, if_match), now, ctx)
    after = item.start(caller.actors(item), now)
    await _require_grant(uow, caller.user_id, item.org_id, now)
    await InterventionRepository(uow).save(after)
    await emit(uow, after, snapshot(InterventionStarted, after), ctx)
    await uow.commit()
    return after


async def log_work(
    intervention_id: UUID,
    *,
    hours: float,
    note: str | None,
    at: datetime | None,
    caller: Caller,
    uow: UnitOfWork,
    ctx: EventContext,
) -> Intervention:
    """The assigned technician's hours, while in progress and inside a grant."""
    now = datetime.now(UTC)
    item = await announce_breaches(uow, await _load(uow, intervention_id, None), now, ctx)
    after, entry = item.log_work(
        caller.actors(item),
        entry_id=uuid4(),
        user_id=caller.user_id,
        hours=hours,
        note=note,
        at=at,
        now=now,
    )
    await _require_grant(uow, caller.user_id, item.org_id, now)
    repository = InterventionRepository(uow)
    await repository.add_work(after, entry)
    await repository.save(after)
    data = InterventionWorkLogged(
        **snapshot_fields(after),
        entry_id=entry.id,
        entry_at=entry.at,
        entry_user_id=entry.user_id,
        entry_hours=entry.hours,
    )
    await emit(uow, after, data, ctx)
    await uow.commit()
    return after


async def complete_intervention(
    intervention_id: UUID,
    *,
    summary: str,
    caller: Caller,
    uow: UnitOfWork,
    ctx: EventContext,
    if_match: int | None = None,
) -> Intervention:
    now = datetime.now(UTC)
    item = await announce_breaches(uow, await _load(uow, intervention_id, if_match), now, ctx)
    after = item.complete(caller.actors(item), summary, now)
    await _require_grant(uow, caller.user_id, item.org_id, now)
    await InterventionRepository(uow).save(after)
    await emit(uow, after, InterventionCompleted(**snapshot_fields(after), summary=summary), ctx)
    await uow.commit()
    return after


async def cancel_intervention(
    intervention_id: UUID,
    *,
    reason: str,
    caller: Caller,
    uow: UnitOfWork,
    ctx: EventContext,
    if_match: int | None = None,
) -> Intervention:
    now = datetime.now(UTC)
    item = await announce_breaches(uow, await _load(uow, intervention_id, if_match), now, ctx)
    after = item.cancel(caller.actors(item), reason, now)
    await InterventionRepository(uow).save(after)
    await emit(uow, after, InterventionCancelled(**snapshot_fields(after), reason=reason), ctx)
    await uow.commit()
    return after


async def update_intervention(
    intervention_id: UUID,
    *,
    title: str | None,
    description: str | None,
    caller: Caller,
    uow: UnitOfWork,
    ctx: EventContext,
    if_match: int | None = None,
) -> Intervention:
    now = datetime.now(UTC)
    item = await _load(uow, intervention_id, if_match)
    after, changed = item.update(caller.actors(item), title=title, description=description, now=now)
    if not changed:
        return item
    await InterventionRepository(uow).save(after)
    await emit(uow, after, InterventionUpdated(**snapshot_fields(after), changed=changed), ctx)
    await uow.commit()
    return after
