"""What a notification says about an event: title, body, resource and severity. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

_RESOURCES = {
    "security.alert": "alert",
    "security.report": "report",
    "intervention": "intervention",
    "webhook": "webhook",
}

_PRIORITY_AS_SEVERITY = {"low", "medium", "high", "critical"}


@dataclass(frozen=True, slots=True)
class Notice:
    type: str
    title: str
    body: str
    resource_type: str | None
    resource_id: UUID | None
    severity: str | None


def _resource_type(event_type: str) -> str | None:
    for prefix, name in _RESOURCES.items():
        if event_type.startswith(prefix + "."):
            return name
    return None


def _text(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return default if value is None else str(value)


def notice_for(event_type: str, *, aggregate_id: UUID, data: Mapping[str, Any]) -> Notice:
    """The notification's words for an event (the same for every recipient)."""
    resource = _resource_type(event_type)
    name = _text(data, "title") or _text(data, "url")
    severity: str | None = None
    if resource == "alert":
        severity = _text(data, "severity") or None
    elif resource == "intervention" and _text(data, "priority") in _PRIORITY_AS_SEVERITY:
        severity = _text(data, "priority")
    titles = {
        "security.alert.created": f"New {severity or ''} alert: {name}",
        "security.alert.assigned": f"Alert assigned to you: {name}",
        "intervention.requested": f"Intervention requested: {name}",
        "intervention.sla.breached": (f"SLA {_text(data, 'kind', 'deadline')} breached: {name}"),
        "security.report.submitted": f"Report to review: {name}",
        "security.report.published": f"Report published: {name}",
        "webhook.disabled": "Webhook disabled after repeated failures",
    }
    title = titles.get(event_type)
    if title is None:
        step = event_type.rsplit(".", 1)[-1].replace("_", " ")
        title = f"{(resource or 'event').capitalize()} {step}: {name}"
    body = {
        "webhook.disabled": (
            f"The webhook {name} failed {_text(data, 'consecutiveFailures')} times in a row "
            "and no longer receives events. Fix the endpoint, then register it again."
        ),
    }.get(event_type, f"{title.replace('  ', ' ')} (status {_text(data, 'status', 'n/a')}).")
    return Notice(
        type=event_type,
        title=" ".join(title.split())[:255],
        body=body,
        resource_type=resource,
        resource_id=aggregate_id,
        severity=severity,
    )
