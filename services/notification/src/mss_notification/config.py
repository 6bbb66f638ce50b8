from __future__ import annotations

from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import SecretStr, model_validator

from mss_settings import PlatformSettings

SERVICE = "notification"
SERVICE_DIR = Path(__file__).resolve().parents[2]


class NotificationSettings(PlatformSettings):
    # Where links in mails point: the gateway as users reach it (MSS_PUBLIC_URL).
    public_url: str = "http://127.0.0.1:8080"
    # The defaults are the local sink scripts/up starts when MSS_SMTP_HOST is unset.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_starttls: bool = False
    smtp_use_tls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = 10.0
    smtp_attempts: int = 3
    smtp_backoff_s: float = 0.5
    mail_from: str = "MSS Platform <no-reply@mss.local>"
    # Webhooks: the key that seals their signing secrets (MSS_WEBHOOK_KEY, a Fernet key;
    # unset: generated once into the run dir's secrets), the development escape hatch that
    # admits private addresses and plain http (MSS_WEBHOOK_ALLOW_PRIVATE=1, never in
    # production), and how long one delivery may take.
    webhook_key: SecretStr | None = None
    webhook_allow_private: bool = False
    webhook_connect_timeout_s: float = 3.0
    webhook_timeout_s: float = 5.0
    # How often the worker looks for due mails, digests and webhook deliveries.
    poll_interval_s: float = 1.0

    @model_validator(mode="after")
    def _https_links_in_production(self) -> Self:
        """Mailed links carry one-time tokens (invitations, password resets): in production
        they must point at the public HTTPS address, never at plain HTTP or the dev default."""
        if self.env == "production":
            parts = urlsplit(self.public_url)
            if parts.scheme != "https" or not parts.hostname:
                raise ValueError(
                    "MSS_PUBLIC_URL must be the platform's public HTTPS base URL when "
                    f"MSS_ENV=production (e.g. https://mss.example.com), not {self.public_url!r}"
                )
        return self

    @model_validator(mode="after")
    def _no_private_webhooks_in_production(self) -> Self:
        """The SSRF defence is not optional where customers register URLs."""
        if self.env == "production" and self.webhook_allow_private:
            raise ValueError("MSS_WEBHOOK_ALLOW_PRIVATE must not be set when MSS_ENV=production")
        return self
