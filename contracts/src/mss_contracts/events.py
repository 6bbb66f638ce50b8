"""Domain events: the envelope every service publishes, typed payloads and their registry.

Routing key = event type. A payload class declares its type and aggregate once; the
registry lets consumers turn an envelope back into its typed payload. Fields declared
`SensitiveStr` are redacted wherever events are stored or logged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache
from typing import Annotated, Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from mss_contracts.access import AccessLevel, GrantTerms
from mss_contracts.api import ApiModel, ErrorCode
from mss_contracts.interventions import InterventionType, Priority
from mss_contracts.permissions import OrganizationType, Role

REDACTED = "[REDACTED]"
_SENSITIVE_KEY = "x-sensitive"

SensitiveStr = Annotated[str, Field(json_schema_extra={_SENSITIVE_KEY: True})]


def is_sensitive(field: FieldInfo) -> bool:
    """True for fields declared with `SensitiveStr`."""
    extra = field.json_schema_extra
    return isinstance(extra, dict) and extra.get(_SENSITIVE_KEY) is True


class EventData(ApiModel):
    """Base of every payload: subclasses are registered with `@event(...)`."""

    event_type: ClassVar[str]
    aggregate_type: ClassVar[str]


EVENT_TYPES: dict[str, type[EventData]] = {}

_D = TypeVar("_D", bound=type[EventData])


def event(event_type: str, *, aggregate: str) -> Callable[[_D], _D]:
    """Register a payload class under its dotted event type."""

    def register(cls: _D) -> _D:
        if event_type in EVENT_TYPES:
            raise ValueError(f"event type {event_type} registered twice")
        cls.event_type = event_type
        cls.aggregate_type = aggregate
        EVENT_TYPES[event_type] = cls
        return cls

    return register


class EventMetadata(ApiModel):
    user_id: UUID | None = None
    session_id: UUID | None = None
    correlation_id: UUID
    causation_id: UUID | None = None
    timestamp: datetime
    version: int = Field(ge=1)
    ip_address: str | None = None
    user_agent: str | None = None


class EventEnvelope(ApiModel):
    id: UUID
    type: str
    aggregate_id: UUID
    aggregate_type: str
    organization_id: UUID | None
    data: dict[str, Any]
    metadata: EventMetadata
    schema_version: int = 1


class EventContext(BaseModel):
    """Who caused an event and in answer to what: copied into the envelope's metadata."""

    user_id: UUID | None = None
    session_id: UUID | None = None
    correlation_id: UUID = Field(default_factory=uuid4)
    causation_id: UUID | None = None
    ip_address: str | None = None
    user_agent: str | None = None


def new_event(
    data: EventData,
    *,
    aggregate_id: UUID,
    organization_id: UUID | None,
    version: int,
    context: EventContext,
    aggregate_type: str | None = None,
) -> EventEnvelope:
    """Wrap a payload in a fresh envelope (`aggregate_type` overrides the class's)."""
    return EventEnvelope(
        id=uuid4(),
        type=data.event_type,
        aggregate_id=aggregate_id,
        aggregate_type=aggregate_type or data.aggregate_type,
        organization_id=organization_id,
        data=data.model_dump(mode="json", by_alias=True),
        metadata=EventMetadata(
            user_id=context.user_id,
            session_id=context.session_id,
            correlation_id=context.correlation_id,
            causation_id=context.causation_id,
            timestamp=datetime.now(UTC),
            version=version,
            ip_address=context.ip_address,
            user_agent=context.user_agent,
        ),
    )


def parse_data(envelope: EventEnvelope) -> EventData:
    """The typed payload of an envelope; KeyError for an unknown type."""
    return EVENT_TYPES[envelope.type].model_validate(envelope.data)


