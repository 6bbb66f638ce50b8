"""The organization service's HTTP app."""

from __future__ import annotations

from fastapi import FastAPI

from mss_organization.api.routes import router
from mss_organization.application.organizations import OrganizationNotFound
from mss_organization.config import SERVICE, SERVICE_DIR, OrganizationSettings
from mss_organization.domain.organization import InvalidTransition, ProviderOrganizationProtected
from mss_service import ServiceRuntime, create_service_app
from mss_web.errors import Conflict, InvalidStateTransition, NotFound
from mss_web.handlers import map_domain_errors


def build_runtime() -> ServiceRuntime:
    return ServiceRuntime(service=SERVICE, settings=OrganizationSettings(), service_dir=SERVICE_DIR)


def create_app() -> FastAPI:
    app = create_service_app(
        title="MSS organization service", runtime_factory=build_runtime, routers=[router]
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
