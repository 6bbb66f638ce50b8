"""remote_access.session.* → the sessions shown on the intervention they name."""

from __future__ import annotations

from mss_contracts.events import EventEnvelope
from mss_db import UnitOfWork
from mss_intervention.application.directory import record_remote_session

BINDINGS = ["remote_access.session.*"]


async def on_remote_access_event(uow: UnitOfWork, envelope: EventEnvelope) -> None:
    await record_remote_session(uow, envelope)
