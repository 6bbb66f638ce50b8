"""Access tokens (JWT ES256, 15 min) and opaque refresh tokens (256-bit, stored hashed)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from mss_auth.tokens import ALGORITHM, TOKEN_TYPE
from mss_contracts.permissions import OrganizationType, Role


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_at: datetime
    expires_in: int


def issue_access_token(
    *,
    key: ec.EllipticCurvePrivateKey,
    kid: str,
    issuer: str,
    audience: str,
    ttl_s: int,
    user_id: UUID,
    session_id: UUID,
    org_id: UUID,
    org_type: OrganizationType,
    role: Role | None,
    amr: list[str],
    now: datetime | None = None,
    permissions: list[str] | None = None,
    mfa_enrollment_required: bool = False,
) -> IssuedToken:
    """With `permissions` (an API key), the token carries `perms` and no `role`."""
    issued = now or datetime.now(UTC)
    expires = issued + timedelta(seconds=ttl_s)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": str(user_id),
        "sid": str(session_id),
        "org": str(org_id),
        "orgType": org_type.value,
        "amr": amr,
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    if mfa_enrollment_required:
        # Only the MFA enrolment routes accept this token (403 MFA_ENROLLMENT_REQUIRED).
        claims["mfaEnroll"] = True
    if permissions is not None:
        claims["perms"] = permissions
    elif role is not None:
        claims["role"] = role.value
    token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": TOKEN_TYPE})
    return IssuedToken(token=token, expires_at=expires, expires_in=ttl_s)


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def refresh_token_hash(token: str) -> str:
    """SHA-256 suffices: the token is 256 random bits, not a guessable password."""
    return hashlib.sha256(token.encode()).hexdigest()
