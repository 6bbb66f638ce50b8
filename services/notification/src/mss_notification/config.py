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
