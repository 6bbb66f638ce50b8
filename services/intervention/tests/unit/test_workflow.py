"""The intervention state machine: the table walked step by step, with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from mss_contracts.settings import OrgSettings
from mss_intervention.domain.errors import InvalidIntervention, InvalidTransition, StepForbidden
from mss_intervention.domain.intervention import (
    BreachKind,
    Intervention,
    InterventionType,
    Priority,
    actors_of,
    deadlines,
    quarters_of,
)
from mss_intervention.domain.workflow import ALLOWED, Actor, Status, Step, Verdict, judge

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
COORDINATOR = frozenset({Actor.COORDINATOR})
REQUESTER = frozenset({Actor.REQUESTER})
ASSIGNEE = frozenset({Actor.ASSIGNEE})


def requested(**changes: object) -> Intervention:
    sla = deadlines(Priority.HIGH, OrgSettings(), NOW)
    base = Intervention(
        id=uuid4(),
        org_id=uuid4(),
        title="Patch the VPN",
        description="CVE on the edge",
        priority=Priority.HIGH,
        type=InterventionType.VULNERABILITY_REMEDIATION,
        status=Status.REQUESTED,
        requested_by=uuid4(),
        created_at=NOW,
        updated_at=NOW,
        response_due_at=sla.response_due_at,
        resolution_due_at=sla.resolution_due_at,
    )
    return base if not changes else Intervention(**{**_fields(base), **changes})  # type: ignore[arg-type]


def _fields(item: Intervention) -> dict[str, object]:
    return {name: getattr(item, name) for name in Intervention.__slots__}


def in_progress() -> Intervention:
    technician = uuid4()
    item = requested().approve(COORDINATOR, NOW)
    item = item.assign(COORDINATOR, technician, NOW)
    item = item.schedule(
        COORDINATOR, scheduled_for=NOW + timedelta(days=1), estimated_hours=2, now=NOW
    )
    return item.start(ASSIGNEE, NOW)


class TestTheTable:
    def test_the_happy_path_walks_requested_to_completed(self) -> None:
        item = in_progress()
        item, _entry = item.log_work(
            ASSIGNEE, entry_id=uuid4(), user_id=uuid4(), hours=1.5, note=None, at=None, now=NOW
        )
        done = item.complete(ASSIGNEE, "patched", NOW)
        assert done.status is Status.COMPLETED
        assert done.actual_hours == 1.5
        assert done.responded_at == NOW
        assert done.version == 7  # requested + approve, assign, schedule, start, log, complete

    @pytest.mark.parametrize("status", list(Status))
    def test_every_step_from_every_status_is_allowed_refused_or_not_the_callers(
        self, status: Status
    ) -> None:
        for step in Step:
            for actor in Actor:
                verdict = judge(step, [actor], status)
                allowed = ALLOWED.get((step, actor))
                if allowed is None:
                    assert verdict is Verdict.NOT_YOURS
                elif status in allowed:
                    assert verdict is Verdict.ALLOWED
                else:
                    assert verdict is Verdict.WRONG_STATE

    @pytest.mark.parametrize("status", [Status.COMPLETED, Status.CANCELLED])
    def test_nothing_moves_an_ended_intervention(self, status: Status) -> None:
        for step in Step:
            assert judge(step, list(Actor), status) is not Verdict.ALLOWED

    def test_approving_twice_is_a_conflict_naming_the_status(self) -> None:
        item = requested().approve(COORDINATOR, NOW)
        with pytest.raises(InvalidTransition) as caught:
            item.approve(COORDINATOR, NOW)
        assert caught.value.details == {"status": "approved"}

    def test_starting_before_scheduling_is_a_conflict(self) -> None:
        item = requested().approve(COORDINATOR, NOW)
        with pytest.raises(InvalidTransition):
            item.start(ASSIGNEE, NOW)

    def test_a_customer_may_not_approve(self) -> None:
        with pytest.raises(StepForbidden):
            requested().approve(REQUESTER, NOW)

    def test_a_coordinator_may_not_log_work(self) -> None:
        with pytest.raises(StepForbidden):
            in_progress().log_work(
                COORDINATOR, entry_id=uuid4(), user_id=uuid4(), hours=1, note=None, at=None, now=NOW
            )


class TestCancelRules:
    def test_the_requester_cancels_before_scheduling(self) -> None:
        item = requested().approve(COORDINATOR, NOW)
        assert item.cancel(REQUESTER, "no longer needed", NOW).status is Status.CANCELLED

    def test_the_requester_cannot_cancel_once_scheduled(self) -> None:
        item = in_progress()
        with pytest.raises(InvalidTransition) as caught:
            item.cancel(REQUESTER, "too late", NOW)
        assert caught.value.details == {"status": "in_progress"}

    def test_a_coordinator_cancels_any_time_before_completion(self) -> None:
        cancelled = in_progress().cancel(COORDINATOR, "customer asked", NOW)
        assert cancelled.status is Status.CANCELLED
        assert cancelled.cancelled_at == NOW
        assert cancelled.cancel_reason == "customer asked"

    def test_nobody_cancels_a_completed_intervention(self) -> None:
        done = in_progress().complete(ASSIGNEE, "done", NOW)
        with pytest.raises(InvalidTransition):
            done.cancel(COORDINATOR | REQUESTER, "oops", NOW)


class TestWorkLog:
    @pytest.mark.parametrize(("hours", "quarters"), [(0.25, 1), (1, 4), (7.75, 31), (24, 96)])
    def test_quarter_hours_are_accepted(self, hours: float, quarters: int) -> None:
        assert quarters_of(hours) == quarters

    @pytest.mark.parametrize("hours", [0, -1, 0.1, 1.3, 24.25, 100])
    def test_other_hours_are_refused_naming_the_field(self, hours: float) -> None:
        with pytest.raises(InvalidIntervention) as caught:
            quarters_of(hours)
        assert set(caught.value.problems) == {"hours"}

    def test_work_cannot_be_logged_for_the_future(self) -> None:
        with pytest.raises(InvalidIntervention) as caught:
            in_progress().log_work(
                ASSIGNEE,
                entry_id=uuid4(),
                user_id=uuid4(),
                hours=1,
                note=None,
                at=NOW + timedelta(hours=1),
                now=NOW,
            )
        assert set(caught.value.problems) == {"at"}

    def test_scheduling_in_the_past_names_the_field(self) -> None:
        item = requested().approve(COORDINATOR, NOW)
        with pytest.raises(InvalidIntervention) as caught:
            item.schedule(
                COORDINATOR, scheduled_for=NOW - timedelta(hours=1), estimated_hours=0.3, now=NOW
            )
        assert set(caught.value.problems) == {"scheduledFor", "estimatedHours"}


class TestSla:
    def test_deadlines_come_from_the_settings_at_request_time(self) -> None:
        settings = OrgSettings.model_validate(
            {"slaTargets": {"critical": 2}, "slaResponseTargets": {"critical": 0.5}}
        )
        sla = deadlines(Priority.CRITICAL, settings, NOW)
        assert sla.response_due_at == NOW + timedelta(minutes=30)
        assert sla.resolution_due_at == NOW + timedelta(hours=2)

    def test_default_response_targets_per_priority(self) -> None:
        hours = {
            priority: deadlines(priority, OrgSettings(), NOW).response_due_at - NOW
            for priority in Priority
        }
        assert hours == {
            Priority.CRITICAL: timedelta(hours=1),
            Priority.HIGH: timedelta(hours=4),
            Priority.MEDIUM: timedelta(hours=8),
            Priority.LOW: timedelta(hours=24),
        }

    def test_an_unmet_deadline_is_due_once(self) -> None:
        item = requested()
        later = item.response_due_at + timedelta(seconds=1)
        assert item.due_breaches(later) == [BreachKind.RESPONSE]
        breached = item.record_breach(BreachKind.RESPONSE, later)
        assert breached.due_breaches(later) == []
        assert breached.response_breached(later)

    def test_an_approval_in_time_stops_the_response_clock(self) -> None:
        item = requested().approve(COORDINATOR, NOW)
        later = item.resolution_due_at - timedelta(seconds=1)
        assert item.due_breaches(later) == []
        assert not item.response_breached(later)

    def test_a_cancelled_intervention_breaches_nothing_more(self) -> None:
        item = requested().cancel(REQUESTER, "never mind", NOW)
        assert item.due_breaches(item.resolution_due_at + timedelta(days=1)) == []


class TestActors:
    def test_a_customer_is_requester_only_in_its_own_organization(self) -> None:
        item = requested()
        own = actors_of(
            intervention=item,
            user_id=uuid4(),
            home_org_id=item.org_id,
            can_create=True,
            can_assign=False,
            can_update=False,
        )
        other = actors_of(
            intervention=item,
            user_id=uuid4(),
            home_org_id=uuid4(),
            can_create=True,
            can_assign=False,
            can_update=False,
        )
        assert own == REQUESTER
        assert other == frozenset()

    def test_only_the_assigned_technician_is_the_assignee(self) -> None:
        technician = uuid4()
        item = requested(assigned_to=technician)
        assert Actor.ASSIGNEE in actors_of(
            intervention=item,
            user_id=technician,
            home_org_id=uuid4(),
            can_create=False,
            can_assign=False,
            can_update=True,
        )
        assert not actors_of(
            intervention=item,
            user_id=uuid4(),
            home_org_id=uuid4(),
            can_create=False,
            can_assign=False,
            can_update=True,
        )


class TestSlaResponseTargetsSettings:
    """The organization service stores settings through OrgSettings: the same validation."""

    @pytest.mark.parametrize("value", ["1", 0, -1, 721, True])
    def test_bad_response_targets_are_refused_naming_the_field(self, value: object) -> None:
        from pydantic import ValidationError

        with pytest.raises(ValidationError) as caught:
            OrgSettings.model_validate({"slaResponseTargets": {"high": value}})
        assert [".".join(map(str, e["loc"])) for e in caught.value.errors()] == [
            "slaResponseTargets.high"
        ]

    def test_fractional_hours_are_accepted(self) -> None:
        settings = OrgSettings.model_validate({"slaResponseTargets": {"critical": 0.25}})
        assert settings.sla_response_targets.critical == 0.25
