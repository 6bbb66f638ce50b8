"""Settings shared by every service, read from the environment (prefix MSS_)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from mss_settings import registry


class PlatformSettings(BaseSettings):
    """Connection URLs and platform-wide knobs; every service extends this."""

    model_config = SettingsConfigDict(env_prefix="MSS_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    # The admin URL: provisioning uses it as is, services derive their own role's URL.
    database_url: str = "postgresql://postgres@127.0.0.1:5432/mss"
    redis_url: str = "redis://127.0.0.1:6379/0"
    rabbitmq_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    # Prefix for exchange and queue names, so test runs never touch the live topology.
    bus_namespace: str = ""
    run_dir: Path = Path(".run")
    # Added to every port of the registry (a second platform beside the first).
    port_offset: int = 0
    # Where other services fetch identity's public keys; default: identity's API here.
    jwks_url: str | None = None
    token_issuer: str = "mss-identity"
    token_audience: str = "mss-platform"
    bind_host: str = "127.0.0.1"
    log_level: str = "INFO"
    db_pool_size: int = 10
    # Only these peers may set X-Real-IP (the gateway); anyone else's header is ignored.
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]
    # The window of the access and denial journals (mss_service.journal): at most one
    # audit event per key (actor, organization, resource type or action) per window.
    journal_window_s: float = Field(default=10.0, gt=0, le=3600)
    # The key of the service tokens one service shows another's /internal/ routes (HS256).
    # Unset: generated once into the secrets dir, which every process of a host shares.
    service_token_secret: SecretStr | None = None
    # How long a projection miss waits for the owner's internal endpoint, in all.
    internal_timeout_s: float = 1.0

    @property
    def secrets_dir(self) -> Path:
        return self.run_dir / "secrets"

    def port(self, service: str, command: str = "api") -> int:
        """The port of one process of a service: the registry's, shifted by the offset."""
        return registry.service(service).process(command, self.port_offset).port

    @property
    def jwks(self) -> str:
        return self.jwks_url or f"http://127.0.0.1:{self.port('identity')}/.well-known/jwks.json"

    def internal_url(self, service: str) -> str:
        """Where this process reaches a service's API for internal reads.

        `MSS_<SERVICE>_INTERNAL_URL` (compose and k8s name the service's host), else the
        loopback address and the registry's port, shifted by the offset.
        """
        override = os.environ.get(f"MSS_{service.upper()}_INTERNAL_URL")
        return (override or f"http://127.0.0.1:{self.port(service)}").rstrip("/")


def db_role_password(settings: PlatformSettings, role: str) -> SecretStr:
    """The password of a service DB role: generated once into the secrets dir."""
    path = settings.secrets_dir / "db" / role
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return SecretStr(path.read_text().strip())


def service_token_secret(settings: PlatformSettings) -> SecretStr:
    """The platform-internal key of service tokens: `MSS_SERVICE_TOKEN_SECRET`, else the
    file `secrets/service-token-key`, generated once (provisioning does it before any
    service starts; the exclusive create keeps two first starts from writing two keys)."""
    if settings.service_token_secret is not None:
        value = settings.service_token_secret.get_secret_value()
        if len(value) < 32:
            raise ValueError("MSS_SERVICE_TOKEN_SECRET must be at least 32 characters")
        return settings.service_token_secret
    path = settings.secrets_dir / "service-token-key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        draft.write_text(secrets.token_urlsafe(48))
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # atomic, and refused when another process won the race
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return SecretStr(path.read_text().strip())


def role_database_url(settings: PlatformSettings, role: str) -> str:
    """The admin URL with `role` and its generated password: what a service connects with."""
    url = make_url(settings.database_url).set(
        drivername="postgresql+asyncpg",
        username=role,
        password=db_role_password(settings, role).get_secret_value(),
    )
    return url.render_as_string(hide_password=False)


def admin_database_url(settings: PlatformSettings) -> str:
    """The admin URL with the asyncpg driver."""
    url = make_url(settings.database_url).set(drivername="postgresql+asyncpg")
    return url.render_as_string(hide_password=False)
