"""The organization service's HTTP app."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from mss_auth.tokens import KeyLoader
from mss_organization.api.routes import router
from mss_organization.application.organizations import OrganizationNotFound
from mss_organization.config import SERVICE, SERVICE_DIR, OrganizationSettings
from mss_organization.domain.organization import InvalidTransition, ProviderOrganizationProtected
from mss_service import ServiceRuntime, create_service_app
from mss_web.errors import Conflict, InvalidStateTransition, NotFound
from mss_web.handlers import map_domain_errors


def build_runtime(key_loader: KeyLoader | None = None) -> ServiceRuntime:
    return ServiceRuntime(
        service=SERVICE,
        settings=OrganizationSettings(),
        service_dir=SERVICE_DIR,
        key_loader=key_loader,
    )


def create_app(runtime_factory: Callable[[], ServiceRuntime] = build_runtime) -> FastAPI:
    app = create_service_app(
        title="MSS organization service", runtime_factory=runtime_factory, routers=[router]
    )
    map_domain_errors(
        app,
        {
            OrganizationNotFound: NotFound,
            InvalidTransition: InvalidStateTransition,
            ProviderOrganizationProtected: Conflict,
        },
    )
    return app
