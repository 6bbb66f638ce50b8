"""Validated organization settings (stored as JSON, camelCase on the wire)."""

from __future__ import annotations

from pydantic import Field

from mss_contracts.api import ApiInput


class SlaTargets(ApiInput):
    """Hours to resolve an intervention, per priority."""

    critical: int = Field(default=4, ge=1, le=720)
    high: int = Field(default=24, ge=1, le=720)
    medium: int = Field(default=72, ge=1, le=720)
    low: int = Field(default=168, ge=1, le=720)


class NotificationDefaults(ApiInput):
    email: bool = True
    in_app: bool = True
    min_alert_severity: str = Field(default="high", pattern="^(critical|high|medium|low|info)$")


class OrganizationSettingsModel(ApiInput):
    mfa_required: bool = False
    # Sessions may only be made shorter than the platform's limits (30 min idle, 12 h).
    session_idle_minutes: int = Field(default=30, ge=5, le=30)
    session_absolute_hours: int = Field(default=12, ge=1, le=12)
    sla_targets: SlaTargets = Field(default_factory=SlaTargets)
    notification_defaults: NotificationDefaults = Field(default_factory=NotificationDefaults)
