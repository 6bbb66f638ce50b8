"""The audit service's HTTP app (it publishes only access-transparency events)."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from mss_audit.api.routes import router
from mss_audit.config import SERVICE, SERVICE_DIR, AuditSettings
from mss_auth.tokens import KeyLoader
from mss_service import ServiceRuntime, create_service_app


def build_runtime(key_loader: KeyLoader | None = None) -> ServiceRuntime:
    return ServiceRuntime(
        service=SERVICE,
        settings=AuditSettings(),
        service_dir=SERVICE_DIR,
        key_loader=key_loader,
        # Technicians' scope: the grants projection, refreshed from the organization service.
        grant_projection=True,
    )


def create_app(runtime_factory: Callable[[], ServiceRuntime] = build_runtime) -> FastAPI:
    return create_service_app(
        title="MSS audit service",
        runtime_factory=runtime_factory,
        routers=[router],
    )
