"""The notification service's HTTP app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from mss_auth.tokens import KeyLoader
from mss_contracts.internal import OrganizationRecord, UserRecord
from mss_notification.adapters.directory import ORG_DIRECTORY, USER_DIRECTORY
from mss_notification.api.live import router as live_router
from mss_notification.api.routes import router
from mss_notification.api.webhooks import router as webhooks_router
from mss_notification.application.projections import record_fetched_org, record_fetched_user
from mss_notification.config import SERVICE, SERVICE_DIR, NotificationSettings
from mss_service import ServiceRuntime, create_service_app


def build_runtime(key_loader: KeyLoader | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(
        service=SERVICE,
        settings=NotificationSettings(),
        service_dir=SERVICE_DIR,
        key_loader=key_loader,
    )
    # An event naming a user or organization the projections lack (created a moment ago,
    # its own event not heard yet) asks the owner first, so nobody misses a notification.
    runtime.project(
        USER_DIRECTORY,
        owner="identity",
        path="/internal/users/{id}",
        record=UserRecord,
        apply=record_fetched_user,
    )
    runtime.project(
        ORG_DIRECTORY,
        owner="organization",
        path="/internal/organizations/{id}",
        record=OrganizationRecord,
        apply=record_fetched_org,
    )
    return runtime


def create_app(
    runtime_factory: Callable[[], ServiceRuntime] = build_runtime, *, run_relay: bool | None = None
) -> FastAPI:
    """The app; `run_relay=False` keeps events in the outbox (tests that inspect it)."""
    return create_service_app(
        title="MSS notification service",
        runtime_factory=runtime_factory,
        run_relay=run_relay,
        routers=[live_router, router, webhooks_router],
    )
