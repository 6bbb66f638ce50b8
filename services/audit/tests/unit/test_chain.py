"""The hash chain reveals any edit, removal or reordering."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

from mss_audit.domain.chain import GENESIS, AuditEntry, ChainLink, ChainVerifier, entry_hash
from mss_audit.domain.entries import entry_for
from mss_contracts.events import (
    EventContext,
    LoginFailed,
    OrganizationCreated,
    new_event,
)
from mss_contracts.permissions import OrganizationType


def _entry(action: str = "organization.created") -> AuditEntry:
    org = uuid.uuid4()
    return AuditEntry(
        id=uuid.uuid4(),
        event_id=uuid.uuid4(),
        user_id=None,
        session_id=None,
        org_id=org,
        action=action,
        resource_type="organization",
        resource_id=org,
        details={"data": {"name": "Acme"}},
        ip_address="10.0.0.1",
        user_agent="ua",
        success=True,
        error_message=None,
        timestamp=datetime.now(UTC),
    )


def _chain(n: int) -> list[ChainLink]:
    links: list[ChainLink] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        entry = _entry()
        digest = entry_hash(entry, seq=seq, prev_hash=prev)
        links.append(ChainLink(entry=entry, seq=seq, prev_hash=prev, hash=digest))
        prev = digest
    return links


def _verify(links: list[ChainLink]) -> ChainVerifier:
    verifier = ChainVerifier()
    for link in links:
        verifier.feed(link)
    return verifier


def test_an_untouched_chain_verifies() -> None:
    result = _verify(_chain(5))
    assert result.valid
    assert result.checked == 5


def test_an_edited_entry_is_the_first_broken_one() -> None:
    links = _chain(5)
    edited = dataclasses.replace(links[2].entry, details={"data": {"name": "Evil"}})
    links[2] = dataclasses.replace(links[2], entry=edited)
    result = _verify(links)
    assert not result.valid
    assert result.first_broken == links[2].entry.id


def test_a_removed_entry_breaks_the_chain() -> None:
    links = _chain(4)
    del links[1]
    assert _verify(links).first_broken == links[1].entry.id


def test_failed_login_becomes_an_unsuccessful_entry_with_its_reason() -> None:
    envelope = new_event(
        LoginFailed(email="x@example.com", reason="invalid_credentials"),
        aggregate_id=uuid.uuid4(),
        organization_id=None,
        version=1,
        context=EventContext(ip_address="not-an-ip"),
    )
    entry = entry_for(envelope)
    assert entry.success is False
    assert entry.error_message == "invalid_credentials"
    assert entry.ip_address is None
    assert entry.chain_key == uuid.UUID(int=0)


def test_the_entry_id_is_stable_for_a_redelivered_event() -> None:
    org = uuid.uuid4()
    envelope = new_event(
        OrganizationCreated(name="A", type=OrganizationType.CUSTOMER, status="active"),
        aggregate_id=org,
        organization_id=org,
        version=1,
        context=EventContext(),
    )
    assert entry_for(envelope).id == entry_for(envelope).id
    assert entry_for(envelope).org_id == org
