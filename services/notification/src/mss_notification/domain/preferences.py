"""A user's notification preferences and what they decide: in-app, mail now, later or in a
digest. Pure rules over a given clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from mss_contracts.settings import NotificationDefaults
from mss_notification.domain.audience import ALERT_CREATED, severity_rank


class Digest(StrEnum):
    OFF = "off"
    HOURLY = "hourly"
    DAILY = "daily"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local `[start, end)` in `timezone`; `start > end` spans midnight."""

    timezone: str
    start: time
    end: time

    def until(self, now: datetime) -> datetime | None:
        """When the quiet hours around `now` end (UTC), or None outside them."""
        zone = ZoneInfo(self.timezone)
        local = now.astimezone(zone)
        at = local.time().replace(second=0, microsecond=0, tzinfo=None)
        if self.start == self.end:
            return None
        if self.start < self.end:
            inside = self.start <= at < self.end
            end_day = local.date()
        else:
            inside = at >= self.start or at < self.end
            end_day = local.date() + timedelta(days=1) if at >= self.start else local.date()
        if not inside:
            return None
        return datetime.combine(end_day, self.end, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Preferences:
    in_app: bool = True
    email: bool = True
    min_alert_severity: str = "high"
    quiet_hours: QuietHours | None = None
    digest: Digest = Digest.OFF
    muted_types: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def defaults(cls, org: NotificationDefaults) -> Preferences:
        """What a user who never chose has: the organization's notification defaults."""
        return cls(in_app=org.in_app, email=org.email, min_alert_severity=org.min_alert_severity)

    def wants(self, event_type: str, severity: str | None) -> bool:
        """Whether the user wants to hear of this event at all (not muted, severe enough)."""
        if event_type in self.muted_types:
            return False
        if event_type == ALERT_CREATED:  # an assignment to you comes whatever the severity
            return severity_rank(severity) >= severity_rank(self.min_alert_severity)
        return True

    def mail_after(self, now: datetime) -> datetime:
        """When a mail of `now` may go: now, or when the quiet hours end."""
        held = self.quiet_hours.until(now) if self.quiet_hours else None
        return held or now


def period_start(digest: Digest, at: datetime) -> datetime:
    """The start (UTC) of the digest period `at` falls in."""
    at = at.astimezone(UTC)
    if digest is Digest.HOURLY:
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(hour=0, minute=0, second=0, microsecond=0)


def period_length(digest: Digest) -> timedelta:
    return timedelta(hours=1) if digest is Digest.HOURLY else timedelta(days=1)
