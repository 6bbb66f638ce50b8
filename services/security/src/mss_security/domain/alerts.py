"""An alert, its workflow (open → acknowledged → resolved → reopened) and its dedup key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from mss_security.domain.errors import InvalidAlertTransition, StaleAlertVersion

TITLE_MAX = 255
DESCRIPTION_MAX = 20_000
ASSETS_MAX = 100
OBSERVABLES_MAX = 200
METADATA_MAX_BYTES = 64 * 1024
SOURCE_MAX = 100
SOURCE_REF_MAX = 255
FINGERPRINT_MAX = 255
BATCH_MAX = 1000
COMMENT_MAX = 10_000
BULK_MAX = 500


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Stored as this smallint: sortable, and a leakproof comparison under RLS."""
        return _SEVERITY_RANK[self]

    @classmethod
    def of_rank(cls, rank: int) -> Severity:
        return _SEVERITY_BY_RANK[rank]


_SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3, Severity.CRITICAL: 4}
_SEVERITY_BY_RANK = {rank: severity for severity, rank in _SEVERITY_RANK.items()}


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"

    @property
    def code(self) -> int:
        """Stored as this smallint (0, 1: unresolved; the dedup index keeps code < 2)."""
        return _STATUS_CODE[self]

    @classmethod
    def of_code(cls, code: int) -> AlertStatus:
        return _STATUS_BY_CODE[code]


_STATUS_CODE = {AlertStatus.OPEN: 0, AlertStatus.ACKNOWLEDGED: 1, AlertStatus.RESOLVED: 2}
_STATUS_BY_CODE = {code: status for status, code in _STATUS_CODE.items()}


class Category(StrEnum):
    MALWARE = "malware"
    PHISHING = "phishing"
    INTRUSION = "intrusion"
    DATA_EXFILTRATION = "data_exfiltration"
    POLICY_VIOLATION = "policy_violation"
    VULNERABILITY = "vulnerability"
    ANOMALY = "anomaly"
    OTHER = "other"


class Resolution(StrEnum):
    TRUE_POSITIVE = "true_positive"
    FALSE_POSITIVE = "false_positive"
    BENIGN = "benign"
    DUPLICATE = "duplicate"


