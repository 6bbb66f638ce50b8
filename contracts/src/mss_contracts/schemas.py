"""JSON schemas of every contract, for the snapshot test and for other languages."""

from __future__ import annotations

from typing import Any

from mss_contracts.api import ErrorBody
from mss_contracts.events import EVENT_TYPES, EventEnvelope
from mss_contracts.internal import INTERNAL_RECORDS


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every published schema, keyed by a stable name."""
    schemas: dict[str, dict[str, Any]] = {
        "envelope": EventEnvelope.model_json_schema(by_alias=True),
        "error": ErrorBody.model_json_schema(by_alias=True),
    }
    for event_type, cls in sorted(EVENT_TYPES.items()):
        schemas[f"event.{event_type}"] = cls.model_json_schema(by_alias=True)
    for name, record in sorted(INTERNAL_RECORDS.items()):
        schemas[f"internal.{name}"] = record.model_json_schema(by_alias=True)
    return schemas
