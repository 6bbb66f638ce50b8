"""The intervention's state machine: which step each kind of actor may take from which status.

One pure table, so the rules read in one place and the unit tests walk all of it:
`requested → approved → scheduled → in_progress → completed`, `cancelled` from any state
before `completed`. Assigning and logging work keep the status; updating the text is open
until the intervention ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Status(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset({Status.REQUESTED, Status.APPROVED, Status.SCHEDULED, Status.IN_PROGRESS})


class Step(StrEnum):
    APPROVE = "approve"
    ASSIGN = "assign"
    SCHEDULE = "schedule"
    START = "start"
    LOG_WORK = "log_work"
    COMPLETE = "complete"
    CANCEL = "cancel"
    UPDATE = "update"


class Actor(StrEnum):
    """Who the caller is to this intervention (one caller may be several)."""

    # holds interventions:create in the requesting organization (a customer user)
    REQUESTER = "requester"
    # holds interventions:assign (analysts, the super admin): the provider's coordinators
    COORDINATOR = "coordinator"
    # the assigned technician, holding interventions:update
    ASSIGNEE = "assignee"


_BEFORE_SCHEDULED = frozenset({Status.REQUESTED, Status.APPROVED})

# (step, actor) → the statuses it may start from. A pair absent here is a 403 (not this
# caller's step); a status absent from its set is a 409 with the current status.
ALLOWED: dict[tuple[Step, Actor], frozenset[Status]] = {
    (Step.APPROVE, Actor.COORDINATOR): frozenset({Status.REQUESTED}),
    (Step.ASSIGN, Actor.COORDINATOR): frozenset({Status.APPROVED, Status.SCHEDULED}),
    (Step.SCHEDULE, Actor.COORDINATOR): frozenset({Status.APPROVED, Status.SCHEDULED}),
    (Step.START, Actor.ASSIGNEE): frozenset({Status.SCHEDULED}),
    (Step.LOG_WORK, Actor.ASSIGNEE): frozenset({Status.IN_PROGRESS}),
    (Step.COMPLETE, Actor.ASSIGNEE): frozenset({Status.IN_PROGRESS}),
    (Step.CANCEL, Actor.REQUESTER): _BEFORE_SCHEDULED,
    (Step.CANCEL, Actor.COORDINATOR): OPEN_STATUSES,
    (Step.UPDATE, Actor.REQUESTER): _BEFORE_SCHEDULED,
    (Step.UPDATE, Actor.COORDINATOR): OPEN_STATUSES,
}

# Where a step leads; a step absent here keeps the status.
TARGET: dict[Step, Status] = {
    Step.APPROVE: Status.APPROVED,
    Step.SCHEDULE: Status.SCHEDULED,
    Step.START: Status.IN_PROGRESS,
    Step.COMPLETE: Status.COMPLETED,
    Step.CANCEL: Status.CANCELLED,
}


class Verdict(StrEnum):
    ALLOWED = "allowed"
    NOT_YOURS = "not_yours"  # 403: none of the caller's roles takes this step
    WRONG_STATE = "wrong_state"  # 409: a role of the caller takes it, but not from here


def judge(step: Step, actors: Iterable[Actor], status: Status) -> Verdict:
    """Whether `actors` may take `step` from `status` (the table, nothing else)."""
    froms = [ALLOWED[(step, actor)] for actor in actors if (step, actor) in ALLOWED]
    if not froms:
        return Verdict.NOT_YOURS
    if any(status in allowed for allowed in froms):
        return Verdict.ALLOWED
    return Verdict.WRONG_STATE


def target(step: Step, status: Status) -> Status:
    """The status after `step` taken from `status`."""
    return TARGET.get(step, status)