class ObservableType(StrEnum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DOMAIN = "domain"
    URL = "url"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    EMAIL = "email"
    HOSTNAME = "hostname"
    USER = "user"

    @classmethod
    def of_value(cls, value: str) -> ObservableType:
        """A stored value's member: a dict lookup (an Enum call costs ~10x that, and ingest
        rebuilds every observable of every alert of a batch from its row)."""
        return _OBSERVABLE_TYPE_BY_VALUE[value]


_OBSERVABLE_TYPE_BY_VALUE = {member.value: member for member in ObservableType}


class CommentVisibility(StrEnum):
    INTERNAL = "internal"
    CUSTOMER = "customer"


def derive_fingerprint(
    *, source: str, source_ref: str | None, category: str, title: str, assets: list[str]
) -> str:
    """API.md: from (source, sourceRef), or lacking it (source, category, title, sorted assets).

    A unit separator joins the parts, so ("a b", "c") and ("a", "b c") never collide.
    """
    parts = [source, source_ref] if source_ref else [source, category, title, *sorted(assets)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Observable:
    type: ObservableType
    value: str


@dataclass(frozen=True, slots=True)
class Alert:
    id: UUID
    org_id: UUID
    title: str
    description: str
    severity: Severity
    status: AlertStatus
    category: Category
    source: str
    source_ref: str | None
    fingerprint: str
    affected_assets: tuple[str, ...]
    observables: tuple[Observable, ...]
    metadata: dict[str, Any]
    assigned_to: UUID | None
    occurrence_count: int
    first_seen_at: datetime
    last_seen_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: UUID | None
    resolved_at: datetime | None
    resolved_by: UUID | None
    resolution: Resolution | None
    resolution_note: str | None
    previous_alert_id: UUID | None
    enrichment: dict[str, Any]
    intervention_id: UUID | None
    version: int
    created_at: datetime
    updated_at: datetime
    changed: tuple[str, ...] = field(default=(), compare=False)

    def check_version(self, expected: int | None) -> None:
        """If-Match: a stale version is refused (412) before any change is made."""
        if expected is not None and expected != self.version:
            raise StaleAlertVersion()

    def _refuse(self, step: str) -> InvalidAlertTransition:
        return InvalidAlertTransition(
            f"Cannot {step} an alert that is {self.status.value}", status=self.status.value
        )

    def _changed(self, now: datetime, changed: tuple[str, ...], **changes: Any) -> Alert:
        return replace(self, **changes, version=self.version + 1, updated_at=now, changed=changed)

    def update(self, changes: dict[str, Any], now: datetime) -> Alert:
        """PATCH: the given fields; `changed` names those that really differ (none: no-op)."""
        changed = tuple(sorted(k for k, v in changes.items() if getattr(self, k) != v))
        if not changed:
            return replace(self, changed=())
        return self._changed(now, changed, **{k: changes[k] for k in changed})

    def acknowledge(self, *, by: UUID, now: datetime) -> Alert:
        if self.status is not AlertStatus.OPEN:
            raise self._refuse("acknowledge")
        return self._changed(
            now,
            ("status", "acknowledged_at", "acknowledged_by"),
            status=AlertStatus.ACKNOWLEDGED,
            acknowledged_at=now,
            acknowledged_by=by,
        )

    def assign(self, user_id: UUID | None, *, now: datetime) -> Alert:
        """Assign (or unassign with None); a resolved alert must be reopened first."""
        if self.status is AlertStatus.RESOLVED:
            raise self._refuse("assign")
        if user_id == self.assigned_to:
            return replace(self, changed=())
        return self._changed(now, ("assigned_to",), assigned_to=user_id)

    def resolve(
        self, resolution: Resolution, note: str | None, *, by: UUID, now: datetime
    ) -> Alert:
        if self.status is AlertStatus.RESOLVED:
            raise self._refuse("resolve")
        return self._changed(
            now,
            ("status", "resolved_at", "resolved_by", "resolution", "resolution_note"),
            status=AlertStatus.RESOLVED,
            resolved_at=now,
            resolved_by=by,
            resolution=resolution,
            resolution_note=note,
        )

    def reopen(self, *, now: datetime) -> Alert:
        """Back to open; the resolution is cleared (the events keep the history)."""
        if self.status is not AlertStatus.RESOLVED:
            raise self._refuse("reopen")
        return self._changed(
            now,
            ("status", "resolved_at", "resolved_by", "resolution", "resolution_note"),
            status=AlertStatus.OPEN,
            resolved_at=None,
            resolved_by=None,
            resolution=None,
            resolution_note=None,
            acknowledged_at=None,
            acknowledged_by=None,
        )

    def escalate(self, intervention_id: UUID, *, now: datetime) -> Alert:
        """Link the intervention to be created; once per alert, never from resolved."""
        if self.status is AlertStatus.RESOLVED:
            raise self._refuse("escalate")
        if self.intervention_id is not None:
            raise InvalidAlertTransition(
                "This alert is already escalated", status=self.status.value
            )
        return self._changed(now, ("intervention_id",), intervention_id=intervention_id)


def comment_visible(visibility: CommentVisibility, *, customer_reader: bool) -> bool:
    """Customer users read only the comments meant for them; provider staff read all."""
    return not customer_reader or visibility is CommentVisibility.CUSTOMER


def search_text_of(
    *, title: str, description: str, assets: tuple[str, ...], observables: tuple[Observable, ...]
) -> str:
    """What `q` matches (title, description, assets, observable values), lower-cased once."""
    parts = [title, description, *assets, *(o.value for o in observables)]
    return "\n".join(parts).lower()