def redacted(envelope: EventEnvelope) -> EventEnvelope:
    """A copy of the envelope whose sensitive payload fields are replaced by REDACTED.

    Unknown event types keep their payload: only types we know can name their secrets.
    """
    cls = EVENT_TYPES.get(envelope.type)
    if cls is None:
        return envelope
    present = [key for key in _sensitive_keys(cls) if envelope.data.get(key) is not None]
    if not present:
        # Nothing to hide (most events): no copy (the audit worker redacts thousands a second).
        return envelope
    data = dict(envelope.data)
    for key in present:
        data[key] = REDACTED
    return envelope.model_copy(update={"data": data})


@cache
def _sensitive_keys(cls: type[EventData]) -> tuple[str, ...]:
    """The payload keys (aliases) of a type's `SensitiveStr` fields."""
    return tuple(
        field.alias or name for name, field in cls.model_fields.items() if is_sensitive(field)
    )


# --- organization ------------------------------------------------------------------


class OrganizationSnapshot(EventData):
    """The state of an organization after the change (projections keep the newest)."""

    name: str
    type: OrganizationType
    domain: str | None = None
    status: str
    sso_enabled: bool = False
    settings: dict[str, Any] = Field(default_factory=dict)


@event("organization.created", aggregate="organization")
class OrganizationCreated(OrganizationSnapshot):
    pass


@event("organization.updated", aggregate="organization")
class OrganizationUpdated(OrganizationSnapshot):
    changed: list[str] = Field(default_factory=list)


@event("organization.suspended", aggregate="organization")
class OrganizationSuspended(OrganizationSnapshot):
    reason: str | None = None


@event("organization.reactivated", aggregate="organization")
class OrganizationReactivated(OrganizationSnapshot):
    pass


# --- identity -------------------------------------------------------------------------


@event("user.created", aggregate="user")
class UserCreated(EventData):
    email: str
    first_name: str
    last_name: str
    role: Role
    status: str


@event("auth.login.success", aggregate="user")
class LoginSucceeded(EventData):
    email: str
    mfa_used: bool = False


@event("auth.login.failed", aggregate="user")
class LoginFailed(EventData):
    email: str
    reason: str


@event("auth.session.revoked", aggregate="user")
class SessionRevoked(EventData):
    session_id: UUID
    reason: str


@event("auth.account.locked", aggregate="user")
class AccountLocked(EventData):
    email: str
    locked_until: datetime
    failed_attempts: int


@event("auth.account.unlocked", aggregate="user")
class AccountUnlocked(EventData):
    email: str


@event("auth.mfa.enabled", aggregate="user")
class MfaEnabled(EventData):
    method: str = "totp"


@event("auth.mfa.disabled", aggregate="user")
class MfaDisabled(EventData):
    method: str = "totp"


@event("auth.mfa.backup_codes_regenerated", aggregate="user")
class MfaBackupCodesRegenerated(EventData):
    count: int


@event("auth.password.changed", aggregate="user")
class PasswordChanged(EventData):
    email: str


# --- mail-worthy identity events: the tokens are secrets, redacted wherever stored ----------


@event("user.invited", aggregate="user")
class UserInvited(EventData):
    email: str
    first_name: str
    last_name: str
    role: Role
    invitation_token: SensitiveStr
    expires_at: datetime


@event("user.updated", aggregate="user")
class UserUpdated(EventData):
    email: str
    first_name: str
    last_name: str
    role: Role
    status: str
    changed: list[str] = Field(default_factory=list)


@event("user.deleted", aggregate="user")
class UserDeleted(EventData):
    email: str


@event("auth.password.reset_requested", aggregate="user")
class PasswordResetRequested(EventData):
    email: str
    reset_token: SensitiveStr
    expires_at: datetime


@event("auth.email.verification_requested", aggregate="user")
class EmailVerificationRequested(EventData):
    email: str
    verification_token: SensitiveStr
    expires_at: datetime


# --- API keys: the key and its hash never travel; the prefix names the key ------------------


