"""`python -m mss_security intel import FILE [--organization-id ID]`: an operator's path for
big feeds, run in this process (no API body cap) as the same job the worker runs."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from uuid import UUID

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mss_contracts.events import EventContext
from mss_db.scope import OrgScope
from mss_security.adapters.intel_repository import Progress as Counts
from mss_security.application import intel as use
from mss_security.domain.feeds import FeedError, stix_objects
from mss_security.main import build_runtime


def _content_type(path: Path) -> str:
    return "csv" if path.suffix.lower() == ".csv" else "stix"


def _size(content_type: str, body: bytes) -> int | None:
    """How many objects or rows the bar runs to (None when the feed is unreadable)."""
    if content_type == "csv":
        return max(body.count(b"\n") - 1, 0) or None
    try:
        return len(stix_objects(body))
    except FeedError:
        return None


async def _import(path: Path, org_id: UUID | None) -> int:
    body = await asyncio.to_thread(path.read_bytes)
    content_type = _content_type(path)
    runtime = build_runtime()
    try:
        async with runtime.uow(OrgScope.everything()) as uow:
            job = await use.request_import(
                org_id=org_id,
                content_type=content_type,
                body=b"",
                requested_by=None,
                uow=uow,
                ctx=EventContext(),
            )
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns) as bar:
            task = bar.add_task(path.name, total=_size(content_type, body))

            def advance(counts: Counts) -> None:
                bar.update(task, completed=counts.total)

            done = await use.run_import(job, body, uow_factory=runtime.uow, on_progress=advance)
        print(
            f"import {done.id}: {done.status}, {done.total} read, {done.created} created, "
            f"{done.updated} updated, {done.rejected} rejected, {done.skipped} skipped"
        )
        for error in done.errors[:10]:
            print(f"  at {error['position']}: {error['message']}", file=sys.stderr)
        return 0 if done.status == "completed" else 1
    finally:
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mss_security intel")
    sub = parser.add_subparsers(dest="action", required=True)
    importing = sub.add_parser("import", help="import a STIX 2.1 bundle (.json) or a CSV file")
    importing.add_argument("file", type=Path)
    importing.add_argument("--organization-id", type=UUID, default=None)
    args = parser.parse_args(sys.argv[2:])
    sys.exit(asyncio.run(_import(args.file, args.organization_id)))
