"""RFC 8725 checks: only ES256 from our keys, right issuer/audience/type, not expired."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mss_auth import tokens
from mss_auth.principal import Principal
from mss_auth.tokens import KeysUnavailable, TokenError, TokenVerifier
from mss_contracts.permissions import Role

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())
KID = "k1"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
P384_KEY = ec.generate_private_key(ec.SECP384R1())


async def _keys() -> Mapping[str, ec.EllipticCurvePublicKey]:
    return {KID: KEY.public_key()}


def _verifier() -> TokenVerifier:
    return TokenVerifier(load_keys=_keys, issuer="mss-identity", audience="mss-platform")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "mss-identity",
        "aud": "mss-platform",
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "org": str(uuid.uuid4()),
        "orgType": "mss_provider",
        "role": "super_admin",
        "amr": ["pwd"],
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return claims


def _sign(claims: dict[str, Any], key: Any = KEY, kid: str = KID, typ: str = "at+jwt") -> str:
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid, "typ": typ})


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_a_valid_token_yields_its_claims() -> None:
    claims = await _verifier().verify(_sign(_claims()))
    assert claims.role is Role.SUPER_ADMIN


def _forged() -> dict[str, str]:
    valid = _sign(_claims())
    header, payload, signature = valid.split(".")
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hs256 = ".".join([_b64({"alg": "HS256", "typ": "at+jwt", "kid": KID}), payload])
    import hashlib
    import hmac

    mac = hmac.new(public_pem, hs256.encode(), hashlib.sha256).digest()
    hs256 += "." + base64.urlsafe_b64encode(mac).decode().rstrip("=")
    tampered_payload = _b64({**_claims(), "role": "super_admin", "org": str(uuid.uuid4())})
    return {
        "garbage": "not-a-token",
        "alg_none": ".".join([_b64({"alg": "none", "typ": "at+jwt", "kid": KID}), payload, ""]),
        "other_key": _sign(_claims(), key=OTHER),
        "hs256_with_public_key": hs256,
        "tampered": ".".join([header, tampered_payload, signature]),
        "expired": _sign(_claims(exp=int(time.time()) - 60)),
        "not_yet_valid": _sign(_claims(nbf=int(time.time()) + 600)),
        "wrong_audience": _sign(_claims(aud="someone-else")),
        "wrong_issuer": _sign(_claims(iss="evil")),
        "wrong_type": _sign(_claims(), typ="JWT"),
        "unknown_kid": _sign(_claims(), kid="nope"),
        "jku_ignored_other_key": jwt.encode(
            _claims(),
            OTHER,
            algorithm="ES256",
            headers={"kid": KID, "typ": "at+jwt", "jku": "https://evil/jwks"},
        ),
        "x5u_ignored_other_key": jwt.encode(
            _claims(),
            OTHER,
            algorithm="ES256",
            headers={"kid": KID, "typ": "at+jwt", "x5u": "https://evil/cert.pem"},
        ),
        "embedded_jwk_ignored": jwt.encode(
            _claims(),
            OTHER,
            algorithm="ES256",
            headers={"kid": KID, "typ": "at+jwt", "jwk": _public_jwk(OTHER)},
        ),
        "rs256": jwt.encode(
            _claims(), RSA_KEY, algorithm="RS256", headers={"kid": KID, "typ": "at+jwt"}
        ),
        "ps256": jwt.encode(
            _claims(), RSA_KEY, algorithm="PS256", headers={"kid": KID, "typ": "at+jwt"}
        ),
        "es384": jwt.encode(
            _claims(), P384_KEY, algorithm="ES384", headers={"kid": KID, "typ": "at+jwt"}
        ),
        "es384_header_on_es256_signature": ".".join(
            [_b64({"alg": "ES384", "typ": "at+jwt", "kid": KID}), payload, signature]
        ),
    }


def _public_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return jwk


@pytest.mark.parametrize("name", sorted(_forged()))
async def test_forged_or_invalid_tokens_are_refused(name: str) -> None:
    with pytest.raises(TokenError):
        await _verifier().verify(_forged()[name])


async def test_unreachable_jwks_is_unavailable_not_invalid() -> None:
    async def broken() -> Mapping[str, ec.EllipticCurvePublicKey]:
        raise ConnectionError("identity down")

    verifier = TokenVerifier(load_keys=broken, issuer="mss-identity", audience="mss-platform")
    with pytest.raises(KeysUnavailable):
        await verifier.verify(_sign(_claims()))


async def test_scope_follows_the_role() -> None:
    verifier = _verifier()
    admin = await verifier.verify(_sign(_claims()))
    assert Principal.from_claims(admin, ip_address=None, user_agent=None).scope.all_orgs
    tech = await verifier.verify(_sign(_claims(role="technician")))
    scope = Principal.from_claims(tech, ip_address=None, user_agent=None).scope
    assert not scope.all_orgs
    assert scope.org_ids == {tech.org}
    customer = await verifier.verify(_sign(_claims(role="admin", orgType="customer")))
    principal = Principal.from_claims(customer, ip_address=None, user_agent=None)
    assert principal.scope.org_ids == {customer.org}
    assert principal.can("audit:read")
    assert not principal.can("organizations:create")


async def test_api_key_token_carries_only_its_permissions() -> None:
    claims = await _verifier().verify(
        _sign(_claims(role=None, orgType="customer", perms=["alerts:create"]))
    )
    principal = Principal.from_claims(claims, ip_address=None, user_agent=None)
    assert principal.can("alerts:create")
    assert not principal.can("alerts:read")
    assert not principal.scope.all_orgs


class _CountingDecode:
    """Counts the signature checks the verifier makes (jwt.decode), passing them through."""

    def __init__(self) -> None:
        self.calls = 0
        self._decode = jwt.decode

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self._decode(*args, **kwargs)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> _CountingDecode:
    counting = _CountingDecode()
    monkeypatch.setattr(tokens.jwt, "decode", counting)
    return counting


async def test_a_token_accepted_once_is_accepted_again_without_a_second_check(
    decodes: _CountingDecode,
) -> None:
    verifier, token = _verifier(), _sign(_claims())

    first = await verifier.verify(token)
    again = await verifier.verify(token)

    assert again == first
    assert decodes.calls == 1


async def test_a_remembered_token_is_checked_again_once_it_expires(
    decodes: _CountingDecode, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier, claims = _verifier(), _claims()
    token = _sign(claims)
    await verifier.verify(token)
    later = claims["exp"] + tokens.LEEWAY_S + 1
    monkeypatch.setattr(tokens.time, "time", lambda: later)

    # Past its expiry the cache no longer answers: the token goes through the full check
    # (which refuses it; PyJWT reads its own clock, so the refusal is forced here).
    monkeypatch.setattr(tokens.jwt, "decode", _expired)
    with pytest.raises(TokenError):
        await verifier.verify(token)


def _expired(*args: Any, **kwargs: Any) -> Any:
    raise jwt.ExpiredSignatureError("expired")


async def test_refused_tokens_are_never_remembered(decodes: _CountingDecode) -> None:
    verifier, forged = _verifier(), _sign(_claims(), key=OTHER)

    for _ in range(2):
        with pytest.raises(TokenError):
            await verifier.verify(forged)
    assert decodes.calls == 2


async def test_the_cache_is_bounded(
    decodes: _CountingDecode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_CACHE_SIZE", 2)
    verifier = _verifier()
    first, second, third = (_sign(_claims()) for _ in range(3))
    for token in (first, second, third):
        await verifier.verify(token)

    await verifier.verify(first)  # made room for the third: checked again

    assert decodes.calls == 4
