"""Single-use tokens mailed to a user (invitation, password reset, email verification).

The token is 256 random bits shown once (in the event the mailer reads); only its
SHA-256 hash is stored, so the database alone cannot be used to take over an account.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from enum import StrEnum


class TokenPurpose(StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"
    EMAIL_VERIFICATION = "email_verification"


LIFETIMES: dict[TokenPurpose, timedelta] = {
    TokenPurpose.INVITATION: timedelta(days=7),
    TokenPurpose.PASSWORD_RESET: timedelta(minutes=30),
    TokenPurpose.EMAIL_VERIFICATION: timedelta(days=1),
}

# The tokens that set a password when presented to `POST /api/auth/password/reset`.
PASSWORD_SETTING: frozenset[TokenPurpose] = frozenset(
    {TokenPurpose.INVITATION, TokenPurpose.PASSWORD_RESET}
)


def new_user_token() -> str:
    return secrets.token_urlsafe(32)


def user_token_hash(token: str) -> str:
    """SHA-256 suffices: the token is 256 random bits, not a guessable password."""
    return hashlib.sha256(token.encode()).hexdigest()
