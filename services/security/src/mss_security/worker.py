"""The security worker: relays the outbox, keeps the user and organization directories and
the interventions read model, runs threat-intelligence imports and retro-hunts, and drafts
the monthly reports."""

from __future__ import annotations

import asyncio

from mss_bus.consumer import EventConsumer, apply_once, watch_dlq
from mss_contracts.events import EventEnvelope
from mss_security.application.schedule import run_monthly_drafts
from mss_security.config import SERVICE
from mss_security.consumers import on_directory_event, on_intervention_event
from mss_security.consumers.intel_jobs import run_intel_jobs
from mss_security.main import build_runtime


async def run() -> None:
    runtime = build_runtime()

    async def handle(envelope: EventEnvelope) -> None:
        if envelope.type.startswith("intervention."):
            await apply_once(runtime.uow, envelope, on_intervention_event.on_intervention_event)
        else:
            await apply_once(runtime.uow, envelope, on_directory_event.on_directory_event)

    bindings = [*on_directory_event.BINDINGS, *on_intervention_event.BINDINGS]
    consumer = EventConsumer(bus=runtime.bus, service=SERVICE, bindings=bindings, handler=handle)
    try:
        await consumer.start()
        await asyncio.gather(
            runtime.relay().run(),
            watch_dlq(consumer),
            run_intel_jobs(runtime.uow),
            run_monthly_drafts(runtime.uow),
        )
    finally:
        await runtime.close()
