"""An intervention (a customer's request for work), its steps, its work log and SLA clocks.

Each step checks the workflow table first (403 when it is not the caller's step, 409 with
the current status when the status does not allow it), then its own values, and answers
the intervention after it with the version incremented. Pure: no I/O, the clock is passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from mss_contracts.interventions import InterventionType, Priority
from mss_contracts.settings import OrgSettings
from mss_intervention.domain.errors import (
    InvalidIntervention,
    InvalidTransition,
    StepForbidden,
)
from mss_intervention.domain.workflow import Actor, Status, Step, Verdict, judge, target

MIN_HOURS = 0.25
MAX_HOURS = 24.0
QUARTERS_PER_HOUR = 4
# Work may be logged for the past (yesterday's call written up today), not for the future.
MAX_LOG_AHEAD = timedelta(minutes=5)


class BreachKind(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"


def quarters_of(hours: float, *, field_name: str = "hours") -> int:
    """Hours as whole quarter hours; 0.25–24 on quarter steps, else a 422 naming the field."""
    quarters = hours * QUARTERS_PER_HOUR
    if not MIN_HOURS <= hours <= MAX_HOURS:
        raise InvalidIntervention({field_name: f"must be between {MIN_HOURS} and {MAX_HOURS}"})
    if quarters != round(quarters):
        raise InvalidIntervention({field_name: "must be a multiple of 0.25 (a quarter hour)"})
    return round(quarters)


@dataclass(frozen=True, slots=True)
class SlaDeadlines:
    response_due_at: datetime
    resolution_due_at: datetime


def deadlines(priority: Priority, settings: OrgSettings, requested_at: datetime) -> SlaDeadlines:
    """Fixed at request time from the organization's targets (fractional hours allowed)."""
    return SlaDeadlines(
        response_due_at=requested_at
        + timedelta(hours=settings.sla_response_targets.hours(priority.value)),
        resolution_due_at=requested_at
        + timedelta(hours=settings.sla_targets.hours(priority.value)),
    )


@dataclass(frozen=True, slots=True)
class WorkEntry:
    id: UUID
    at: datetime
    user_id: UUID
    quarters: int
    note: str | None

    @property
    def hours(self) -> float:
        return self.quarters / QUARTERS_PER_HOUR


