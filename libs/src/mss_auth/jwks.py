"""JWKS: publishing our public keys, and loading them back for verification."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from jwt.algorithms import ECAlgorithm

from mss_auth.tokens import ALGORITHM, KeyLoader


def public_jwk(kid: str, key: EllipticCurvePublicKey) -> dict[str, Any]:
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(key, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM}


def keys_from_jwks(document: Mapping[str, Any]) -> dict[str, EllipticCurvePublicKey]:
    """Only EC P-256 signing keys with a kid are accepted."""
    keys: dict[str, EllipticCurvePublicKey] = {}
    for jwk in document.get("keys", []):
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or not jwk.get("kid"):
            continue
        if jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
            continue
        key = ECAlgorithm.from_jwk(jwk)
        if isinstance(key, EllipticCurvePublicKey):
            keys[str(jwk["kid"])] = key
    return keys


def http_jwks_loader(url: str, timeout_s: float = 3.0) -> KeyLoader:
    """Fetch identity's JWKS over HTTP (called only on an unknown kid, rate-limited)."""

    async def load() -> Mapping[str, EllipticCurvePublicKey]:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(url)
            response.raise_for_status()
            return keys_from_jwks(response.json())

    return load