@event("api_key.created", aggregate="api_key")
class ApiKeyCreated(EventData):
    """Aggregate id = the key; organization = the one organization it acts for."""

    name: str | None
    prefix: str
    permissions: list[str]
    created_by: UUID | None


@event("api_key.used", aggregate="api_key")
class ApiKeyUsed(EventData):
    """The key was exchanged for a token: the first exchange of each hour is recorded."""

    prefix: str
    window_s: int = Field(ge=1)


@event("api_key.revoked", aggregate="api_key")
class ApiKeyRevoked(EventData):
    prefix: str
    revoked_by: UUID | None


# --- technician access -------------------------------------------------------------------


@event("technician_access.granted", aggregate="technician_access")
class TechnicianAccessGranted(GrantTerms, EventData):
    """Aggregate id = the grant; organization = the customer organization it opens."""

    technician_id: UUID
    access_level: AccessLevel
    granted_by: UUID
    notes: str | None = None


@event("technician_access.revoked", aggregate="technician_access")
class TechnicianAccessRevoked(EventData):
    technician_id: UUID
    revoked_by: UUID
    reason: str


@event("technician_access.expired", aggregate="technician_access")
class TechnicianAccessExpired(EventData):
    technician_id: UUID
    expires_at: datetime


@event("remote_access.session.started", aggregate="remote_access_session")
class RemoteAccessStarted(EventData):
    technician_id: UUID
    grant_id: UUID
    service: str
    justification: str
    intervention_id: UUID | None = None


@event("remote_access.session.ended", aggregate="remote_access_session")
class RemoteAccessEnded(EventData):
    """Self-contained (the intervention and start time repeated), so a consumer that sees
    the end before the start (a redelivered start) still records the session as ended."""

    technician_id: UUID
    grant_id: UUID
    service: str
    ended_by: UUID | None = None
    reason: str | None = None
    intervention_id: UUID | None = None
    started_at: datetime | None = None


# --- access transparency -------------------------------------------------------------------


@event("customer_data.accessed", aggregate="customer_data")
class CustomerDataAccessed(EventData):
    """Provider staff read a customer organization's data (writes have their own events).

    One event stands for the reads of one actor, customer organization and resource type
    in one journal window (`mss_service.journal`): `accessCount` reads, from `firstAt` to
    `lastAt`, that showed `resourceCount` resources in all; `method` and `path` are the
    first read's. The envelope's aggregate is the resource read when every one of those
    reads named the same one, else the organization (type overridden per resource); its
    organization is the customer whose data it is; its metadata says who and from where
    (as of the first read). Events from before aggregation carry no count: one read each.
    """

    method: str
    path: str
    actor_role: Role | None
    resource_count: int = Field(ge=0)
    access_count: int = Field(default=1, ge=1)
    first_at: datetime | None = None
    last_at: datetime | None = None


# --- denied actions (ASVS V16.3) -------------------------------------------------------------


@event("access.denied", aggregate="user")
class AccessDenied(EventData):
    """Requests of one actor refused the same way, aggregated per journal window.

    One event stands for `count` refusals, from `firstAt` to `lastAt`, of one actor in one
    organization: the same `action` (method and route template, `GET /api/users/{id}`,
    never a raw path with ids) answered with the same `status` and `code`. `reason` is the
    first refusal's message; `subject` what an explicit denial names when there is no actor
    (e.g. the e-mail a refused login tried). The envelope's aggregate is the actor (a fresh
    id when unknown), its organization the actor's, its metadata who and from where (as of
    the first refusal). Its type ends in `.denied`: the audit log says `success: false`.
    """

    action: str = Field(max_length=300)
    status: int = Field(ge=400, le=599)
    code: ErrorCode
    reason: str = Field(max_length=500)
    actor_role: Role | None = None
    subject: str | None = Field(default=None, max_length=320)
    count: int = Field(ge=1)
    first_at: datetime
    last_at: datetime


# --- security: alerts ----------------------------------------------------------------------
# Aggregate = the alert; organization = the customer organization it belongs to. Every alert
# event carries the alert's state after the change, so a consumer (notification, the
# intervention service, a read model) needs nothing else.


