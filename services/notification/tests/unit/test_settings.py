"""Settings: in production, mailed links must use the public HTTPS base URL."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mss_notification.config import NotificationSettings


@pytest.mark.parametrize(
    "public_url",
    [
        "http://127.0.0.1:8080",
        "http://mss.example.com",
        "mss.example.com",
        "https://",
        "ftp://mss.example.com",
    ],
)
def test_production_refuses_a_public_url_that_is_not_https(
    monkeypatch: pytest.MonkeyPatch, public_url: str
) -> None:
    monkeypatch.setenv("MSS_ENV", "production")
    monkeypatch.setenv("MSS_PUBLIC_URL", public_url)

    with pytest.raises(ValidationError) as refused:
        NotificationSettings()

    message = str(refused.value)
    assert "MSS_PUBLIC_URL must be the platform's public HTTPS base URL" in message
    assert repr(public_url) in message


def test_production_refuses_the_development_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSS_ENV", "production")
    monkeypatch.delenv("MSS_PUBLIC_URL", raising=False)

    with pytest.raises(ValidationError, match="MSS_PUBLIC_URL"):
        NotificationSettings()


def test_production_accepts_the_public_https_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSS_ENV", "production")
    monkeypatch.setenv("MSS_PUBLIC_URL", "https://mss.example.com")

    assert NotificationSettings().public_url == "https://mss.example.com"


@pytest.mark.parametrize("env", ["development", "test"])
def test_development_and_tests_keep_the_local_plain_http_gateway(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv("MSS_ENV", env)
    monkeypatch.delenv("MSS_PUBLIC_URL", raising=False)

    assert NotificationSettings().public_url == "http://127.0.0.1:8080"
