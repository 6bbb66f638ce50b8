"""Black-box tests of the NGINX gateway against the running stack.

MSS_GATEWAY_URL (default http://127.0.0.1:8080) is the gateway; the session's single login
(`access_token`, in conftest.py) provides the real token the forged-token tests start from.
For an https URL with the development certificate, set MSS_GATEWAY_CA_BUNDLE to its cert file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

GATEWAY_URL = os.environ.get("MSS_GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/")
VERIFY: str | bool = os.environ.get("MSS_GATEWAY_CA_BUNDLE") or True
PROTECTED_PATH = "/api/organizations"

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}


def b64url(data: bytes) -> str:
    """Base64url without padding, as in a JWT."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(segment: str) -> dict[str, Any]:
    """Decodes one JWT segment into its JSON object."""
    padded = segment + "=" * (-len(segment) % 4)
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    return decoded


def segment(obj: dict[str, Any]) -> str:
    """Encodes a JSON object as a JWT segment."""
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def assert_envelope(response: httpx.Response, status: int, code: str, path: str) -> None:
    """The response is the API error envelope with this status, code and path."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert body["path"] == path
    assert isinstance(body["error"], str)
    assert body["error"]
    assert body["timestamp"]


def assert_security_headers(response: httpx.Response) -> None:
    """The gateway's security headers and a request id are on the response."""
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert response.headers.get("x-request-id")
    if GATEWAY_URL.startswith("https://"):
        assert "max-age=" in response.headers.get("strict-transport-security", "")


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """An HTTP client bound to the gateway."""
    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0, verify=VERIFY) as http:
        yield http


@pytest.fixture(scope="session")
def forged_tokens(access_token: str) -> dict[str, str]:
    """Tokens that must all be refused, built from the real token's header and claims."""
    header_seg, payload_seg, signature_seg = access_token.split(".")
    header = b64url_json(header_seg)
    claims = b64url_json(payload_seg)
    kid = header.get("kid")

    with httpx.Client(base_url=GATEWAY_URL, timeout=30.0, verify=VERIFY) as http:
        jwks = http.get("/.well-known/jwks.json")
    assert jwks.status_code == 200, jwks.text
    keys = [k for k in jwks.json()["keys"] if k.get("kty") == "EC"]
    jwk = next((k for k in keys if k.get("kid") == kid), keys[0])
    public_key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(base64.urlsafe_b64decode(jwk["x"] + "=="), "big"),
        int.from_bytes(base64.urlsafe_b64decode(jwk["y"] + "=="), "big"),
        ec.SECP256R1(),
    ).public_key()
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    none_header = segment({"alg": "none", "typ": "JWT", "kid": kid})
    hs_header = segment({"alg": "HS256", "typ": "JWT", "kid": kid})
    hs_input = f"{hs_header}.{payload_seg}".encode()
    hs_signature = b64url(hmac.new(public_pem, hs_input, hashlib.sha256).digest())
    other_key = ec.generate_private_key(ec.SECP256R1())
    tampered = segment({**claims, "sub": str(uuid.uuid4())})

    return {
        "garbage": "not-a-jwt-at-all",
        "alg_none": f"{none_header}.{payload_seg}.",
        "other_ec_key": jwt.encode(claims, other_key, algorithm="ES256", headers={"kid": kid}),
        "hs256_with_public_key_pem": f"{hs_header}.{payload_seg}.{hs_signature}",
        "tampered_payload": f"{header_seg}.{tampered}.{signature_seg}",
    }


@pytest.mark.parametrize("path", ["/internal/x", "/metrics", "/"])
def test_unknown_path_is_a_404_envelope(client: httpx.Client, path: str) -> None:
    response = client.get(path)

    assert_envelope(response, 404, "NOT_FOUND", path)


def test_404_carries_security_headers_and_request_id(client: httpx.Client) -> None:
    response = client.get("/internal/x")

    assert response.status_code == 404
    assert_security_headers(response)


def test_health_is_answered_by_the_gateway_with_security_headers(client: httpx.Client) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert_security_headers(response)


def test_every_response_gets_its_own_request_id(client: httpx.Client) -> None:
    first = client.get("/health", headers={"X-Request-ID": "chosen-by-client"})
    second = client.get("/health")

    ids = {first.headers["x-request-id"], second.headers["x-request-id"]}
    assert len(ids) == 2
    assert "chosen-by-client" not in ids


def test_body_over_10_mb_is_a_413_envelope(client: httpx.Client) -> None:
    body = b"x" * (11 * 1024 * 1024)

    response = client.post(
        PROTECTED_PATH, content=body, headers={"Content-Type": "application/json"}
    )

    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE", PROTECTED_PATH)
    assert_security_headers(response)


def test_request_without_token_is_authentication_required(client: httpx.Client) -> None:
    response = client.get(PROTECTED_PATH)

    assert_envelope(response, 401, "AUTHENTICATION_REQUIRED", PROTECTED_PATH)
    assert response.headers.get("www-authenticate", "").startswith("Bearer")
    assert_security_headers(response)


def test_real_token_passes_the_gateway(client: httpx.Client, access_token: str) -> None:
    response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {access_token}"})

    assert response.status_code == 200, response.text
    assert response.json()["success"] is True


@pytest.mark.parametrize(
    "kind",
    ["garbage", "alg_none", "other_ec_key", "hs256_with_public_key_pem", "tampered_payload"],
)
def test_forged_token_is_refused(
    client: httpx.Client, forged_tokens: dict[str, str], kind: str
) -> None:
    headers = {"Authorization": f"Bearer {forged_tokens[kind]}"}

    response = client.get(PROTECTED_PATH, headers=headers)

    assert_envelope(response, 401, "INVALID_TOKEN", PROTECTED_PATH)
    assert response.headers.get("www-authenticate", "").startswith("Bearer")
