"""The audit service's HTTP app (it publishes nothing: no relay in the API process)."""

from __future__ import annotations

from fastapi import FastAPI

from mss_audit.api.routes import router
from mss_audit.application.records import BadCursor
from mss_audit.config import SERVICE, SERVICE_DIR, AuditSettings
from mss_service import ServiceRuntime, create_service_app
from mss_web.errors import ValidationFailed
from mss_web.handlers import map_domain_errors


def build_runtime() -> ServiceRuntime:
    return ServiceRuntime(service=SERVICE, settings=AuditSettings(), service_dir=SERVICE_DIR)


def create_app() -> FastAPI:
    app = create_service_app(
        title="MSS audit service", runtime_factory=build_runtime, routers=[router], run_relay=False
    )
    map_domain_errors(app, {BadCursor: ValidationFailed})
    return app
