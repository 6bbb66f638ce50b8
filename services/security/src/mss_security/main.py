"""The security service's HTTP app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from mss_auth.tokens import KeyLoader
from mss_security.api.routes import router
from mss_security.config import SERVICE, SERVICE_DIR, SecuritySettings
from mss_service import ServiceRuntime, create_service_app


def build_runtime(key_loader: KeyLoader | None = None) -> ServiceRuntime:
    return ServiceRuntime(
        service=SERVICE,
        settings=SecuritySettings(),
        service_dir=SERVICE_DIR,
        key_loader=key_loader,
    )


def create_app(
    runtime_factory: Callable[[], ServiceRuntime] = build_runtime, *, run_relay: bool | None = None
) -> FastAPI:
    return create_service_app(
        title="MSS security service",
        runtime_factory=runtime_factory,
        routers=[router],
        run_relay=run_relay,
    )
