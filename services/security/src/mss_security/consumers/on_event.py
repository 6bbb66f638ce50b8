"""The events this service reacts to (none yet): bind their types, then apply them."""

from __future__ import annotations

from mss_contracts.events import EventEnvelope
from mss_db import UnitOfWork

# Routing keys (event types, `#` wildcards) this service's queue receives.
BINDINGS: list[str] = []


async def on_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    """Runs inside `apply_once`: the inbox row and this effect commit together."""
