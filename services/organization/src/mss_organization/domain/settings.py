"""Validated organization settings (stored as JSON, camelCase on the wire).

Strict types: JSON's `true`/`false` are the only booleans and integers are JSON numbers
without a fraction, so `"yes"`, `"on"`, `1` or `"15"` are refused (422 naming the field)
instead of being read as something the caller may not have meant.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from mss_contracts.api import ApiInput


class StrictSettings(ApiInput):
    model_config = ConfigDict(strict=True)


class SlaTargets(StrictSettings):
    """Hours to resolve an intervention, per priority."""

    critical: int = Field(default=4, ge=1, le=720)
    high: int = Field(default=24, ge=1, le=720)
    medium: int = Field(default=72, ge=1, le=720)
    low: int = Field(default=168, ge=1, le=720)


class NotificationDefaults(StrictSettings):
    email: bool = True
    in_app: bool = True
    min_alert_severity: str = Field(default="high", pattern="^(critical|high|medium|low|info)$")


class OrganizationSettingsModel(StrictSettings):
    mfa_required: bool = False
    # Sessions may only be made shorter than the platform's limits (30 min idle, 12 h).
    session_idle_minutes: int = Field(default=30, ge=5, le=30)
    session_absolute_hours: int = Field(default=12, ge=1, le=12)
    sla_targets: SlaTargets = Field(default_factory=SlaTargets)
    notification_defaults: NotificationDefaults = Field(default_factory=NotificationDefaults)
