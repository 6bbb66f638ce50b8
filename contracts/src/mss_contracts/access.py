"""Technician access grants: their terms, and whether a grant admits a request right now.

One definition for the organization service (which owns grants and checks remote access
sessions) and for every service that scopes technicians from its projection of grants.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from enum import StrEnum
from ipaddress import ip_address, ip_network
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from mss_contracts.api import ApiModel


class AccessLevel(StrEnum):
    READ_ONLY = "read_only"
    STANDARD = "standard"
    FULL = "full"


class GrantStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

ServiceName = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class TimeRestrictions(ApiModel):
    """A weekly window in the grant's own time zone; `end` before `start` spans midnight."""

    timezone: str = Field(max_length=64)
    days: list[int] = Field(min_length=1, max_length=7)
    start: str
    end: str

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("must be an IANA time zone such as Europe/Paris") from exc
        return value

    @field_validator("days")
    @classmethod
    def _iso_weekdays(cls, value: list[int]) -> list[int]:
        if any(day < 1 or day > 7 for day in value) or len(set(value)) != len(value):
            raise ValueError("must be distinct ISO weekdays, 1 (Monday) to 7 (Sunday)")
        return sorted(value)

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(value):
            raise ValueError("must be a time of day as HH:MM")
        return value

    @model_validator(mode="after")
    def _non_empty(self) -> TimeRestrictions:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self

    def admits(self, moment: datetime) -> bool:
        """True when `moment` (aware) falls inside the window, read in the grant's zone."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        start, end, now = _clock(self.start), _clock(self.end), local.time()
        if start < end:
            return local.isoweekday() in self.days and start <= now < end
        # Overnight: the part after midnight belongs to the window of the day before.
        if now >= start:
            return local.isoweekday() in self.days
        previous = (local - timedelta(days=1)).isoweekday()
        return now < end and previous in self.days


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def validate_cidrs(values: list[str]) -> list[str]:
    """Normalised CIDRs (`10.0.0.1` → `10.0.0.1/32`); ValueError names the bad one."""
    normalised = []
    for value in values:
        try:
            normalised.append(str(ip_network(value, strict=False)))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IP address or CIDR block") from exc
    return normalised


class GrantTerms(ApiModel):
    """What a grant allows: until when, which services, from where, and when."""

    expires_at: datetime
    allowed_services: list[ServiceName] = Field(min_length=1, max_length=50)
    ip_restrictions: list[str] = Field(default_factory=list, max_length=100)
    time_restrictions: TimeRestrictions | None = None

    @field_validator("ip_restrictions")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return validate_cidrs(value)

    def refusal(self, *, now: datetime, ip: str | None, service: str | None = None) -> str | None:
        """Why this grant does not admit the request, or None when it does.

        `service` None checks only time and address (data access by a technician);
        an address we cannot parse is outside every restriction.
        """
        if now >= self.expires_at:
            return "grant expired"
        if service is not None and service not in self.allowed_services:
            return f"service {service!r} is not allowed by the grant"
        if self.ip_restrictions and not _address_in(ip, self.ip_restrictions):
            return "address outside the grant's IP restrictions"
        if self.time_restrictions is not None and not self.time_restrictions.admits(now):
            return "outside the grant's time restrictions"
        return None


def _address_in(ip: str | None, cidrs: list[str]) -> bool:
    if ip is None:
        return False
    try:
        address = ip_address(ip)
    except ValueError:
        return False
    return any(address in ip_network(cidr, strict=False) for cidr in cidrs)
