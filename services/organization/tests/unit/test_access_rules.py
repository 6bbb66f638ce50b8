"""Rules of technician access grants and remote access sessions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from mss_contracts.access import AccessLevel, GrantStatus, TimeRestrictions
from mss_contracts.permissions import OrganizationType, Role
from mss_organization.api.schemas import TechnicianAccessCreate
from mss_organization.domain.access import (
    GRANT_MAX_LIFETIME,
    NO_ACTIVE_GRANT,
    RemoteAccessSession,
    SessionStatus,
    StaffMember,
    TechnicianAccess,
    admitting_grant,
    check_new_grant,
)
from mss_organization.domain.errors import (
    GrantNotActive,
    InvalidGrant,
    RemoteAccessRefused,
    RemoteSessionNotActive,
)

# A Wednesday, 10:00 UTC.
NOW = datetime(2030, 1, 2, 10, 0, tzinfo=UTC)


def _grant(**changes: Any) -> TechnicianAccess:
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "org_id": uuid.uuid4(),
        "technician_id": uuid.uuid4(),
        "access_level": AccessLevel.STANDARD,
        "granted_by": uuid.uuid4(),
        "granted_at": NOW - timedelta(days=1),
        "expires_at": NOW + timedelta(days=1),
        "allowed_services": ("ssh", "rdp"),
        "ip_restrictions": (),
        "time_restrictions": None,
        "status": GrantStatus.ACTIVE,
        "notes": None,
        "version": 1,
    }
    values.update(changes)
    return TechnicianAccess(**values)


def _technician(role: Role = Role.TECHNICIAN, status: str = "active") -> StaffMember:
    return StaffMember(
        user_id=uuid.uuid4(), org_id=uuid.uuid4(), role=role, status=status, version=1
    )


class TestGrantLifeCycle:
    def test_an_active_grant_past_its_expiry_reads_as_expired(self) -> None:
        grant = _grant(expires_at=NOW - timedelta(seconds=1))
        assert grant.status is GrantStatus.ACTIVE
        assert grant.effective_status(NOW) is GrantStatus.EXPIRED
        assert _grant().effective_status(NOW) is GrantStatus.ACTIVE

    def test_revoke_records_who_why_and_bumps_the_version(self) -> None:
        by = uuid.uuid4()
        revoked = _grant().revoke(by=by, reason="contract ended", now=NOW)
        assert revoked.status is GrantStatus.REVOKED
        assert (revoked.revoked_by, revoked.revoked_reason, revoked.revoked_at) == (
            by,
            "contract ended",
            NOW,
        )
        assert revoked.version == 2

    def test_revoking_twice_is_an_invalid_transition(self) -> None:
        revoked = _grant().revoke(by=uuid.uuid4(), reason="x", now=NOW)
        with pytest.raises(GrantNotActive):
            revoked.revoke(by=uuid.uuid4(), reason="again", now=NOW)

    def test_a_grant_past_its_expiry_cannot_be_revoked(self) -> None:
        with pytest.raises(GrantNotActive):
            _grant(expires_at=NOW).revoke(by=uuid.uuid4(), reason="late", now=NOW)

    def test_expire_only_once_the_expiry_has_come(self) -> None:
        with pytest.raises(GrantNotActive):
            _grant().expire(NOW)
        expired = _grant(expires_at=NOW).expire(NOW)
        assert expired.status is GrantStatus.EXPIRED
        assert expired.version == 2

    def test_a_revoked_grant_does_not_expire(self) -> None:
        revoked = _grant(expires_at=NOW + timedelta(seconds=1)).revoke(
            by=uuid.uuid4(), reason="x", now=NOW
        )
        with pytest.raises(GrantNotActive):
            revoked.expire(NOW + timedelta(seconds=2))


class TestNewGrant:
    def test_a_customer_org_an_active_technician_and_a_future_expiry_pass(self) -> None:
        check_new_grant(
            org_type=OrganizationType.CUSTOMER,
            technician=_technician(),
            expires_at=NOW + timedelta(hours=1),
            now=NOW,
        )

    @pytest.mark.parametrize(
        "technician",
        [
            None,
            _technician(role=Role.SECURITY_ANALYST),
            _technician(status="inactive"),
            _technician(status="invited"),
            StaffMember(uuid.uuid4(), uuid.uuid4(), None, "inactive", 3),
        ],
    )
    def test_only_an_active_technician_may_hold_a_grant(
        self, technician: StaffMember | None
    ) -> None:
        with pytest.raises(InvalidGrant) as caught:
            check_new_grant(
                org_type=OrganizationType.CUSTOMER,
                technician=technician,
                expires_at=NOW + timedelta(hours=1),
                now=NOW,
            )
        assert set(caught.value.problems) == {"technicianId"}

    def test_a_grant_runs_90_days_at_most(self) -> None:
        assert timedelta(days=90) == GRANT_MAX_LIFETIME
        check_new_grant(
            org_type=OrganizationType.CUSTOMER,
            technician=_technician(),
            expires_at=NOW + GRANT_MAX_LIFETIME,
            now=NOW,
        )
        for too_late in (
            NOW + GRANT_MAX_LIFETIME + timedelta(seconds=1),
            datetime(2099, 1, 1, tzinfo=UTC),
        ):
            with pytest.raises(InvalidGrant) as caught:
                check_new_grant(
                    org_type=OrganizationType.CUSTOMER,
                    technician=_technician(),
                    expires_at=too_late,
                    now=NOW,
                )
            assert caught.value.problems == {"expiresAt": "must be at most 90 days from now"}

    def test_every_broken_rule_is_named(self) -> None:
        with pytest.raises(InvalidGrant) as caught:
            check_new_grant(
                org_type=OrganizationType.MSS_PROVIDER, technician=None, expires_at=NOW, now=NOW
            )
        assert set(caught.value.problems) == {"organizationId", "technicianId", "expiresAt"}


class TestAdmittingGrant:
    def test_no_active_grant_is_refused_as_such(self) -> None:
        revoked = _grant().revoke(by=uuid.uuid4(), reason="x", now=NOW)
        for grants in ([], [revoked]):
            with pytest.raises(RemoteAccessRefused) as caught:
                admitting_grant(grants, now=NOW, ip="10.0.0.1", service="ssh")
            assert caught.value.message == NO_ACTIVE_GRANT

    def test_the_first_admitting_grant_wins(self) -> None:
        narrow = _grant(allowed_services=("rdp",))
        wide = _grant(allowed_services=("ssh",))
        assert admitting_grant([narrow, wide], now=NOW, ip=None, service="ssh") is wide

    @pytest.mark.parametrize(
        ("grant", "ip", "reason"),
        [
            (_grant(allowed_services=("rdp",)), "10.0.0.1", "service 'ssh' is not allowed"),
            (_grant(ip_restrictions=("192.168.0.0/24",)), "10.0.0.1", "IP restrictions"),
            (_grant(ip_restrictions=("192.168.0.0/24",)), None, "IP restrictions"),
            (
                _grant(
                    time_restrictions=TimeRestrictions(
                        timezone="UTC", days=[6, 7], start="08:00", end="18:00"
                    )
                ),
                "10.0.0.1",
                "time restrictions",
            ),
            (_grant(expires_at=NOW), "10.0.0.1", "grant expired"),
        ],
    )
    def test_each_refusal_gives_its_reason(
        self, grant: TechnicianAccess, ip: str | None, reason: str
    ) -> None:
        with pytest.raises(RemoteAccessRefused) as caught:
            admitting_grant([grant], now=NOW, ip=ip, service="ssh")
        assert any(reason in r for r in caught.value.reasons)
        assert reason in caught.value.message

    def test_an_address_inside_the_restrictions_is_admitted(self) -> None:
        grant = _grant(ip_restrictions=("192.168.0.0/24",))
        assert admitting_grant([grant], now=NOW, ip="192.168.0.7", service="ssh") is grant

    def test_reasons_are_not_repeated(self) -> None:
        grants = [_grant(allowed_services=("rdp",)), _grant(allowed_services=("vpn",))]
        with pytest.raises(RemoteAccessRefused) as caught:
            admitting_grant(grants, now=NOW, ip=None, service="ssh")
        assert len(caught.value.reasons) == 1


class TestRemoteSession:
    def _session(self) -> RemoteAccessSession:
        return RemoteAccessSession(
            id=uuid.uuid4(),
            org_id=uuid.uuid4(),
            technician_id=uuid.uuid4(),
            grant_id=uuid.uuid4(),
            service="ssh",
            justification="patching",
            intervention_id=None,
            client_ip="10.0.0.1",
            status=SessionStatus.ACTIVE,
            started_at=NOW,
            version=1,
        )

    def test_ending_records_who_and_why(self) -> None:
        by = uuid.uuid4()
        ended = self._session().end(by=by, reason="done", now=NOW)
        assert ended.status is SessionStatus.ENDED
        assert (ended.ended_by, ended.ended_reason, ended.ended_at, ended.version) == (
            by,
            "done",
            NOW,
            2,
        )

    def test_ending_twice_is_an_invalid_transition(self) -> None:
        ended = self._session().end(by=None, reason=None, now=NOW)
        with pytest.raises(RemoteSessionNotActive):
            ended.end(by=None, reason=None, now=NOW)


class TestGrantRequestBody:
    def _body(self, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "technicianId": str(uuid.uuid4()),
            "accessLevel": "standard",
            "expiresAt": "2030-01-01T00:00:00Z",
            "allowedServices": ["ssh"],
        }
        body.update(changes)
        return body

    def test_defaults_and_normalised_addresses(self) -> None:
        parsed = TechnicianAccessCreate.model_validate(
            self._body(ipRestrictions=["10.0.0.1", "192.168.1.0/24"])
        )
        assert parsed.ip_restrictions == ["10.0.0.1/32", "192.168.1.0/24"]
        assert parsed.time_restrictions is None
        assert parsed.notes is None

    def test_a_naive_expiry_is_read_as_utc(self) -> None:
        parsed = TechnicianAccessCreate.model_validate(self._body(expiresAt="2030-01-01T00:00:00"))
        assert parsed.expires_at == datetime(2030, 1, 1, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"allowedServices": []}, "allowedServices"),
            ({"ipRestrictions": ["10.0.0.300/8"]}, "ipRestrictions"),
            (
                {
                    "timeRestrictions": {
                        "timezone": "Mars/Olympus",
                        "days": [1],
                        "start": "08:00",
                        "end": "18:00",
                    }
                },
                "timeRestrictions",
            ),
            ({"accessLevel": "root"}, "accessLevel"),
            ({"unknown": 1}, "unknown"),
        ],
    )
    def test_bad_terms_are_refused(self, changes: dict[str, Any], field: str) -> None:
        with pytest.raises(ValidationError) as caught:
            TechnicianAccessCreate.model_validate(self._body(**changes))
        assert {error["loc"][0] for error in caught.value.errors()} == {field}