@dataclass(frozen=True, slots=True)
class RemoteSession:
    """A remote-access session the organization service opened naming this intervention."""

    id: UUID
    technician_id: UUID
    service: str
    status: str  # active | ended
    started_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Intervention:
    id: UUID
    org_id: UUID
    title: str
    description: str
    priority: Priority
    type: InterventionType
    status: Status
    requested_by: UUID | None
    created_at: datetime
    updated_at: datetime
    response_due_at: datetime
    resolution_due_at: datetime
    version: int = 1
    assigned_to: UUID | None = None
    estimated_hours: float | None = None
    scheduled_for: datetime | None = None
    responded_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    summary: str | None = None
    source_alert_id: UUID | None = None
    response_breached_at: datetime | None = None
    resolution_breached_at: datetime | None = None
    work_log: tuple[WorkEntry, ...] = ()
    remote_sessions: tuple[RemoteSession, ...] = field(default=())

    # --- reading ----------------------------------------------------------------------

    @property
    def actual_hours(self) -> float:
        return sum(entry.quarters for entry in self.work_log) / QUARTERS_PER_HOUR

    def response_breached(self, now: datetime) -> bool:
        """The response deadline passed before the approval (or before now, still unmet)."""
        stop = self.responded_at or self.cancelled_at or now
        return self.response_breached_at is not None or stop > self.response_due_at

    def resolution_breached(self, now: datetime) -> bool:
        stop = self.completed_at or self.cancelled_at or now
        return self.resolution_breached_at is not None or stop > self.resolution_due_at

    def due_breaches(self, now: datetime) -> list[BreachKind]:
        """Deadlines passed unmet whose breach is not announced yet (at most once each)."""
        due = []
        if (
            self.response_breached_at is None
            and self.responded_at is None
            and self.cancelled_at is None
            and now >= self.response_due_at
        ):
            due.append(BreachKind.RESPONSE)
        if (
            self.resolution_breached_at is None
            and self.completed_at is None
            and self.cancelled_at is None
            and now >= self.resolution_due_at
        ):
            due.append(BreachKind.RESOLUTION)
        return due

    def record_breach(self, kind: BreachKind, now: datetime) -> Intervention:
        if kind is BreachKind.RESPONSE:
            return self._changed(now, response_breached_at=now)
        return self._changed(now, resolution_breached_at=now)

    # --- steps ------------------------------------------------------------------------

    def check(self, step: Step, actors: frozenset[Actor]) -> None:
        """403 when `step` is none of `actors`' business, 409 when the status refuses it."""
        verdict = judge(step, actors, self.status)
        if verdict is Verdict.NOT_YOURS:
            raise StepForbidden(f"This caller may not {step.value.replace('_', ' ')} it")
        if verdict is Verdict.WRONG_STATE:
            raise InvalidTransition(step.value, self.status.value)

    def approve(self, actors: frozenset[Actor], now: datetime) -> Intervention:
        self.check(Step.APPROVE, actors)
        return self._step(Step.APPROVE, now, responded_at=now)

    def assign(self, actors: frozenset[Actor], technician_id: UUID, now: datetime) -> Intervention:
        self.check(Step.ASSIGN, actors)
        return self._step(Step.ASSIGN, now, assigned_to=technician_id)

    def schedule(
        self,
        actors: frozenset[Actor],
        *,
        scheduled_for: datetime,
        estimated_hours: float | None,
        now: datetime,
    ) -> Intervention:
        self.check(Step.SCHEDULE, actors)
        problems = {}
        if scheduled_for <= now:
            problems["scheduledFor"] = "must be in the future"
        if estimated_hours is not None:
            try:
                quarters_of(estimated_hours, field_name="estimatedHours")
            except InvalidIntervention as exc:
                problems.update(exc.problems)
        if problems:
            raise InvalidIntervention(problems)
        return self._step(
            Step.SCHEDULE, now, scheduled_for=scheduled_for, estimated_hours=estimated_hours
        )

    def start(self, actors: frozenset[Actor], now: datetime) -> Intervention:
        self.check(Step.START, actors)
        return self._step(Step.START, now)

    def log_work(
        self,
        actors: frozenset[Actor],
        *,
        entry_id: UUID,
        user_id: UUID,
        hours: float,
        note: str | None,
        at: datetime | None,
        now: datetime,
    ) -> tuple[Intervention, WorkEntry]:
        self.check(Step.LOG_WORK, actors)
        quarters = quarters_of(hours)
        moment = at or now
        if moment > now + MAX_LOG_AHEAD:
            raise InvalidIntervention({"at": "must not be in the future"})
        entry = WorkEntry(id=entry_id, at=moment, user_id=user_id, quarters=quarters, note=note)
        return self._step(Step.LOG_WORK, now, work_log=(*self.work_log, entry)), entry

    def complete(self, actors: frozenset[Actor], summary: str, now: datetime) -> Intervention:
        self.check(Step.COMPLETE, actors)
        return self._step(Step.COMPLETE, now, summary=summary, completed_at=now)

    def cancel(self, actors: frozenset[Actor], reason: str, now: datetime) -> Intervention:
        self.check(Step.CANCEL, actors)
        return self._step(Step.CANCEL, now, cancel_reason=reason, cancelled_at=now)

    def update(
        self,
        actors: frozenset[Actor],
        *,
        title: str | None,
        description: str | None,
        now: datetime,
    ) -> tuple[Intervention, list[str]]:
        """Edit the text; the priority and deadlines stay as fixed at request time."""
        self.check(Step.UPDATE, actors)
        changes: dict[str, str] = {}
        if title is not None and title != self.title:
            changes["title"] = title
        if description is not None and description != self.description:
            changes["description"] = description
        if not changes:
            return self, []
        return self._changed(now, **changes), sorted(changes)

    def _step(self, step: Step, now: datetime, **changes: object) -> Intervention:
        return self._changed(now, status=target(step, self.status), **changes)

    def _changed(self, now: datetime, **changes: object) -> Intervention:
        return replace(self, version=self.version + 1, updated_at=now, **changes)  # type: ignore[arg-type]


def actors_of(
    *,
    intervention: Intervention,
    user_id: UUID,
    home_org_id: UUID,
    can_create: bool,
    can_assign: bool,
    can_update: bool,
) -> frozenset[Actor]:
    """Who the caller is to `intervention`, from its permissions and attributes."""
    actors = set()
    if can_create and home_org_id == intervention.org_id:
        actors.add(Actor.REQUESTER)
    if can_assign:
        actors.add(Actor.COORDINATOR)
    if can_update and intervention.assigned_to == user_id:
        actors.add(Actor.ASSIGNEE)
    return frozenset(actors)
