"""The identity service's HTTP app."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI

from mss_identity.adapters.keys import KeyRing, TokenIssuer
from mss_identity.adapters.passwords import PasswordHasher
from mss_identity.api.api_keys import router as api_keys_router
from mss_identity.api.internal import router as internal_router
from mss_identity.api.routes import router
from mss_identity.api.runtime import IdentityRuntime
from mss_identity.api.users import router as users_router
from mss_identity.config import IdentitySettings
from mss_service import create_service_app


def build_runtime(settings: IdentitySettings | None = None) -> IdentityRuntime:
    settings = settings or IdentitySettings()
    keys = KeyRing(settings.keys_dir)
    return IdentityRuntime(
        settings=settings,
        hasher=PasswordHasher(
            memory_kib=settings.argon2_memory_kib,
            time_cost=settings.argon2_time_cost,
            parallelism=settings.argon2_parallelism,
            workers=settings.password_hash_workers,
        ),
        keys=keys,
        tokens=TokenIssuer(
            keys=keys,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            access_ttl_s=settings.access_token_ttl_s,
            session_absolute=timedelta(seconds=settings.session_absolute_ttl_s),
            session_idle=timedelta(seconds=settings.session_idle_ttl_s),
        ),
    )


def create_app(
    runtime_factory: Callable[[], IdentityRuntime] = build_runtime, *, run_relay: bool | None = None
) -> FastAPI:
    """The app; `run_relay=False` keeps events in the outbox (tests that inspect it)."""
    return create_service_app(
        title="MSS identity service",
        runtime_factory=runtime_factory,
        run_relay=run_relay,
        routers=[router, users_router, api_keys_router, internal_router],
    )
