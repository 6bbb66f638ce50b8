"""What a domain event means as an audit log entry."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import ip_address
from typing import Any
from uuid import UUID, uuid5

from mss_audit.domain.chain import AuditEntry
from mss_contracts.events import AccessDenied, EventEnvelope

_FAILURE_SUFFIXES = (".failed", ".denied")
_ENTRY_NAMESPACE = UUID("6f1c2b1e-3c55-4a6e-9a43-0d1f5f2b7e10")


# Parsing an address costs more than the rest of an entry; the same few repeat a lot.
@lru_cache(maxsize=4096)
def _valid_ip(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(ip_address(value))
    except ValueError:
        return None


def _denial_message(data: dict[str, Any]) -> str:
    """`403 FORBIDDEN on GET /api/users/{id}: Missing permission users:read (30 times)`."""
    count = data.get("count", 1)
    times = f" ({count} times)" if count != 1 else ""
    return (
        f"{data.get('status')} {data.get('code')} on {data.get('action')}: "
        f"{data.get('reason')}{times}"
    )


def _error_message(envelope: EventEnvelope) -> str | None:
    if envelope.type == AccessDenied.event_type:
        return _denial_message(envelope.data)
    reason = envelope.data.get("reason")
    return str(reason) if reason is not None else None


def entry_for(envelope: EventEnvelope) -> AuditEntry:
    """`envelope` must already be redacted: audit entries never hold secrets."""
    success = not envelope.type.endswith(_FAILURE_SUFFIXES)
    details: dict[str, Any] = {
        "data": envelope.data,
        "correlationId": str(envelope.metadata.correlation_id),
        "version": envelope.metadata.version,
    }
    return AuditEntry(
        # Derived from the event id: a redelivered event maps to the same entry.
        id=uuid5(_ENTRY_NAMESPACE, str(envelope.id)),
        event_id=envelope.id,
        user_id=envelope.metadata.user_id,
        session_id=envelope.metadata.session_id,
        org_id=envelope.organization_id,
        action=envelope.type,
        resource_type=envelope.aggregate_type,
        resource_id=envelope.aggregate_id,
        details=details,
        ip_address=_valid_ip(envelope.metadata.ip_address),
        user_agent=(envelope.metadata.user_agent or None) and envelope.metadata.user_agent[:1000],
        success=success,
        error_message=_error_message(envelope) if not success else None,
        timestamp=envelope.metadata.timestamp,
    )
