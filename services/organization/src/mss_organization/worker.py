"""The organization worker: relays the outbox (consumers arrive with technician access)."""

from __future__ import annotations

from mss_organization.main import build_runtime


async def run() -> None:
    runtime = build_runtime()
    try:
        await runtime.relay().run()
    finally:
        await runtime.close()
