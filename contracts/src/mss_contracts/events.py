"""Domain events: the envelope every service publishes, typed payloads and their registry.

Routing key = event type. A payload class declares its type and aggregate once; the
registry lets consumers turn an envelope back into its typed payload. Fields declared
`SensitiveStr` are redacted wherever events are stored or logged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

from mss_contracts.access import AccessLevel, GrantTerms
from mss_contracts.api import ApiModel, ErrorCode
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
    data = dict(envelope.data)
    for name, field in cls.model_fields.items():
        key = field.alias or name
        if is_sensitive(field) and key in data and data[key] is not None:
            data[key] = REDACTED
    return envelope.model_copy(update={"data": data})


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
    technician_id: UUID
    grant_id: UUID
    service: str
    ended_by: UUID | None = None
    reason: str | None = None


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
