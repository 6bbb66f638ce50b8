from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

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
    bootstrap_admin_email: str = "admin@mss.local"
    bootstrap_admin_password: SecretStr | None = None

    @property
    def keys_dir(self) -> Path:
        return self.identity_keys_dir or self.run_dir / "keys" / "signing"
