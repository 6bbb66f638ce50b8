"""The runtime every service shares: engine, units of work, Redis, bus, relay, health.

`create_service_app` builds the FastAPI app the same way for all six services, so a
newcomer finds the same envelope, middleware, health and metrics everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy import text

from mss_auth.dependencies import AuthRuntime, GrantLookup
from mss_auth.jwks import http_jwks_loader
from mss_auth.principal import Principal
from mss_auth.service_tokens import ServiceTokens
from mss_auth.sessions import SessionStore
from mss_auth.tokens import KeyLoader, TokenVerifier
from mss_bus.connection import Bus, Topology
from mss_bus.relay import OutboxRelay
from mss_contracts.api import ErrorCode
from mss_contracts.events import EventContext
from mss_contracts.internal import TechnicianGrants
from mss_contracts.permissions import Role
from mss_db.engine import create_engine
from mss_db.migrations import app_role, head_revision
from mss_db.uow import UnitOfWork, UnitOfWorkFactory
from mss_grants import (
    GRANTS_OWNER,
    GRANTS_PATH,
    RefreshedGrantLookup,
    TableGrantLookup,
    record_technician_grants,
)
from mss_grants import TABLE as GRANT_PROJECTION
from mss_projections import OwnerClient, ProjectionSource
from mss_projections.source import INTERVAL_S
from mss_service.denials import DenialJournal
from mss_service.heap import freeze_startup_heap
from mss_service.transparency import AccessJournal
from mss_settings import PlatformSettings, registry, role_database_url, service_token_secret
from mss_web.context import RequestIdMiddleware, client_address
from mss_web.handlers import install_error_handlers, observe_refusals
from mss_web.metrics import install_metrics

log = logging.getLogger("mss.service")

Check = Callable[[], Awaitable[None]]
R = TypeVar("R", bound=BaseModel)
# The projection stores' own pool (see mss_projections.source): one connection kept, two at
# most; it opens on a process's first miss, so a process that never misses holds none.
PROJECTION_STORE_POOL = 1


class ServiceRuntime:
    """Connections of one service process; opened in the lifespan, closed after it."""

    def __init__(
        self,
        *,
        service: str,
        settings: PlatformSettings,
        service_dir: Path,
        key_loader: KeyLoader | None = None,
        grants_table: str | None = None,
        grant_projection: bool = False,
    ) -> None:
        """Technicians' scope widens by their grants: `grants_table` names the owner's own
        table (the organization service); `grant_projection` keeps the `technician_grants`
        projection, refreshed from the owner (every other service that scopes them)."""
        self.service = service
        self.settings = settings
        self.service_dir = service_dir
        database_url = role_database_url(settings, app_role(service))
        self.engine = create_engine(database_url, pool_size=settings.db_pool_size)
        self.uow = UnitOfWorkFactory(self.engine, service)
        self.service_tokens = ServiceTokens(
            service_token_secret(settings), service=service, callers=frozenset(registry.names())
        )
        self.owners = OwnerClient(settings=settings, tokens=self.service_tokens)
        self._store_engine = create_engine(database_url, pool_size=PROJECTION_STORE_POOL)
        self._projection_store = UnitOfWorkFactory(self._store_engine, service)
        self._projection_store.outbox_written = self.uow.outbox_written
        self.redis: Redis = Redis.from_url(
            settings.redis_url, socket_timeout=2, socket_connect_timeout=2
        )
        self.bus = Bus(settings.rabbitmq_url, Topology(settings.bus_namespace))
        self.sessions = SessionStore(self.redis)
        self.auth = AuthRuntime(
            verifier=TokenVerifier(
                load_keys=key_loader or http_jwks_loader(settings.jwks),
                issuer=settings.token_issuer,
                audience=settings.token_audience,
            ),
            sessions=self.sessions,
            trusted_proxies=settings.trusted_proxies,
            grants=self._grant_lookup(grants_table, grant_projection),
            service_tokens=self.service_tokens,
        )
        self.journal = AccessJournal(self.uow, window_s=settings.journal_window_s)
        self.denials = DenialJournal(self.uow, window_s=settings.journal_window_s)
        self._tasks: list[asyncio.Task[None]] = []
        self._head: str | None = None

    def project(
        self,
        table: str,
        *,
        owner: str,
        path: str,
        record: type[R],
        apply: Callable[[UnitOfWork, R], Awaitable[object]],
        interval_s: float = INTERVAL_S,
    ) -> ProjectionSource[R]:
        """Let projection `table` fill a miss from `owner`'s internal `path` (`{id}`):
        `uow.projection(table).find(...)` then asks it, and `apply` stores the record
        (the projection's version-guarded write, the one its consumer uses)."""
        source = ProjectionSource(
            owner=owner,
            path=path,
            record=record,
            apply=apply,
            owners=self.owners,
            store=self._projection_store,
            interval_s=interval_s,
        )
        self.uow.projections[table] = source
        return source

    def _grant_lookup(self, table: str | None, projection: bool) -> GrantLookup | None:
        if table is not None:
            return TableGrantLookup(self.engine, self.service, table)
        if not projection:
            return None
        source = self.project(
            GRANT_PROJECTION,
            owner=GRANTS_OWNER,
            path=GRANTS_PATH,
            record=TechnicianGrants,
            apply=record_technician_grants,
        )
        return RefreshedGrantLookup(
            TableGrantLookup(self.engine, self.service, GRANT_PROJECTION), source
        )

    def relay(self) -> OutboxRelay:
        return OutboxRelay(
            engine=self.engine,
            schema=self.service,
            bus=self.bus,
            service=self.service,
            wake=self.uow.outbox_written,
        )

    def record_denial(
        self,
        request: Request,
        *,
        actor_id: UUID | None,
        org_id: UUID | None,
        status: int,
        code: ErrorCode,
        reason: str,
        action: str | None = None,
        actor_role: Role | None = None,
        subject: str | None = None,
    ) -> None:
        """Audit a refusal of someone not signed in (a wrong password or MFA code, a refused
        login): an `access.denied` event of `org_id`'s chain, aggregated per window.

        `actor_id`/`org_id`: who was refused, when known (None: an unknown account; the
        event then chains with the platform's). `action` defaults to the method and route
        template of `request`; `subject` tells apart refusals with no known actor (e.g. the
        e-mail tried). The caller's address and agent come from `request`. In memory only,
        like `record_access`: it never changes the answer and costs no round trip.
        Refusals of a signed-in principal (403, 404, 429) need no call: the shared error
        handling records them.
        """
        self.denials.record(
            actor_id=actor_id,
            org_id=org_id,
            action=action or route_action(request),
            status=status,
            code=code,
            reason=reason,
            actor_role=actor_role,
            subject=subject,
            context=lambda: event_context(request, None).model_copy(update={"user_id": actor_id}),
        )

    def spawn(self, coro: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            await coro

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def connect_bus_in_background(self) -> None:
        """The API starts without the broker; /ready says so until it is reached."""
        while not self.bus.connected:
            try:
                await self.bus.connect()
            except Exception:
                log.warning("RabbitMQ not reachable yet; retrying", exc_info=False)
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.bus.close()
        await self.redis.aclose()
        await self.owners.aclose()
        await self._store_engine.dispose()
        await self.engine.dispose()

    # --- health ------------------------------------------------------------------------

    async def check_database(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def check_migrations(self) -> None:
        if self._head is None:
            # Parsed once: the shipped migrations do not change while the process runs.
            self._head = head_revision(self.service_dir)
        expected = self._head
        async with self.engine.connect() as conn:
            current = (
                await conn.execute(
                    text(f"SELECT version_num FROM {self.service}.alembic_version")  # noqa: S608
                )
            ).scalar_one_or_none()
        if current != expected:
            raise RuntimeError(f"migrations at {current}, expected {expected}")

    async def check_redis(self) -> None:
        await self.redis.ping()

    async def check_bus(self) -> None:
        if not self.bus.connected:
            raise RuntimeError("not connected")

    def health_checks(self) -> dict[str, Check]:
        return {
            "database": self.check_database,
            "redis": self.check_redis,
            "rabbitmq": self.check_bus,
        }

    def ready_checks(self) -> dict[str, Check]:
        return {
            "database": self.check_database,
            "migrations": self.check_migrations,
            "rabbitmq": self.check_bus,
        }


async def _run_checks(checks: dict[str, Check]) -> tuple[bool, dict[str, str]]:
    async def one(check: Check) -> str:
        try:
            await asyncio.wait_for(check(), timeout=2.0)
        except Exception as exc:
            return f"down: {type(exc).__name__}"
        return "ok"

    names = list(checks)
    results = await asyncio.gather(*(one(checks[name]) for name in names))
    report = dict(zip(names, results, strict=True))
    return all(result == "ok" for result in results), report


def health_router(runtime_of: Callable[[Request], ServiceRuntime]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/live", include_in_schema=False)
    async def live() -> JSONResponse:
        """The process serves: the liveness probe (no dependency checks, so an outage of
        the broker or the database never restarts a pod that would recover by itself)."""
        return JSONResponse({"status": "alive"})

    @router.get("/health", include_in_schema=False)
    async def health(request: Request) -> JSONResponse:
        healthy, report = await _run_checks(runtime_of(request).health_checks())
        return JSONResponse(
            {"status": "ok" if healthy else "degraded", "checks": report},
            status_code=200 if healthy else 503,
        )

    @router.get("/ready", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        is_ready, report = await _run_checks(runtime_of(request).ready_checks())
        return JSONResponse(
            {"status": "ready" if is_ready else "not_ready", "checks": report},
            status_code=200 if is_ready else 503,
        )

    return router


PUBLIC_PATHS = frozenset({"/live", "/health", "/ready", "/metrics"})


def create_service_app(
    *,
    title: str,
    runtime_factory: Callable[[], ServiceRuntime],
    routers: Sequence[APIRouter],
    run_relay: bool | None = None,
    extra_startup: Callable[[ServiceRuntime, FastAPI], Awaitable[None]] | None = None,
) -> FastAPI:
    """A service's HTTP app: envelope errors, request ids, health, metrics, its routers.

    `run_relay`: whether this process relays the outbox; by default, when the registry says
    the service publishes (tests pass False to inspect the outbox).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        runtime = runtime_factory()
        app.state.runtime = runtime
        app.state.auth = runtime.auth
        runtime.spawn(runtime.connect_bus_in_background(), "bus-connect")
        relays = registry.service(runtime.service).publishes if run_relay is None else run_relay
        if relays:
            runtime.spawn(runtime.relay().run(), "outbox-relay")
        runtime.spawn(runtime.journal.run(), "access-journal")
        runtime.spawn(runtime.denials.run(), "denial-journal")
        if extra_startup is not None:
            await extra_startup(runtime, app)
        freeze_startup_heap()
        try:
            yield {}
        finally:
            await runtime.close()

    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    observe_refusals(app, record_refusal)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health_router(lambda request: request.app.state.runtime))
    for router in routers:
        app.include_router(router)
    install_metrics(app, excluded=PUBLIC_PATHS)
    return app


def runtime_of(request: Request) -> ServiceRuntime:
    """The service's connections, from the app that serves `request`."""
    value = request.app.state.runtime
    assert isinstance(value, ServiceRuntime)
    return value


async def runtime(request: Request) -> ServiceRuntime:
    """The dependency routes use to reach the service's connections.

    `async` although it awaits nothing: FastAPI runs a plain `def` dependency in its thread
    pool, a hop to another thread and back on every request.
    """
    return runtime_of(request)


# What a route declares to reach the runtime: `rt: Runtime`. A service whose runtime carries
# more (a subclass of ServiceRuntime) declares its own `Annotated[ItsRuntime, Depends(runtime)]`.
Runtime = Annotated[ServiceRuntime, Depends(runtime)]


def record_access(
    request: Request,
    principal: Principal,
    *,
    resource_type: str,
    org_ids: Iterable[UUID],
    resource_id: UUID | None = None,
) -> None:
    """After a read: journal it for the customer organizations whose data it showed."""
    runtime_of(request).journal.record(
        request,
        principal,
        lambda: event_context(request, principal),
        resource_type=resource_type,
        org_ids=org_ids,
        resource_id=resource_id,
    )


def event_context(request: Request, principal: Principal | None) -> EventContext:
    """Who caused the events of this request: copied into their metadata for the audit."""
    request_id = getattr(request.state, "request_id", None) or request.scope.get("state", {}).get(
        "request_id"
    )
    correlation = uuid.uuid4()
    if isinstance(request_id, str):
        with contextlib.suppress(ValueError):
            correlation = uuid.UUID(request_id)
    runtime_ = request.app.state.runtime
    return EventContext(
        user_id=principal.user_id if principal else None,
        session_id=principal.session_id if principal else None,
        correlation_id=correlation,
        ip_address=client_address(request.scope, runtime_.settings.trusted_proxies),
        user_agent=request.headers.get("user-agent"),
    )


def route_action(request: Request) -> str:
    """`GET /api/users/{id}`: the method and the matched route's template, never the ids."""
    template = getattr(request.scope.get("route"), "path", None)
    return f"{request.method} {template if isinstance(template, str) else '(no route)'}"


def record_refusal(request: Request, status: int, code: ErrorCode, message: str) -> None:
    """The shared error handling's observer (403, 404, 429): a signed-in principal's refusal
    joins the denial journal. Nobody signed in: the authenticating service records its own
    refusals (`ServiceRuntime.record_denial`)."""
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        return
    runtime_of(request).denials.record(
        actor_id=principal.user_id,
        org_id=principal.org_id,
        action=route_action(request),
        status=status,
        code=code,
        reason=message,
        actor_role=principal.role,
        context=lambda: event_context(request, principal),
    )
