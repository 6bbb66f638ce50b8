"""Walk an app's routes: every one must check a permission from the matrix or be public."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from mss_auth.dependencies import Authenticated, PermissionCheck, ServiceCaller
from mss_service import PUBLIC_PATHS

SIGNED_IN = "(any signed-in user)"
SERVICE_TOKEN = "(service token)"


def _checks(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, PermissionCheck):
            yield " | ".join(dependency.call.permissions)
        elif isinstance(dependency.call, Authenticated):
            yield SIGNED_IN
        elif isinstance(dependency.call, ServiceCaller):
            yield SERVICE_TOKEN
        yield from _checks(dependency)


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route of an app, those of included routers too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        # FastAPI keeps included routers as they are (our routers carry their own prefix).
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)


def route_permissions(app: FastAPI) -> dict[tuple[str, str], set[str]]:
    """(method, path with `{id}` parameters) → the permissions its dependencies check."""
    table: dict[tuple[str, str], set[str]] = {}
    for route in api_routes(app.routes):
        for method in route.methods or set():
            # Path parameters named as in API.md, whatever the handler calls them.
            table[(method, re.sub(r"\{[^}]+\}", "{id}", route.path))] = set(
                _checks(route.dependant)
            )
    return table


def undeclared(app: FastAPI, public: set[tuple[str, str]]) -> list[tuple[str, str]]:
    """Routes that neither check a permission nor are listed as public (health aside)."""
    return sorted(
        key
        for key, checks in route_permissions(app).items()
        if not checks and key not in public and key[1] not in PUBLIC_PATHS
    )
