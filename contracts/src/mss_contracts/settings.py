"""An organization's settings: validated once here, for the organization service that
stores them and for every service that reads them from `organization.*` events (SLA
targets, alert quota, notification defaults), so all apply the same defaults.

Strict types: on the API `"yes"`, `"on"` or `1` are not booleans and `"5"` is not a number
(a 422 naming the field).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from mss_contracts.api import ApiInput

PRIORITIES = ("critical", "high", "medium", "low")


class _Strict(ApiInput):
    model_config = ConfigDict(strict=True)


class SlaTargets(_Strict):
    """Hours to resolve an intervention, per priority."""

    critical: int = Field(default=4, ge=1, le=720)
    high: int = Field(default=24, ge=1, le=720)
    medium: int = Field(default=72, ge=1, le=720)
    low: int = Field(default=168, ge=1, le=720)

    def hours(self, priority: str) -> float:
        return float(getattr(self, priority))


class SlaResponseTargets(_Strict):
    """Hours to respond to (approve) an intervention, per priority; fractions allowed."""

    critical: float = Field(default=1, gt=0, le=720)
    high: float = Field(default=4, gt=0, le=720)
    medium: float = Field(default=8, gt=0, le=720)
    low: float = Field(default=24, gt=0, le=720)

    def hours(self, priority: str) -> float:
        return float(getattr(self, priority))


class NotificationDefaults(_Strict):
    email: bool = True
    in_app: bool = True
    min_alert_severity: str = Field(default="high", pattern="^(critical|high|medium|low|info)$")


class OrgSettings(_Strict):
    mfa_required: bool = False
    # Sessions may only be made shorter than the platform's limits (30 min idle, 12 h).
    session_idle_minutes: int = Field(default=30, ge=5, le=30)
    session_absolute_hours: int = Field(default=12, ge=1, le=12)
    sla_targets: SlaTargets = Field(default_factory=SlaTargets)
    sla_response_targets: SlaResponseTargets = Field(default_factory=SlaResponseTargets)
    # Alerts an organization may ingest per minute (API.md: default 6,000).
    alert_quota_per_minute: int = Field(default=6000, ge=1, le=1_000_000)
    notification_defaults: NotificationDefaults = Field(default_factory=NotificationDefaults)


def settings_of(stored: dict[str, Any] | None) -> OrgSettings:
    """The settings an `organization.*` event (or a stored row) carries, defaults filled in.

    Lenient on purpose: settings stored by an older build may lack newer fields, and a
    consumer must never fail on them.
    """
    return OrgSettings.model_validate(stored or {}, strict=False)
