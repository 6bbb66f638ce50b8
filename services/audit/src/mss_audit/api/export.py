"""Audit log exports: JSON Lines or CSV, written a page at a time."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from enum import StrEnum

from mss_audit.api.schemas import AuditLogRead

EXPORT_PAGE = 500

CSV_COLUMNS = (
    "id",
    "timestamp",
    "organizationId",
    "userId",
    "sessionId",
    "action",
    "resourceType",
    "resourceId",
    "success",
    "errorMessage",
    "ipAddress",
    "userAgent",
    "eventId",
    "seq",
    "hash",
    "details",
)
# A cell starting with one of these is a formula to spreadsheet programs (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"

    @property
    def media_type(self) -> str:
        return "text/csv; charset=utf-8" if self is ExportFormat.CSV else "application/x-ndjson"


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = json.dumps(value, separators=(",", ":")) if isinstance(value, dict) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_rows(entries: list[AuditLogRead], *, header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        writer.writerow(CSV_COLUMNS)
    for entry in entries:
        data = entry.model_dump(mode="json", by_alias=True)
        writer.writerow([csv_cell(data[column]) for column in CSV_COLUMNS])
    return buffer.getvalue()


async def export_lines(
    pages: AsyncIterator[list[AuditLogRead]], format: ExportFormat
) -> AsyncIterator[str]:
    first = True
    async for entries in pages:
        if format is ExportFormat.CSV:
            yield csv_rows(entries, header=first)
        else:
            yield "".join(entry.model_dump_json(by_alias=True) + "\n" for entry in entries)
        first = False
