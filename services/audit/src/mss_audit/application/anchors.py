"""Anchoring: the head of every hash chain written outside the database, periodically.

The chains reveal an edited entry, but someone able to rewrite a whole chain's tail
(hashes included) could go unnoticed. Each anchor line records, with a time, the seq
and hash every chain had reached; a later chain that no longer contains that link at
that seq has been rewritten. The file (and the log line) is what gets shipped off the
machine; `anchors_broken` checks the database against it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from mss_audit.adapters.anchor_file import append_line, read_lines
from mss_audit.adapters.repository import AuditRepository
from mss_db import OrgScope, UnitOfWorkFactory

log = logging.getLogger("mss.audit.anchor")


async def chain_heads(uow_factory: UnitOfWorkFactory) -> dict[str, tuple[int, str]]:
    async with uow_factory(OrgScope.everything()) as uow:
        heads = await AuditRepository(uow).chain_heads()
    return {str(key): (seq, digest) for key, seq, digest in heads}


async def anchor_once(
    uow_factory: UnitOfWorkFactory, anchor_file: Path, last: dict[str, tuple[int, str]]
) -> dict[str, tuple[int, str]]:
    """Append the heads that moved since `last` as one JSON line; returns the heads now."""
    heads = await chain_heads(uow_factory)
    moved = {key: head for key, head in heads.items() if last.get(key) != head}
    if moved:
        line = json.dumps(
            {
                "anchoredAt": datetime.now(UTC).isoformat(),
                "heads": {key: {"seq": seq, "hash": h} for key, (seq, h) in moved.items()},
            },
            sort_keys=True,
        )
        await asyncio.to_thread(append_line, anchor_file, line)
        log.info("audit chain anchor %s", line)
    return heads


async def anchors_broken(uow_factory: UnitOfWorkFactory, anchor_file: Path) -> list[str]:
    """Chain keys whose anchored link (seq, hash) is no longer in the database."""
    broken = []
    lines = await asyncio.to_thread(read_lines, anchor_file)
    async with uow_factory(OrgScope.everything()) as uow:
        repo = AuditRepository(uow)
        for line in lines:
            for key, head in json.loads(line)["heads"].items():
                if not await repo.has_link(UUID(key), seq=head["seq"], hash=head["hash"]):
                    broken.append(key)
    return sorted(set(broken))


async def anchor_periodically(
    uow_factory: UnitOfWorkFactory, anchor_file: Path, *, interval_s: float
) -> None:
    last: dict[str, tuple[int, str]] = {}
    while True:
        try:
            last = await anchor_once(uow_factory, anchor_file, last)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("audit chain anchoring failed; retrying")
        await asyncio.sleep(interval_s)
