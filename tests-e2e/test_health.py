"""Every service answers /live, /health, /ready and /metrics on its own port (not through the
gateway): liveness (the process serves, nothing checked), health with its dependency
checks, readiness (database, migrations at head, bus), and Prometheus text with the HTTP
instrumentation and the business metrics."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mss_settings import registry

SERVICE_HOST = os.environ.get("MSS_E2E_SERVICE_HOST", "127.0.0.1")
# Every registered service's API, on the registry's port (shifted like scripts/up shifts it).
SERVICES = {
    spec.name: spec.process("api", registry.port_offset()).port for spec in registry.services()
}
INTROSPECTION_PORT = registry.service("identity").process("introspect", registry.port_offset()).port
# Every HTTP process (each API and extra process such as identity's introspection).
HTTP_PROCESSES = {p.name: p.port for p in registry.processes() if p.command != "worker"}
# What a service that publishes exposes on its API process: the outbox relay's metrics.
RELAY_METRICS = frozenset({"mss_events_published", "mss_outbox_lag_seconds"})
HTTP_METRICS = frozenset({"http_requests", "http_request_duration_seconds"})


def _url(port: int, path: str) -> str:
    return f"http://{SERVICE_HOST}:{port}{path}"


@pytest.fixture(scope="module")
def direct() -> Iterator[httpx.Client]:
    """A plain client for the services' own ports."""
    with httpx.Client(timeout=10.0) as http:
        yield http


@pytest.mark.parametrize("process", HTTP_PROCESSES)
def test_live_answers_on_every_http_process(direct: httpx.Client, process: str) -> None:
    """The liveness probe of k8s and compose: the process serves, no dependency checked."""
    response = direct.get(_url(HTTP_PROCESSES[process], "/live"))

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "alive"}


@pytest.mark.parametrize("service", SERVICES)
def test_health_reports_every_dependency_ok(direct: httpx.Client, service: str) -> None:
    response = direct.get(_url(SERVICES[service], "/health"))

    assert response.status_code == 200, response.text
    assert response.headers.get("x-request-id")
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "redis": "ok", "rabbitmq": "ok"}


@pytest.mark.parametrize("service", SERVICES)
def test_ready_reports_database_migrations_and_bus_ready(
    direct: httpx.Client, service: str
) -> None:
    response = direct.get(_url(SERVICES[service], "/ready"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"database": "ok", "migrations": "ok", "rabbitmq": "ok"}


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_are_prometheus_text_with_http_and_business_metrics(
    direct: httpx.Client, service: str
) -> None:
    port = SERVICES[service]
    # At least one instrumented request (health and metrics themselves are not counted).
    direct.get(_url(port, "/api/no-such-route"))

    response = direct.get(_url(port, "/metrics"))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    business = RELAY_METRICS if registry.service(service).publishes else frozenset()
    missing = (HTTP_METRICS | business) - families.keys()
    assert not missing, f"{service} /metrics lacks {sorted(missing)}"
    assert families["http_requests"].type == "counter"
    assert any(sample.name == "http_requests_total" for sample in families["http_requests"].samples)
    for name in business:
        assert name.startswith("mss_")


def test_introspection_endpoint_is_alive(direct: httpx.Client) -> None:
    response = direct.get(_url(INTROSPECTION_PORT, "/health"))

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ok"
