"""How alerts are listed: filters, sorts and the keyset cursor that pages through them."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from mss_security.domain.alerts import AlertStatus, Category, Severity
from mss_security.domain.errors import InvalidListQuery

# API.md: `total` is exact up to 10,000, otherwise 10,000 with `totalExact: false`.
TOTAL_CAP = 10_000
Q_MIN = 3
Q_MAX = 200


class Sort(StrEnum):
    LAST_SEEN_DESC = "-lastSeenAt"
    LAST_SEEN_ASC = "lastSeenAt"
    FIRST_SEEN_DESC = "-firstSeenAt"
    FIRST_SEEN_ASC = "firstSeenAt"
    SEVERITY_DESC = "-severity"


@dataclass(frozen=True, slots=True)
class AlertFilter:
    org_ids: frozenset[UUID] | None = None  # None: every organization of the scope
    severities: frozenset[Severity] = frozenset()
    statuses: frozenset[AlertStatus] = frozenset()
    categories: frozenset[Category] = frozenset()
    source: str | None = None
    assigned_to: UUID | None = None
    unassigned: bool = False
    q: str | None = None
    seen_from: datetime | None = None
    seen_to: datetime | None = None
    enriched: bool | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the previous page ended: the sort's key values of its last alert, and its id."""

    sort: Sort
    keys: tuple[Any, ...] = field(default=())
    id: UUID | None = None

    def encode(self) -> str:
        keys = [k.isoformat() if isinstance(k, datetime) else k for k in self.keys]
        raw = json.dumps([self.sort.value, keys, str(self.id)], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, sort: Sort) -> Cursor:
        """A cursor of this sort, or a 422 naming `cursor` (malformed, or of another sort)."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            name, keys, id_ = json.loads(raw)
            cursor_sort = Sort(name)
            if cursor_sort is not sort:
                raise ValueError("cursor of another sort")
            return cls(sort=sort, keys=_parse_keys(sort, keys), id=UUID(id_))
        except (ValueError, TypeError, binascii.Error, json.JSONDecodeError) as exc:
            raise InvalidListQuery({"cursor": "malformed or not of this sort"}) from exc


def _parse_keys(sort: Sort, keys: list[Any]) -> tuple[Any, ...]:
    if sort is Sort.SEVERITY_DESC:
        rank, seen = keys
        if not isinstance(rank, int) or rank not in range(1, 5):
            raise ValueError("bad severity")
        return (rank, _aware(seen))
    (seen,) = keys
    return (_aware(seen),)


def _aware(value: Any) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("naive time")
    return moment


def parse_choices(name: str, raw: str | None, enum: type[StrEnum]) -> frozenset[Any]:
    """A comma-separated filter of enum values; an unknown one is a 422 naming the filter."""
    if raw is None or raw == "":
        return frozenset()
    values = [part.strip() for part in raw.split(",")]
    try:
        return frozenset(enum(v) for v in values)
    except ValueError as exc:
        allowed = ", ".join(member.value for member in enum)
        raise InvalidListQuery({name: f"each value must be one of: {allowed}"}) from exc


def check_q(q: str | None) -> str | None:
    if q is None:
        return None
    if len(q.strip()) < Q_MIN or len(q) > Q_MAX:
        raise InvalidListQuery({"q": f"must be {Q_MIN} to {Q_MAX} characters"})
    return q.strip()
