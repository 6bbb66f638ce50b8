"""The notification service's HTTP app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from mss_auth.tokens import KeyLoader
from mss_notification.api.routes import router
from mss_notification.config import SERVICE, SERVICE_DIR, NotificationSettings
from mss_service import ServiceRuntime, create_service_app


def build_runtime(key_loader: KeyLoader | None = None) -> ServiceRuntime:
    return ServiceRuntime(
        service=SERVICE,
        settings=NotificationSettings(),
        service_dir=SERVICE_DIR,
        key_loader=key_loader,
    )


def create_app(runtime_factory: Callable[[], ServiceRuntime] = build_runtime) -> FastAPI:
    return create_service_app(
        title="MSS notification service",
        runtime_factory=runtime_factory,
        routers=[router],
    )
