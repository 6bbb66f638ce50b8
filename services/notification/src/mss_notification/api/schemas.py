"""Request and response bodies of the notification API (API.md "Notifications")."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, StringConstraints

from mss_contracts.api import ApiInput, ApiModel
from mss_notification.domain.audience import NOTIFIED_TYPES, SEVERITIES
from mss_notification.domain.preferences import Digest, Preferences, QuietHours


class NotificationRead(ApiModel):
    id: UUID
    user_id: UUID
    organization_id: UUID
    type: str
    title: str
    body: str
    resource_type: str | None
    resource_id: UUID | None
    severity: str | None
    read_at: datetime | None
    created_at: datetime


class ReadAll(ApiModel):
    updated: int


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("must be an IANA time zone such as Europe/Paris") from exc
    return value


def _known_type(value: str) -> str:
    if value not in NOTIFIED_TYPES:
        raise ValueError(f"unknown event type; one of {', '.join(sorted(NOTIFIED_TYPES))}")
    return value


HhMm = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Severity = Literal["info", "low", "medium", "high", "critical"]
assert set(SEVERITIES) == {"info", "low", "medium", "high", "critical"}


class Channels(ApiInput):
    in_app: bool = Field(strict=True)
    email: bool = Field(strict=True)


class QuietHoursBody(ApiInput):
    timezone: Annotated[str, Field(max_length=64), AfterValidator(_zone)]
    start: HhMm
    end: HhMm


class PreferencesBody(ApiInput):
    """PUT body: the fields sent replace the current ones; those left out stay as they are."""

    channels: Channels | None = None
    min_alert_severity: Severity | None = None
    quiet_hours: QuietHoursBody | None = None
    digest: Literal["off", "hourly", "daily"] | None = None
    muted_types: (
        Annotated[list[Annotated[str, AfterValidator(_known_type)]], Field(max_length=50)] | None
    ) = None

    def applied_to(self, current: Preferences) -> Preferences:
        sent = self.model_fields_set
        quiet = current.quiet_hours
        if "quiet_hours" in sent:
            quiet = (
                QuietHours(
                    timezone=self.quiet_hours.timezone,
                    start=time.fromisoformat(self.quiet_hours.start),
                    end=time.fromisoformat(self.quiet_hours.end),
                )
                if self.quiet_hours
                else None
            )
        return Preferences(
            in_app=self.channels.in_app if self.channels else current.in_app,
            email=self.channels.email if self.channels else current.email,
            min_alert_severity=self.min_alert_severity or current.min_alert_severity,
            quiet_hours=quiet,
            digest=Digest(self.digest) if self.digest else current.digest,
            muted_types=(
                frozenset(self.muted_types) if self.muted_types is not None else current.muted_types
            ),
        )


def _hhmm(value: time) -> str:
    return value.strftime("%H:%M")


class ChannelsRead(ApiModel):
    in_app: bool
    email: bool


class QuietHoursRead(ApiModel):
    timezone: str
    start: str
    end: str


class PreferencesRead(ApiModel):
    channels: ChannelsRead
    min_alert_severity: str
    quiet_hours: QuietHoursRead | None
    digest: str
    muted_types: list[str]

    @classmethod
    def of(cls, p: Preferences) -> PreferencesRead:
        q = p.quiet_hours
        return cls(
            channels=ChannelsRead(in_app=p.in_app, email=p.email),
            min_alert_severity=p.min_alert_severity,
            quiet_hours=(
                QuietHoursRead(
                    timezone=q.timezone,
                    start=q.start.strftime("%H:%M"),
                    end=q.end.strftime("%H:%M"),
                )
                if q
                else None
            ),
            digest=p.digest.value,
            muted_types=sorted(p.muted_types),
        )


EventPattern = Annotated[
    str, StringConstraints(pattern=r"^(\*|[a-z_]+(\.[a-z_]+)*(\.\*)?)$", max_length=100)
]


class WebhookCreate(ApiInput):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    events: Annotated[list[EventPattern], Field(min_length=1, max_length=50)]
    description: Annotated[str, StringConstraints(max_length=500)] | None = None


class WebhookRead(ApiModel):
    id: UUID
    organization_id: UUID
    url: str
    events: list[str]
    description: str | None
    status: str
    created_at: datetime


class WebhookCreated(WebhookRead):
    """The only answer that carries the secret."""

    secret: str


class DeliveryRead(ApiModel):
    id: UUID
    event_id: UUID
    event_type: str
    attempt: int
    status: str
    response_status: int | None
    next_attempt_at: datetime | None
    created_at: datetime


class TestQueued(ApiModel):
    delivery_id: UUID
