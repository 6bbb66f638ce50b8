"""ES256 signing keys kept as PEM files, one per kid; the newest signs, every one verifies.

Dev keys are generated at first run into `.run/keys/signing/`; deployments mount the
same directory from a secret. Rotation adds a newer file; an old one is removed only
after the tokens it signed have expired.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from uuid import UUID

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mss_auth.jwks import public_jwk
from mss_auth.tokens import KeyLoader
from mss_contracts.permissions import OrganizationType, Role
from mss_identity.domain.tokens import IssuedToken, issue_access_token


@dataclass(frozen=True, slots=True)
class SigningKeys:
    private: Mapping[str, ec.EllipticCurvePrivateKey]
    active_kid: str

    @property
    def active(self) -> ec.EllipticCurvePrivateKey:
        return self.private[self.active_kid]

    def public(self) -> dict[str, ec.EllipticCurvePublicKey]:
        return {kid: key.public_key() for kid, key in self.private.items()}

    def jwks(self) -> dict[str, object]:
        return {"keys": [public_jwk(kid, key) for kid, key in sorted(self.public().items())]}


def load_keys(directory: Path) -> SigningKeys:
    files = sorted(directory.glob("*.pem"))
    if not files:
        raise FileNotFoundError(f"no signing key in {directory}: run `python -m mss_identity keys`")
    private: dict[str, ec.EllipticCurvePrivateKey] = {}
    for path in files:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise ValueError(f"{path.name} is not an EC P-256 private key")
        private[path.stem] = key
    # Names start with a creation timestamp, so the last one is the newest.
    return SigningKeys(private=private, active_kid=files[-1].stem)


def local_key_loader(directory: Path) -> KeyLoader:
    """Identity verifies its own tokens from its key files, never over HTTP (the verifier
    calls this again when a token names a kid it does not know)."""

    async def load() -> Mapping[str, ec.EllipticCurvePublicKey]:
        return load_keys(directory).public()

    return load


class KeyRing:
    """The key files as they are now, so a rotation needs no restart.

    The directory is looked at again at most every `interval_s`, and re-read only when
    its files changed. Callers take one `current()` snapshot per token they sign, so the
    key and its kid always match.
    """

    def __init__(
        self,
        directory: Path,
        *,
        interval_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._interval = interval_s
        self._clock = clock
        self._stamp = self._fingerprint()
        self._keys = load_keys(directory)
        self._jwks = self._keys.jwks()
        self._checked = clock()

    def _fingerprint(self) -> tuple[tuple[str, int], ...]:
        return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in self._directory.glob("*.pem")))

    def current(self) -> SigningKeys:
        now = self._clock()
        if now - self._checked >= self._interval:
            self._checked = now
            stamp = self._fingerprint()
            if stamp != self._stamp:
                self._keys, self._stamp = load_keys(self._directory), stamp
                self._jwks = self._keys.jwks()
        return self._keys

    def jwks(self) -> dict[str, object]:
        """The public document of `current()`, built once per key set (not per request:
        deriving and encoding each public key was most of `/.well-known/jwks.json`)."""
        self.current()
        return self._jwks


@dataclass(frozen=True, slots=True)
class TokenIssuer:
    """Signs access tokens with the ring's active key for this platform's issuer and
    audience; holds the lifetimes of access tokens and of the sessions refresh tokens keep."""

    keys: KeyRing
    issuer: str
    audience: str
    access_ttl_s: int
    session_absolute: timedelta
    session_idle: timedelta

    def access_token(
        self,
        *,
        subject: UUID,
        session_id: UUID,
        org_id: UUID,
        org_type: OrganizationType,
        role: Role | None,
        amr: list[str],
        now: datetime,
        permissions: list[str] | None = None,
        mfa_enrollment_required: bool = False,
    ) -> IssuedToken:
        signing = self.keys.current()  # one snapshot: the key and its kid match
        return issue_access_token(
            key=signing.active,
            kid=signing.active_kid,
            issuer=self.issuer,
            audience=self.audience,
            ttl_s=self.access_ttl_s,
            user_id=subject,
            session_id=session_id,
            org_id=org_id,
            org_type=org_type,
            role=role,
            amr=amr,
            now=now,
            permissions=permissions,
            mfa_enrollment_required=mfa_enrollment_required,
        )


def created_at(kid: str) -> int:
    """The creation time (epoch seconds) a kid starts with."""
    return int(kid.split("-", 1)[0])


def prune_keys(directory: Path, *, token_ttl_s: int, now: float, skew_s: int = 60) -> list[str]:
    """Delete the keys no live token can need; returns their kids.

    A key stops signing when the next one is created (plus the reload interval, inside
    `skew_s`), so its tokens are all expired `token_ttl_s` later. The newest key stays.
    """
    files = sorted(directory.glob("*.pem"))
    removed = []
    for path, successor in pairwise(files):
        if now - created_at(successor.stem) > token_ttl_s + skew_s:
            path.unlink()
            removed.append(path.stem)
    return removed


def add_key(directory: Path) -> str:
    """Generate a new P-256 key; it becomes the active one. Returns its kid."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    kid = f"{int(time.time())}-{secrets.token_hex(4)}"
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = directory / f"{kid}.pem"
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return kid


def ensure_key(directory: Path) -> SigningKeys:
    """Load the keys, creating the first one when there is none."""
    if not any(directory.glob("*.pem")):
        add_key(directory)
    return load_keys(directory)
