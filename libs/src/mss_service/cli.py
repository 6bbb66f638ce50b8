"""`python -m mss_<service> api|worker|...`: one entry point shape for every service.

Ports come from the registry (services/registry.toml) through the settings, so a
service's `__main__` names no port of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import uvicorn
from prometheus_client import start_http_server

from mss_service.heap import freeze_startup_heap
from mss_settings import PlatformSettings, registry
from mss_web.logs import configure_logging


def run_api(
    app_path: str, *, service: str, settings: PlatformSettings, command: str = "api"
) -> None:
    """Serve the app factory `app_path` on the registry's port of `service`'s `command`."""
    configure_logging(service if command == "api" else f"{service}-{command}", settings.log_level)
    uvicorn.run(
        app_path,
        factory=True,
        host=settings.bind_host,
        port=settings.port(service, command),
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        date_header=False,
        # A live notification is a small JSON message: compressing each one cost the
        # notification API 14 % of its samples pushing to 1,000 sockets, for a few bytes.
        ws_per_message_deflate=False,
    )


async def _until_signalled(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    task = asyncio.create_task(main())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run_worker(
    main: Callable[[], Coroutine[Any, Any, None]],
    *,
    service: str,
    settings: PlatformSettings,
) -> None:
    """Run relay/consumers until SIGTERM; their metrics (DLQ depth, events) on the
    registry's worker metrics port."""
    configure_logging(f"{service}-worker", settings.log_level)
    start_http_server(settings.port(service, "worker"), addr=settings.bind_host)
    freeze_startup_heap()
    asyncio.run(_until_signalled(main))


def dispatch(service: str, commands: Mapping[str, Callable[[], None]]) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m mss_{service}")
    parser.add_argument("command", choices=sorted(commands))
    args, _extra = parser.parse_known_args()
    commands[args.command]()


def main(
    service: str,
    *,
    settings: Callable[[], PlatformSettings],
    worker: Callable[[], Coroutine[Any, Any, None]],
    commands: Mapping[str, Callable[[], None]] | None = None,
) -> None:
    """A service's `__main__`: `api` (mss_<service>.main:create_app) and its local replicas
    (`api2`, ... on their own ports, from the registry), `worker`, and its own extra
    `commands`."""

    def api(command: str) -> Callable[[], None]:
        return lambda: run_api(
            f"mss_{service}.main:create_app",
            service=service,
            settings=settings(),
            command=command,
        )

    apis = {p.command: api(p.command) for p in registry.service(service).api_processes()}
    dispatch(
        service,
        {
            **apis,
            "worker": lambda: run_worker(worker, service=service, settings=settings()),
            **(commands or {}),
        },
    )
