from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from mss_settings import PlatformSettings

SERVICE = "identity"
SERVICE_DIR = Path(__file__).resolve().parents[2]


class IdentitySettings(PlatformSettings):
    # Signing keys: one PEM per key, named by kid; the newest signs, all verify.
    identity_keys_dir: Path | None = None
    access_token_ttl_s: int = 15 * 60
    session_absolute_ttl_s: int = 12 * 3600
    session_idle_ttl_s: int = 30 * 60
    # argon2id: OWASP's minimum is m=19 MiB, t=2, p=1.
    argon2_memory_kib: int = 19 * 1024
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    password_hash_workers: int = 2
    # A slow password spray: failed logins per client address (the gateway's X-Real-IP)
    # within the window, then 429 until it ends. Tests lower them to spray in seconds.
    login_failures_per_address: int = Field(default=100, ge=1)
    login_failure_window_s: int = Field(default=3600, ge=1)
    # Per account: forgotten-password mails, and wrong current passwords at password change.
    recovery_mails_per_account: int = Field(default=3, ge=1)
    recovery_mail_window_s: int = Field(default=15 * 60, ge=1)
    password_change_attempts: int = Field(default=5, ge=1)
    password_change_window_s: int = Field(default=5 * 60, ge=1)
    bootstrap_admin_email: str = "admin@mss.local"
    bootstrap_admin_password: SecretStr | None = None

    @property
    def keys_dir(self) -> Path:
        return self.identity_keys_dir or self.run_dir / "keys" / "signing"
