"""Organization settings: strict on the API, lenient when read back from an event."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mss_contracts.settings import OrgSettings, settings_of


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mfaRequired": "yes"}, "mfaRequired"),
        ({"mfaRequired": 1}, "mfaRequired"),
        ({"sessionIdleMinutes": "10"}, "sessionIdleMinutes"),
        ({"alertQuotaPerMinute": 0}, "alertQuotaPerMinute"),
        ({"slaResponseTargets": {"critical": 0}}, "slaResponseTargets"),
        ({"notificationDefaults": {"email": "on"}}, "notificationDefaults"),
    ],
)
def test_settings_refuse_loose_values_naming_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        OrgSettings.model_validate(body)
    assert refused.value.errors()[0]["loc"][0] == field


def test_defaults_follow_api_md() -> None:
    settings = OrgSettings()
    assert settings.alert_quota_per_minute == 6000
    assert settings.sla_response_targets.model_dump() == {
        "critical": 1,
        "high": 4,
        "medium": 8,
        "low": 24,
    }
    assert (
        OrgSettings.model_validate(
            {"slaResponseTargets": {"critical": 0.5}}
        ).sla_response_targets.critical
        == 0.5
    )


def test_stored_settings_without_the_newer_fields_read_with_defaults() -> None:
    assert settings_of({"mfaRequired": True}).alert_quota_per_minute == 6000
    assert settings_of(None) == OrgSettings()
