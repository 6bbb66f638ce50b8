"""Life-cycle rules of an organization."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from mss_contracts.permissions import OrganizationType
from mss_contracts.settings import OrgSettings
from mss_organization.domain.errors import InvalidTransition, ProviderOrganizationProtected
from mss_organization.domain.organization import Organization, OrganizationStatus

NOW = datetime.now(UTC)


def _org(type_: OrganizationType = OrganizationType.CUSTOMER) -> Organization:
    return Organization(
        id=uuid.uuid4(),
        name="Acme",
        type=type_,
        domain=None,
        sso_enabled=False,
        status=OrganizationStatus.ACTIVE,
        settings={},
        version=1,
        created_at=NOW,
        updated_at=NOW,
        created_by=None,
    )


def test_suspend_then_reactivate_bumps_the_version_each_time() -> None:
    suspended = _org().suspend(NOW)
    assert suspended.status is OrganizationStatus.SUSPENDED
    assert suspended.version == 2
    active = suspended.reactivate(NOW)
    assert active.status is OrganizationStatus.ACTIVE
    assert active.version == 3


def test_suspending_twice_is_an_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        _org().suspend(NOW).suspend(NOW)


def test_reactivating_an_active_org_is_an_invalid_transition() -> None:
    with pytest.raises(InvalidTransition):
        _org().reactivate(NOW)


def test_the_provider_cannot_be_suspended() -> None:
    with pytest.raises(ProviderOrganizationProtected):
        _org(OrganizationType.MSS_PROVIDER).suspend(NOW)


def test_update_records_only_real_changes() -> None:
    org = _org()
    same = org.update({"name": "Acme"}, NOW)
    assert same.changed == ()
    assert same.version == 1
    renamed = org.update({"name": "Acme Ltd", "domain": None}, NOW)
    assert renamed.changed == ("name",)
    assert renamed.version == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mfaRequired": "yes"}, "mfaRequired"),
        ({"mfaRequired": "on"}, "mfaRequired"),
        ({"mfaRequired": 1}, "mfaRequired"),
        ({"sessionIdleMinutes": "15"}, "sessionIdleMinutes"),
        ({"sessionIdleMinutes": 15.0}, "sessionIdleMinutes"),
        ({"slaTargets": {"critical": True}}, "slaTargets.critical"),
        ({"notificationDefaults": {"email": "off"}}, "notificationDefaults.email"),
    ],
)
def test_settings_take_strict_json_types(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OrgSettings.model_validate(body)
    assert [".".join(str(p) for p in error["loc"]) for error in caught.value.errors()] == [field]


def test_settings_of_the_right_types_are_accepted_and_read_back() -> None:
    body = {
        "mfaRequired": True,
        "sessionIdleMinutes": 15,
        "slaTargets": {"critical": 2},
        "notificationDefaults": {"email": False, "minAlertSeverity": "low"},
    }
    settings = OrgSettings.model_validate(body)
    stored = settings.model_dump(mode="json", by_alias=True)
    assert OrgSettings.model_validate(stored) == settings
    assert (settings.mfa_required, settings.session_idle_minutes) == (True, 15)