class AlertSnapshot(EventData):
    title: str
    severity: str  # low | medium | high | critical
    status: str  # open | acknowledged | resolved
    category: str
    source: str
    fingerprint: str
    assigned_to: UUID | None = None
    occurrence_count: int = Field(default=1, ge=1)
    first_seen_at: datetime
    last_seen_at: datetime
    resolution: str | None = None
    intervention_id: UUID | None = None


@event("security.alert.created", aggregate="alert")
class AlertCreated(AlertSnapshot):
    previous_alert_id: UUID | None = None


@event("security.alert.deduplicated", aggregate="alert")
class AlertDeduplicated(AlertSnapshot):
    """One event per alert per ingest request: `occurrences` duplicates folded into it."""

    occurrences: int = Field(ge=1)


@event("security.alert.updated", aggregate="alert")
class AlertUpdated(AlertSnapshot):
    changed: list[str] = Field(default_factory=list)


@event("security.alert.acknowledged", aggregate="alert")
class AlertAcknowledged(AlertSnapshot):
    pass


@event("security.alert.assigned", aggregate="alert")
class AlertAssigned(AlertSnapshot):
    previous_assignee: UUID | None = None


@event("security.alert.resolved", aggregate="alert")
class AlertResolved(AlertSnapshot):
    note: str | None = None


@event("security.alert.reopened", aggregate="alert")
class AlertReopened(AlertSnapshot):
    reason: str


@event("security.alert.escalated", aggregate="alert")
class AlertEscalated(AlertSnapshot):
    """The intervention service creates intervention `intervention_id` from this event
    (linked by `sourceAlertId` = the aggregate id), requested by the metadata's user."""

    escalated_intervention_id: UUID
    priority: Priority
    intervention_type: InterventionType
    intervention_title: str
    intervention_description: str
    requested_by: UUID


@event("security.alert.enriched", aggregate="alert")
class AlertEnriched(AlertSnapshot):
    indicator_ids: list[UUID] = Field(default_factory=list)


@event("security.alert.commented", aggregate="alert")
class AlertCommented(AlertSnapshot):
    comment_id: UUID
    author_id: UUID
    visibility: str  # internal | customer


# --- security: threat intelligence -----------------------------------------------------------
# For the audit: who changed the feed and how much. Organization = the indicators' one, or
# none for provider-wide indicators. One event per request or import, never per indicator.


@event("security.indicators.upserted", aggregate="indicator_batch")
class IndicatorsUpserted(EventData):
    created: int = Field(ge=0)
    updated: int = Field(ge=0)
    import_id: UUID | None = None


@event("security.indicator.deleted", aggregate="indicator")
class IndicatorDeleted(EventData):
    type: str
    value: str


@event("security.intel_import.requested", aggregate="intel_import")
class IntelImportRequested(EventData):
    content_type: str  # stix | csv
    size_bytes: int = Field(ge=0)


@event("security.intel_import.finished", aggregate="intel_import")
class IntelImportFinished(EventData):
    status: str  # completed | failed
    total: int = Field(ge=0)
    created: int = Field(ge=0)
    updated: int = Field(ge=0)
    rejected: int = Field(ge=0)
    skipped: int = Field(ge=0)


# --- security: reports ---------------------------------------------------------------------


class ReportSnapshot(EventData):
    title: str
    type: str
    status: str  # draft | in_review | approved | published
    generated_by: UUID
    report_period_start: date
    report_period_end: date
    approved_by: UUID | None = None


@event("security.report.created", aggregate="report")
class ReportCreated(ReportSnapshot):
    pass


@event("security.report.updated", aggregate="report")
class ReportUpdated(ReportSnapshot):
    changed: list[str] = Field(default_factory=list)


@event("security.report.submitted", aggregate="report")
class ReportSubmitted(ReportSnapshot):
    pass


