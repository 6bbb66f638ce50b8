"""API keys for integrations: `mssk_<prefix>_<secret>`, stored as the SHA-256 of the whole key."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from mss_contracts.permissions import (
    CONCRETE_PERMISSIONS,
    WILDCARD,
    OrganizationType,
    api_key_permissions,
)
from mss_identity.domain.errors import InvalidPermissions

KEY_SCHEME = "mssk"

# What a key may carry at most: any concrete permission of the matrix, never the wildcard;
# its organization's type narrows that further (`fitting_permissions`).
KNOWN_PERMISSIONS: frozenset[str] = CONCRETE_PERMISSIONS


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: UUID
    org_id: UUID
    name: str | None
    prefix: str
    permissions: tuple[str, ...]
    created_by: UUID | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str
    prefix: str
    key_hash: str


def new_api_key() -> NewKey:
    prefix = secrets.token_hex(4)
    key = f"{KEY_SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(key=key, prefix=prefix, key_hash=api_key_hash(key))


def api_key_hash(key: str) -> str:
    """SHA-256 suffices: the secret is 256 random bits, not a guessable password."""
    return hashlib.sha256(key.encode()).hexdigest()


def checked_permissions(requested: Iterable[str]) -> tuple[str, ...]:
    """Sorted, de-duplicated permissions; refuses empty, unknown and `*:*`."""
    wanted = sorted(set(requested))
    if not wanted:
        raise InvalidPermissions("At least one permission is required")
    if WILDCARD in wanted:
        raise InvalidPermissions("An API key can never hold *:*")
    unknown = [p for p in wanted if p not in KNOWN_PERMISSIONS]
    if unknown:
        raise InvalidPermissions(f"Unknown permissions: {', '.join(unknown)}")
    return tuple(wanted)


def fitting_permissions(permissions: Iterable[str], org_type: OrganizationType) -> None:
    """Refuses permissions no role of the organization's type could hold, integration
    permissions aside (a customer's key never holds a provider-only permission)."""
    misfits = sorted(set(permissions) - api_key_permissions(org_type))
    if misfits:
        raise InvalidPermissions(
            f"Not available to a key of a {org_type.value} organization: {', '.join(misfits)}"
        )
