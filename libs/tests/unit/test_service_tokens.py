"""Service tokens (internal reads): who may call, for whom, how long, and nothing else."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr

from mss_auth.service_tokens import MAX_LIFETIME_S, ServiceTokens
from mss_auth.tokens import TokenError, TokenVerifier
from mss_settings import PlatformSettings, service_token_secret

SECRET = SecretStr("k" * 48)
CALLERS = frozenset({"caller", "owner", "bystander"})


def _tokens(service: str, secret: SecretStr = SECRET) -> ServiceTokens:
    return ServiceTokens(secret, service=service, callers=CALLERS)


class TestVerify:
    def test_a_token_for_this_service_names_its_caller(self) -> None:
        token = _tokens("caller").issue("owner")
        assert _tokens("owner").verify(token) == "caller"

    def test_a_token_for_another_service_is_refused(self) -> None:
        token = _tokens("caller").issue("bystander")
        with pytest.raises(TokenError):
            _tokens("owner").verify(token)

    def test_an_expired_token_is_refused(self) -> None:
        token = _tokens("caller").issue("owner", now=time.time() - 120)
        with pytest.raises(TokenError):
            _tokens("owner").verify(token)

    def test_a_token_living_longer_than_a_minute_is_refused(self) -> None:
        now = int(time.time())
        claims = {
            "iss": "caller",
            "aud": "owner",
            "iat": now,
            "exp": now + MAX_LIFETIME_S + 1,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(
            claims, SECRET.get_secret_value(), algorithm="HS256", headers={"typ": "svc+jwt"}
        )
        with pytest.raises(TokenError):
            _tokens("owner").verify(token)

    def test_a_token_signed_with_another_key_is_refused(self) -> None:
        token = _tokens("caller", SecretStr("x" * 48)).issue("owner")
        with pytest.raises(TokenError):
            _tokens("owner").verify(token)

    def test_a_caller_outside_the_registry_is_refused(self) -> None:
        token = _tokens("intruder").issue("owner")
        with pytest.raises(TokenError):
            _tokens("owner").verify(token)

    def test_a_users_access_token_is_refused(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        now = int(time.time())
        claims = {"iss": "mss-identity", "aud": "owner", "iat": now, "exp": now + 60}
        user_token = jwt.encode(
            {**claims, "jti": "j"}, key, algorithm="ES256", headers={"typ": "at+jwt", "kid": "k"}
        )
        with pytest.raises(TokenError):
            _tokens("owner").verify(user_token)


async def test_the_access_token_verifier_refuses_a_service_token() -> None:
    """So a service token opens no public route."""

    async def no_keys() -> dict[str, ec.EllipticCurvePublicKey]:
        return {}

    verifier = TokenVerifier(load_keys=no_keys, issuer="mss-identity", audience="mss-platform")
    with pytest.raises(TokenError):
        await verifier.verify(_tokens("caller").issue("owner"))


class TestSecret:
    def test_generated_once_and_then_read_back(self, tmp_path: Path) -> None:
        settings = PlatformSettings(run_dir=tmp_path)
        first = service_token_secret(settings)
        assert service_token_secret(settings) == first
        key = tmp_path / "secrets" / "service-token-key"
        assert key.read_text() == first.get_secret_value()
        assert key.stat().st_mode & 0o077 == 0
        assert len(first.get_secret_value()) >= 32
        assert [p.name for p in key.parent.iterdir()] == ["service-token-key"]

    def test_the_environment_wins_and_must_be_long_enough(self, tmp_path: Path) -> None:
        given = PlatformSettings(run_dir=tmp_path, service_token_secret=SECRET)
        assert service_token_secret(given) == SECRET
        short = PlatformSettings(run_dir=tmp_path, service_token_secret=SecretStr("short"))
        with pytest.raises(ValueError, match="32"):
            service_token_secret(short)