@event("security.report.approved", aggregate="report")
class ReportApproved(ReportSnapshot):
    pass


@event("security.report.rejected", aggregate="report")
class ReportRejected(ReportSnapshot):
    reason: str


@event("security.report.published", aggregate="report")
class ReportPublished(ReportSnapshot):
    content_sha256: str = Field(pattern="^[0-9a-f]{64}$")


@event("security.report.downloaded", aggregate="report")
class ReportDownloaded(ReportSnapshot):
    content_sha256: str | None = None


# --- interventions -------------------------------------------------------------------------
# Aggregate = the intervention; organization = the customer organization that requested it.


class InterventionSnapshot(EventData):
    title: str
    priority: str  # low | medium | high | critical
    status: str  # requested | approved | scheduled | in_progress | completed | cancelled
    type: str
    requested_by: UUID | None
    assigned_to: UUID | None = None
    estimated_hours: float | None = None
    actual_hours: float = 0
    scheduled_for: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    source_alert_id: UUID | None = None
    response_due_at: datetime
    resolution_due_at: datetime
    responded_at: datetime | None = None


@event("intervention.requested", aggregate="intervention")
class InterventionRequested(InterventionSnapshot):
    pass


@event("intervention.approved", aggregate="intervention")
class InterventionApproved(InterventionSnapshot):
    pass


@event("intervention.assigned", aggregate="intervention")
class InterventionAssigned(InterventionSnapshot):
    pass


@event("intervention.scheduled", aggregate="intervention")
class InterventionScheduled(InterventionSnapshot):
    pass


@event("intervention.started", aggregate="intervention")
class InterventionStarted(InterventionSnapshot):
    pass


@event("intervention.work_logged", aggregate="intervention")
class InterventionWorkLogged(InterventionSnapshot):
    entry_id: UUID
    entry_at: datetime
    entry_user_id: UUID
    entry_hours: float = Field(gt=0, le=24)


@event("intervention.updated", aggregate="intervention")
class InterventionUpdated(InterventionSnapshot):
    changed: list[str] = Field(default_factory=list)


@event("intervention.completed", aggregate="intervention")
class InterventionCompleted(InterventionSnapshot):
    summary: str


@event("intervention.cancelled", aggregate="intervention")
class InterventionCancelled(InterventionSnapshot):
    reason: str


@event("intervention.sla.breached", aggregate="intervention")
class InterventionSlaBreached(InterventionSnapshot):
    kind: str  # response | resolution
    due_at: datetime


# --- notifications and webhooks ------------------------------------------------------------
# Aggregate = the user (preferences, reads) or the webhook; organization = its organization.
# A webhook's secret never travels: events name the webhook by id and URL only.


@event("notification.preferences.updated", aggregate="user")
class NotificationPreferencesUpdated(EventData):
    changed: list[str] = Field(default_factory=list)


@event("notification.read", aggregate="user")
class NotificationsRead(EventData):
    """`notification_ids`: the ones marked read by this request (read-all: `all` True)."""

    notification_ids: list[UUID] = Field(default_factory=list)
    all: bool = False
    count: int = Field(ge=0)


class WebhookSnapshot(EventData):
    url: str
    events: list[str]
    status: str  # active | disabled | deleted


@event("webhook.created", aggregate="webhook")
class WebhookCreated(WebhookSnapshot):
    pass


@event("webhook.deleted", aggregate="webhook")
class WebhookDeleted(WebhookSnapshot):
    pass


@event("webhook.disabled", aggregate="webhook")
class WebhookDisabled(WebhookSnapshot):
    """Disabled by the platform after `consecutive_failures` failed deliveries in a row."""

    consecutive_failures: int = Field(ge=1)


@event("webhook.test", aggregate="webhook")
class WebhookTested(WebhookSnapshot):
    """`POST /api/webhooks/{id}/test`: the delivery of type `webhook.test` it queued."""

    delivery_id: UUID
