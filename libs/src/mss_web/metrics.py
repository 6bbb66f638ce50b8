"""HTTP metrics of every service: requests and latency by route template, and `/metrics`.

The same two families prometheus-fastapi-instrumentator's defaults named
(`http_requests_total{method,status,handler}`, `http_request_duration_seconds{method,
handler}`), recorded by one plain ASGI middleware. The instrumentator matched every route
again to name the handler and built a Request and a Response per request: a larger share
of a one-page read's CPU than the route's own code (`scripts/bench api`). Here the handler
is the route the router already chose (`scope["route"]`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "http_requests_total",
    "Total number of requests by method, status and handler.",
    ["method", "status", "handler"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Latency by handler.",
    ["method", "handler"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
)
# Requests no route matched: one series, not one per path a scanner tries.
UNMATCHED = "none"


class HttpMetricsMiddleware:
    """Counts and times every HTTP request but those to `excluded` paths."""

    def __init__(self, app: ASGIApp, excluded: Iterable[str] = ()) -> None:
        self.app = app
        self.excluded = frozenset(excluded)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.excluded:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_see(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            route = scope.get("route")
            handler = getattr(route, "path", None) or UNMATCHED
            method = scope["method"]
            REQUESTS.labels(method, f"{status // 100}xx", handler).inc()
            LATENCY.labels(method, handler).observe(time.perf_counter() - started)


def install_metrics(app: FastAPI, *, excluded: Iterable[str]) -> None:
    """The middleware and `GET /metrics` (Prometheus text format)."""
    app.add_middleware(HttpMetricsMiddleware, excluded=excluded)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
