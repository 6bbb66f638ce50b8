"""The alert workflow, its dedup key and the folding of an ingest request."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from mss_security.domain.alerts import (
    Alert,
    AlertStatus,
    Category,
    CommentVisibility,
    Resolution,
    Severity,
    comment_visible,
    derive_fingerprint,
)
from mss_security.domain.errors import InvalidAlertTransition, StaleAlertVersion
from mss_security.domain.ingest import IncomingAlert, group_by_dedup_key

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
ANALYST = uuid.uuid4()


def _alert(status: AlertStatus = AlertStatus.OPEN) -> Alert:
    return Alert(
        id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        title="Beacon to known C2",
        description="",
        severity=Severity.HIGH,
        status=status,
        category=Category.MALWARE,
        source="edr",
        source_ref=None,
        fingerprint="f",
        affected_assets=("host-1",),
        observables=(),
        metadata={},
        assigned_to=None,
        occurrence_count=1,
        first_seen_at=NOW,
        last_seen_at=NOW,
        acknowledged_at=None,
        acknowledged_by=None,
        resolved_at=None,
        resolved_by=None,
        resolution=None,
        resolution_note=None,
        previous_alert_id=None,
        enrichment={"matched": False, "indicators": []},
        intervention_id=None,
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )


class TestWorkflow:
    def test_an_open_alert_is_acknowledged_then_resolved_then_reopened(self) -> None:
        acked = _alert().acknowledge(by=ANALYST, now=NOW)
        assert (acked.status, acked.acknowledged_by, acked.version) == (
            AlertStatus.ACKNOWLEDGED,
            ANALYST,
            2,
        )
        resolved = acked.resolve(Resolution.BENIGN, "lab test", by=ANALYST, now=NOW)
        assert resolved.status is AlertStatus.RESOLVED
        assert (resolved.resolution, resolved.resolution_note) == (Resolution.BENIGN, "lab test")
        reopened = resolved.reopen(now=NOW)
        assert reopened.status is AlertStatus.OPEN
        assert reopened.resolution is None
        assert reopened.resolved_at is None
        assert reopened.version == 4

    def test_an_open_alert_may_be_resolved_without_acknowledging(self) -> None:
        resolved = _alert().resolve(Resolution.FALSE_POSITIVE, None, by=ANALYST, now=NOW)
        assert resolved.status is AlertStatus.RESOLVED

    def test_acknowledging_twice_is_refused_with_the_current_status(self) -> None:
        acked = _alert().acknowledge(by=ANALYST, now=NOW)
        with pytest.raises(InvalidAlertTransition) as refused:
            acked.acknowledge(by=ANALYST, now=NOW)
        assert refused.value.details == {"status": "acknowledged"}

    @pytest.mark.parametrize("step", ["acknowledge", "assign", "resolve", "escalate"])
    def test_every_step_from_resolved_but_reopen_is_refused(self, step: str) -> None:
        resolved = _alert(AlertStatus.RESOLVED)
        steps = {
            "acknowledge": lambda: resolved.acknowledge(by=ANALYST, now=NOW),
            "assign": lambda: resolved.assign(ANALYST, now=NOW),
            "resolve": lambda: resolved.resolve(Resolution.BENIGN, None, by=ANALYST, now=NOW),
            "escalate": lambda: resolved.escalate(uuid.uuid4(), now=NOW),
        }
        with pytest.raises(InvalidAlertTransition) as refused:
            steps[step]()
        assert refused.value.details == {"status": "resolved"}

    @pytest.mark.parametrize("status", [AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED])
    def test_only_a_resolved_alert_reopens(self, status: AlertStatus) -> None:
        with pytest.raises(InvalidAlertTransition):
            _alert(status).reopen(now=NOW)

    def test_escalating_links_the_intervention_once(self) -> None:
        intervention = uuid.uuid4()
        escalated = _alert().escalate(intervention, now=NOW)
        assert escalated.intervention_id == intervention
        assert escalated.status is AlertStatus.OPEN
        with pytest.raises(InvalidAlertTransition):
            escalated.escalate(uuid.uuid4(), now=NOW)

    def test_assigning_the_same_user_again_changes_nothing(self) -> None:
        assigned = _alert().assign(ANALYST, now=NOW)
        assert (assigned.assigned_to, assigned.version, assigned.changed) == (
            ANALYST,
            2,
            ("assigned_to",),
        )
        again = assigned.assign(ANALYST, now=NOW)
        assert (again.version, again.changed) == (2, ())
        assert assigned.assign(None, now=NOW).assigned_to is None

    def test_an_update_names_only_the_fields_that_differ(self) -> None:
        alert = _alert()
        updated = alert.update(
            {"title": alert.title, "severity": Severity.CRITICAL}, NOW + timedelta(seconds=1)
        )
        assert updated.changed == ("severity",)
        assert updated.version == 2
        assert alert.update({"title": alert.title}, NOW).version == 1

    def test_a_stale_if_match_version_is_refused(self) -> None:
        alert = _alert()
        alert.check_version(None)
        alert.check_version(1)
        with pytest.raises(StaleAlertVersion):
            alert.check_version(2)


class TestStoredCodes:
    def test_severity_ranks_sort_low_to_critical_and_round_trip(self) -> None:
        ranks = [s.rank for s in Severity]
        assert ranks == sorted(ranks)
        assert all(Severity.of_rank(s.rank) is s for s in Severity)

    def test_unresolved_statuses_have_the_codes_below_resolved(self) -> None:
        assert AlertStatus.OPEN.code < AlertStatus.RESOLVED.code
        assert AlertStatus.ACKNOWLEDGED.code < AlertStatus.RESOLVED.code
        assert all(AlertStatus.of_code(s.code) is s for s in AlertStatus)


class TestFingerprint:
    def test_a_source_ref_alone_identifies_the_alert(self) -> None:
        a = derive_fingerprint(
            source="siem", source_ref="R1", category="malware", title="a", assets=[]
        )
        b = derive_fingerprint(
            source="siem", source_ref="R1", category="other", title="b", assets=["h"]
        )
        assert a == b

    def test_without_source_ref_asset_order_does_not_matter(self) -> None:
        a = derive_fingerprint(
            source="s", source_ref=None, category="c", title="t", assets=["x", "y"]
        )
        b = derive_fingerprint(
            source="s", source_ref=None, category="c", title="t", assets=["y", "x"]
        )
        assert a == b

    def test_parts_never_run_into_each_other(self) -> None:
        a = derive_fingerprint(source="s", source_ref=None, category="c", title="a b", assets=["c"])
        b = derive_fingerprint(source="s", source_ref=None, category="c", title="a", assets=["b c"])
        assert a != b


def _incoming(org: uuid.UUID, fingerprint: str, seen: datetime) -> IncomingAlert:
    return IncomingAlert(
        org_id=org,
        title="t",
        description="",
        severity=Severity.LOW,
        category=Category.OTHER,
        source="siem",
        source_ref=None,
        fingerprint=fingerprint,
        seen_at=seen,
        affected_assets=(),
        observables=(),
        metadata={},
    )


class TestGrouping:
    def test_duplicates_in_one_request_fold_into_one_group_with_their_count(self) -> None:
        org = uuid.uuid4()
        later = NOW + timedelta(minutes=5)
        items = [_incoming(org, "b", NOW), _incoming(org, "a", NOW), _incoming(org, "b", later)]
        groups = group_by_dedup_key(items)
        assert [g.first.fingerprint for g in groups] == ["a", "b"]
        b = groups[1]
        assert (b.indexes, b.count) == ([0, 2], 2)
        assert (b.first_seen_at, b.last_seen_at) == (NOW, later)

    def test_the_same_fingerprint_in_two_organizations_is_two_alerts(self) -> None:
        items = [_incoming(uuid.uuid4(), "a", NOW), _incoming(uuid.uuid4(), "a", NOW)]
        assert len(group_by_dedup_key(items)) == 2


def test_customers_read_only_customer_comments() -> None:
    assert comment_visible(CommentVisibility.CUSTOMER, customer_reader=True)
    assert not comment_visible(CommentVisibility.INTERNAL, customer_reader=True)
    assert comment_visible(CommentVisibility.INTERNAL, customer_reader=False)
