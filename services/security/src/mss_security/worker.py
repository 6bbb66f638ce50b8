"""The security worker: relays the outbox, keeps the user and organization directories,
runs threat-intelligence imports and retro-hunts."""

from __future__ import annotations

import asyncio

from mss_bus.consumer import EventConsumer, apply_once, watch_dlq
from mss_contracts.events import EventEnvelope
from mss_security.config import SERVICE
from mss_security.consumers.intel_jobs import run_intel_jobs
from mss_security.consumers.on_directory_event import BINDINGS, on_directory_event
from mss_security.main import build_runtime


async def run() -> None:
    runtime = build_runtime()

    async def handle(envelope: EventEnvelope) -> None:
        await apply_once(runtime.uow, envelope, on_directory_event)

    consumer = EventConsumer(bus=runtime.bus, service=SERVICE, bindings=BINDINGS, handler=handle)
    try:
        await consumer.start()
        await asyncio.gather(
            runtime.relay().run(), watch_dlq(consumer), run_intel_jobs(runtime.uow)
        )
    finally:
        await runtime.close()
