"""ES256 signing keys kept as PEM files, one per kid; the newest signs, every one verifies.

Dev keys are generated at first run into `.run/keys/signing/`; deployments mount the
same directory from a secret. Rotation adds a newer file; an old one is removed only
after the tokens it signed have expired.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mss_auth.jwks import public_jwk


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
