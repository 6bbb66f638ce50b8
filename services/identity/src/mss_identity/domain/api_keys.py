"""API keys for integrations: `mssk_<prefix>_<secret>`, stored as the SHA-256 of the whole key."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from mss_contracts.permissions import INTEGRATION_PERMISSIONS, ROLE_PERMISSIONS, WILDCARD
from mss_identity.domain.errors import InvalidPermissions

KEY_SCHEME = "mssk"

# What a key may carry: any concrete permission of the role matrix, never the wildcard.
KNOWN_PERMISSIONS: frozenset[str] = frozenset().union(
    *ROLE_PERMISSIONS.values(), INTEGRATION_PERMISSIONS
) - {WILDCARD}


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
