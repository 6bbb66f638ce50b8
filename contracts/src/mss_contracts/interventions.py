"""The vocabulary of an intervention, shared by the service that owns interventions and the
security service that escalates alerts into them: an escalation naming a type the
intervention service does not know is refused where the client sent it (422), not turned
into a poison event downstream."""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class InterventionType(StrEnum):
    INCIDENT_RESPONSE = "incident_response"
    VULNERABILITY_REMEDIATION = "vulnerability_remediation"
    CONFIGURATION_CHANGE = "configuration_change"
    INVESTIGATION = "investigation"
    MAINTENANCE = "maintenance"
    CONSULTATION = "consultation"
    OTHER = "other"
