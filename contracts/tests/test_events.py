from collections.abc import Iterator
from typing import Annotated
from uuid import uuid4

import pytest

from mss_contracts.events import (
    EVENT_TYPES,
    REDACTED,
    EventContext,
    EventData,
    EventEnvelope,
    OrganizationCreated,
    SensitiveStr,
    event,
    new_event,
    parse_data,
    redacted,
)
from mss_contracts.permissions import OrganizationType


class SecretIssued(EventData):
    label: str
    token: SensitiveStr
    hint: Annotated[str | None, "plain"] = None


@pytest.fixture
def secret_event_registered() -> Iterator[type[SecretIssued]]:
    registered = event("test.secret.issued", aggregate="test")(SecretIssued)
    yield registered
    del EVENT_TYPES["test.secret.issued"]


def test_envelope_round_trips_through_json_with_typed_payload() -> None:
    org_id = uuid4()
    envelope = new_event(
        OrganizationCreated(name="Acme", type=OrganizationType.CUSTOMER, status="active"),
        aggregate_id=org_id,
        organization_id=org_id,
        version=1,
        context=EventContext(),
    )
    wire = envelope.model_dump_json(by_alias=True)
    assert '"aggregateId"' in wire
    assert '"correlationId"' in wire
    assert '"schemaVersion"' in wire
    back = EventEnvelope.model_validate_json(wire)
    data = parse_data(back)
    assert isinstance(data, OrganizationCreated)
    assert data.name == "Acme"
    assert back.type == "organization.created"
    assert back.aggregate_type == "organization"


@pytest.mark.usefixtures("secret_event_registered")
def test_sensitive_fields_are_redacted_and_others_kept() -> None:
    envelope = new_event(
        SecretIssued(label="reset", token="s3cr3t-token"),
        aggregate_id=uuid4(),
        organization_id=None,
        version=1,
        context=EventContext(),
    )
    clean = redacted(envelope)
    assert clean.data["token"] == REDACTED
    assert clean.data["label"] == "reset"
    assert "s3cr3t-token" not in clean.model_dump_json()
    assert envelope.data["token"] == "s3cr3t-token"  # the original is untouched


def test_a_type_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="twice"):
        event("organization.created", aggregate="organization")(OrganizationCreated)


def test_registry_holds_the_events_of_the_skeleton() -> None:
    assert {
        "organization.created",
        "organization.updated",
        "organization.suspended",
        "organization.reactivated",
        "user.created",
        "auth.login.success",
        "auth.login.failed",
    } <= EVENT_TYPES.keys()
