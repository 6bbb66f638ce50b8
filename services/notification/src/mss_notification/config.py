from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

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
