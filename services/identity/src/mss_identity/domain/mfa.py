"""TOTP (RFC 6238: 30 s steps, ±1 step) with single use, and one-time backup codes."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import pyotp

STEP_S = 30
DRIFT_STEPS = 1
BACKUP_CODES = 10
ISSUER = "MSS Platform"
# The second factor at login: a single-use mfaToken lives 5 minutes; 5 wrong codes per user
# within 5 minutes throttle the user's further attempts (ARCHITECTURE "Identity and tokens").
CHALLENGE_TTL_S = 300
MAX_WRONG_CODES = 5
ATTEMPT_WINDOW_S = 300


def new_secret() -> str:
    """160 bits from the OS CSPRNG, base32 (32 characters)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret, interval=STEP_S).provisioning_uri(name=email, issuer_name=ISSUER)


def matching_step(
    secret: str, code: str, *, after_step: int, now: float | None = None
) -> int | None:
    """The step whose code this is, if within ±1 step and later than the last one used."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret, interval=STEP_S)
    current = int((now if now is not None else time.time()) // STEP_S)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if step > after_step and hmac.compare_digest(totp.at(step * STEP_S), code):
            return step
    return None


@dataclass(frozen=True, slots=True)
class BackupCodes:
    plain: list[str]
    hashes: list[str]


def backup_code_hash(code: str) -> str:
    """Codes carry 48 random bits; a plain SHA-256 is enough to keep them unreadable at rest."""
    return hashlib.sha256(code.replace("-", "").lower().encode()).hexdigest()


def new_backup_codes() -> BackupCodes:
    plain = []
    for _ in range(BACKUP_CODES):
        raw = secrets.token_hex(6)  # 48 bits, shown as xxxxxx-xxxxxx
        plain.append(f"{raw[:6]}-{raw[6:]}")
    return BackupCodes(plain=plain, hashes=[backup_code_hash(code) for code in plain])


def use_backup_code(hashes: list[str], code: str) -> list[str] | None:
    """The remaining hashes after using `code`, or None when it is not one of them."""
    digest = backup_code_hash(code)
    for index, stored in enumerate(hashes):
        if hmac.compare_digest(stored, digest):
            return hashes[:index] + hashes[index + 1 :]
    return None
