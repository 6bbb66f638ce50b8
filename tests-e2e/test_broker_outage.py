"""A RabbitMQ outage never loses a write and restarts nothing: the organization is committed
with its outbox row while the broker is paused, and reaches the audit log once the broker is
back; meanwhile every API is alive (/live 200) but out of traffic (/ready 503), and ready
again by itself within 60 s of the broker's return.

Pauses the local broker with `rabbitmqctl stop_app` and always restores it with
`start_app` (in a `finally`), then waits until `rabbitmq-diagnostics -q check_running`
succeeds and every service reports its bus connection healthy again, so the tests that
run after this one find the platform as it was. Skipped when `rabbitmqctl` is not on
PATH or the broker is not on this host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
)

from mss_settings import registry

OrganizationFactory = Callable[..., dict[str, Any]]
AUDIT_AFTER_RESTART_DEADLINE_S = 60.0
BROKER_START_DEADLINE_S = 60.0
SERVICES_RECONNECT_DEADLINE_S = 60.0
RABBITMQCTL_TIMEOUT_S = 60.0
# Every registered service's API (ports shifted like scripts/up shifts them).
SERVICE_API_URLS = tuple(
    f"http://127.0.0.1:{spec.process('api', registry.port_offset()).port}"
    for spec in registry.services()
)
SERVICE_HEALTH_URLS = tuple(f"{url}/health" for url in SERVICE_API_URLS)
# How long a service may take to notice the broker went away (its connection's heartbeat or
# the next publish attempt tells it).
OUTAGE_NOTICED_DEADLINE_S = 30.0
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


class BrokerControl:
    """Pauses and resumes the local RabbitMQ node's application."""

    def __init__(self, rabbitmqctl: str, diagnostics: str) -> None:
        self.rabbitmqctl = rabbitmqctl
        self.diagnostics = diagnostics
        self.started_at: float | None = None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            timeout=RABBITMQCTL_TIMEOUT_S,
            check=False,
        )

    def _ctl(self, command: str) -> None:
        result = self._run(self.rabbitmqctl, command)
        assert result.returncode == 0, f"rabbitmqctl {command}: {result.stderr or result.stdout}"

    def is_running(self) -> bool:
        return self._run(self.diagnostics, "-q", "check_running").returncode == 0

    def wait_running(self) -> None:
        Retrying(
            stop=stop_after_delay(BROKER_START_DEADLINE_S),
            wait=wait_exponential(multiplier=0.1, max=1.0),
            retry=retry_if_result(lambda running: running is False),
            retry_error_callback=lambda _: pytest.fail(
                f"RabbitMQ not running {BROKER_START_DEADLINE_S:.0f} s after start_app"
            ),
        )(self.is_running)

    def start(self) -> None:
        self._ctl("start_app")
        self.started_at = time.monotonic()
        self.wait_running()

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The broker is stopped inside the block and always started again after it."""
        self._ctl("stop_app")
        try:
            yield
        finally:
            self.start()

    def seconds_since_start(self) -> float:
        assert self.started_at is not None, "the broker was never restarted"
        return time.monotonic() - self.started_at


def _services_connected_to_bus() -> None:
    for url in SERVICE_HEALTH_URLS:
        response = httpx.get(url, timeout=5.0)
        assert response.status_code == 200, f"{url}: {response.text}"
        assert response.json()["checks"]["rabbitmq"] == "ok", f"{url}: {response.text}"


@pytest.fixture
def broker() -> Iterator[BrokerControl]:
    if os.environ.get("MSS_E2E_NO_BROKER_PAUSE") == "1":
        pytest.skip("MSS_E2E_NO_BROKER_PAUSE=1: the broker is shared with other platforms here")
    rabbitmqctl = shutil.which("rabbitmqctl")
    diagnostics = shutil.which("rabbitmq-diagnostics")
    if rabbitmqctl is None or diagnostics is None:
        pytest.skip("rabbitmqctl / rabbitmq-diagnostics not on PATH: cannot pause the broker")
    host = urlsplit(os.environ.get("MSS_RABBITMQ_URL", "amqp://127.0.0.1:5672/")).hostname
    if host not in LOCAL_HOSTS:
        pytest.skip(f"RabbitMQ runs on {host}, not this host: rabbitmqctl cannot pause it")
    control = BrokerControl(rabbitmqctl, diagnostics)
    if not control.is_running():
        pytest.skip("RabbitMQ is not running before the test")
    try:
        yield control
    finally:
        if not control.is_running():
            control.start()
        Retrying(
            stop=stop_after_delay(SERVICES_RECONNECT_DEADLINE_S),
            wait=wait_exponential(multiplier=0.1, max=1.0),
            retry=retry_if_exception_type((AssertionError, httpx.HTTPError)),
            reraise=True,
        )(_services_connected_to_bus)


def _probe_statuses(path: str) -> dict[str, int]:
    return {url: httpx.get(f"{url}{path}", timeout=5.0).status_code for url in SERVICE_API_URLS}


def _alive_but_not_ready() -> None:
    """Every API process serves /live (so no liveness probe restarts it) while /ready takes
    it out of traffic."""
    live = _probe_statuses("/live")
    assert all(status == 200 for status in live.values()), f"/live during the outage: {live}"
    ready = _probe_statuses("/ready")
    assert all(status == 503 for status in ready.values()), f"/ready during the outage: {ready}"


def _all_ready() -> None:
    ready = _probe_statuses("/ready")
    assert all(status == 200 for status in ready.values()), f"/ready after the outage: {ready}"


def test_services_stay_alive_but_leave_traffic_during_an_outage_and_return_by_themselves(
    broker: BrokerControl,
) -> None:
    _all_ready()
    with broker.paused():
        Retrying(
            stop=stop_after_delay(OUTAGE_NOTICED_DEADLINE_S),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            retry=retry_if_exception_type(AssertionError),
            reraise=True,
        )(_alive_but_not_ready)
    Retrying(
        stop=stop_after_delay(max(SERVICES_RECONNECT_DEADLINE_S - broker.seconds_since_start(), 0)),
        wait=wait_exponential(multiplier=0.1, max=1.0),
        retry=retry_if_exception_type((AssertionError, httpx.HTTPError)),
        reraise=True,
    )(_all_ready)


def _created_entries(api: httpx.Client, org_id: str) -> list[dict[str, Any]]:
    response = api.get(
        "/api/audit/logs", params={"orgId": org_id, "action": "organization.created"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    entries: list[dict[str, Any]] = body["data"]
    return entries


def test_organization_created_while_broker_is_paused_is_audited_after_it_returns(
    broker: BrokerControl, api: httpx.Client, create_organization: OrganizationFactory
) -> None:
    with broker.paused():
        org = create_organization("broker-outage")
        assert org["status"] == "active"
        # Nothing reached the audit service yet: the event waits in the outbox.
        assert _created_entries(api, org["id"]) == []

    remaining = AUDIT_AFTER_RESTART_DEADLINE_S - broker.seconds_since_start()

    def delivered() -> list[dict[str, Any]]:
        entries = _created_entries(api, org["id"])
        assert len(entries) == 1, f"organization.created of {org['id']} not audited yet"
        return entries

    entries = Retrying(
        stop=stop_after_delay(max(remaining, 0.0)),
        wait=wait_exponential(multiplier=0.1, max=1.0),
        retry=retry_if_exception_type(AssertionError),
        reraise=True,
    )(delivered)

    entry = entries[0]
    assert entry["resourceId"] == org["id"]
    assert entry["organizationId"] == org["id"]
    assert entry["resourceType"] == "organization"
    assert entry["success"] is True
