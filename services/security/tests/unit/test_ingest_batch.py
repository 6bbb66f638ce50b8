"""What one ingest batch computes once for all its alerts gives what each alert alone gives:
the match keys (values normalized once per batch) and the events (built without models)."""

from __future__ import annotations

import contextlib
import gc
import ipaddress
import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import pytest

from mss_contracts.events import (
    AlertCreated,
    AlertDeduplicated,
    EventContext,
    EventEnvelope,
    new_event,
    parse_data,
)
from mss_security.adapters.repository import Upserted
from mss_security.application.alerts import _snapshot, ingest_events
from mss_security.domain import indicators
from mss_security.domain.alerts import (
    AlertStatus,
    Category,
    Observable,
    ObservableType,
    Resolution,
    Severity,
)
from mss_security.domain.indicators import IndicatorType, NormalizedCache, match_keys
from mss_security.domain.ingest import IncomingAlert, IngestGroup, StoredAlert, new_ids

ORG = UUID("6f1c2b3a-0000-4000-8000-000000000001")
SEEN = datetime(2026, 12, 3, 15, 0, 0, tzinfo=UTC)

# Repeated, unparseable, IPv6, URL, hostname-as-domain, hash: the batch's mix.
OBSERVABLES = [
    [("ipv4", "10.0.1.7"), ("domain", "Evil.Example.")],
    [("ipv4", "10.0.1.7"), ("md5", "not-a-hash"), ("ipv6", "2001:DB8::1")],
    [("url", "HTTP://Evil.Example/a?b"), ("hostname", "web01.corp.example")],
    [("domain", "evil.example"), ("email", "Bob@Evil.Example"), ("ipv4", "999.1.1.1")],
    [],
]
ASSETS = [
    ["host-1", "10.1.2.3"],
    ["host-1", "web01.corp.example", "some asset"],
    ["10.1.2.3", "2001:db8::1", "."],
    ["host-2"],
    ["Web01.Corp.Example."],
]


def _observables(pairs: list[tuple[str, str]]) -> list[Observable]:
    return [Observable(type=ObservableType(kind), value=value) for kind, value in pairs]


class TestMatchKeysOfABatch:
    def test_a_shared_cache_gives_each_alert_what_it_gives_alone(self) -> None:
        cache: NormalizedCache = {}
        for _ in range(2):  # the second round answers from the cache alone
            for observables, assets in zip(OBSERVABLES, ASSETS, strict=True):
                alone = match_keys(_observables(observables), assets)
                batched = match_keys(_observables(observables), assets, cache=cache)
                assert batched == alone

    def test_each_distinct_value_is_normalized_once(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[tuple[str, str]] = []
        real = indicators.normalize

        def counted(kind: indicators.IndicatorType, value: str) -> str:
            calls.append((kind.value, value))
            return real(kind, value)

        monkeypatch.setattr(indicators, "normalize", counted)
        cache: NormalizedCache = {}
        for _ in range(3):
            for observables, assets in zip(OBSERVABLES, ASSETS, strict=True):
                match_keys(_observables(observables), assets, cache=cache)
        assert calls
        assert len(calls) == len(set(calls))  # nothing parsed twice, across rounds either
        assert ("ipv4", "host-1") in calls


def _stored(**changes: object) -> StoredAlert:
    fields: dict[str, object] = {
        "id": uuid4(),
        "org_id": ORG,
        "version": 1,
        "title": "Brute force on VPN gateway",
        "severity": Severity.HIGH,
        "status": AlertStatus.OPEN,
        "category": Category.INTRUSION,
        "source": "siem",
        "fingerprint": "fp-1",
        "assigned_to": None,
        "occurrence_count": 1,
        "first_seen_at": SEEN,
        "last_seen_at": SEEN,
        "resolution": None,
        "intervention_id": None,
        "previous_alert_id": None,
    }
    fields.update(changes)
    return StoredAlert(**fields)  # type: ignore[arg-type]


def _upserted(stored: StoredAlert, *, created: bool, count: int) -> Upserted:
    item = IncomingAlert(
        org_id=stored.org_id,
        title=stored.title,
        description="",
        severity=stored.severity,
        category=stored.category,
        source=stored.source,
        source_ref=None,
        fingerprint=stored.fingerprint,
        seen_at=SEEN,
        affected_assets=(),
        observables=(),
        metadata={},
    )
    group = IngestGroup(first=item)
    for index in range(count):
        group.add(index, item)
    return Upserted(group=group, stored=stored, created=created, alert=None)


def _by_models(up: Upserted, ctx: EventContext) -> list[EventEnvelope]:
    """The events as the models build them (what ingest wrote before, one model each)."""
    alert = up.stored
    events = []
    folded = up.group.count
    if up.created:
        data = AlertCreated(**_snapshot(alert), previous_alert_id=alert.previous_alert_id)  # type: ignore[arg-type]
        events.append(data)
        folded -= 1
    if folded:
        events.append(AlertDeduplicated(**_snapshot(alert), occurrences=folded))  # type: ignore[arg-type]
    return [
        new_event(
            e,
            aggregate_id=alert.id,
            organization_id=alert.org_id,
            version=alert.version,
            context=ctx,
        )
        for e in events
    ]


CONTEXTS = [
    EventContext(),
    EventContext(
        user_id=uuid4(),
        session_id=uuid4(),
        causation_id=uuid4(),
        ip_address="203.0.113.9",
        user_agent='siem-forwarder/2.1 "quoted" \u00e9',
    ),
]

STORED = [
    # created alone; created with duplicates folded into it; an existing one deduplicated
    (_stored(), True, 1),
    (_stored(previous_alert_id=uuid4(), first_seen_at=SEEN.replace(microsecond=0)), True, 3),
    (
        _stored(
            version=7,
            status=AlertStatus.ACKNOWLEDGED,
            assigned_to=uuid4(),
            occurrence_count=12,
            first_seen_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
            last_seen_at=datetime(2026, 12, 3, 17, 4, 5, 1, tzinfo=timezone(timedelta(hours=2))),
            resolution=Resolution.BENIGN,
            intervention_id=uuid4(),
            category=Category.DATA_EXFILTRATION,
            severity=Severity.CRITICAL,
            title='Exfil "to" \u2603 \\ host',
        ),
        False,
        2,
    ),
]


class TestIngestEvents:
    @pytest.mark.parametrize("ctx", CONTEXTS)
    def test_each_row_is_the_envelope_the_models_build(self, ctx: EventContext) -> None:
        upserted = [_upserted(s, created=c, count=n) for s, c, n in STORED]
        rows = ingest_events(upserted, ctx)
        expected = [e for up in upserted for e in _by_models(up, ctx)]
        assert [event_type for _, event_type, _ in rows] == [e.type for e in expected]
        for (event_id, _, payload), model in zip(rows, expected, strict=True):
            wire = json.loads(payload)
            want = model.model_dump(mode="json", by_alias=True)
            # Fresh per event either way: the id (the row's own) and the timestamp.
            assert wire.pop("id") == str(event_id)
            want.pop("id")
            stamped = datetime.fromisoformat(wire["metadata"].pop("timestamp"))
            assert stamped.tzinfo is not None
            assert abs(datetime.now(UTC) - stamped) < timedelta(minutes=1)
            want["metadata"].pop("timestamp")
            assert wire == want
            # Same keys in the same order, as consumers and the audit store see them.
            assert list(json.loads(payload)) == list(model.model_dump(mode="json", by_alias=True))

    def test_consumers_read_them_as_the_contract_says(self) -> None:
        upserted = [_upserted(s, created=c, count=n) for s, c, n in STORED]
        rows = ingest_events(upserted, CONTEXTS[1])
        parsed = [EventEnvelope.model_validate_json(payload) for _, _, payload in rows]
        kinds = [type(parse_data(envelope)) for envelope in parsed]
        assert kinds == [AlertCreated, AlertCreated, AlertDeduplicated, AlertDeduplicated]
        deduplicated = parse_data(parsed[2])
        assert isinstance(deduplicated, AlertDeduplicated)
        assert deduplicated.occurrences == 2  # the two duplicates folded into the new alert
        assert parse_data(parsed[3]).model_dump()["occurrences"] == 2
        assert [envelope.aggregate_id for envelope in parsed] == [
            STORED[0][0].id,
            STORED[1][0].id,
            STORED[1][0].id,
            STORED[2][0].id,
        ]
        assert len({envelope.id for envelope in parsed}) == len(parsed)

    def test_no_events_no_rows(self) -> None:
        assert ingest_events([], EventContext()) == []


def test_new_ids_are_distinct_version_4_uuids() -> None:
    ids = new_ids(1000)
    assert len(set(ids)) == 1000
    assert all(i.version == 4 and i.variant == "specified in RFC 4122" for i in ids)
    assert new_ids(0) == []


def _ip_as_before(value: str, version: int) -> str | None:
    """The address normalization as it was (ip_address, then the version compared)."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    return str(address) if address.version == version else None


@pytest.mark.parametrize(
    "value",
    [
        "10.0.1.7",
        " 203.0.113.7 ",
        "255.255.255.255",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.",
        "2001:DB8:0:0::1",
        "::ffff:1.2.3.4",
        "fe80::1%eth0",
        "::",
        ":",
        "1:2:3:4:5:6:7:8:9",
        "host-7",
        "web01.corp.example",
        "",
        " ",
        "1.2.3.4/24",
    ],
)
def test_addresses_normalize_as_ip_address_did(value: str) -> None:
    for version, kind in ((4, IndicatorType.IPV4), (6, IndicatorType.IPV6)):
        before = _ip_as_before(value, version)
        if before is None:
            with pytest.raises(indicators.InvalidValue, match=f"^not an IPv{version} address$"):
                indicators.normalize(kind, value)
        else:
            assert indicators.normalize(kind, value) == before


def test_refused_values_leave_no_garbage_for_the_cyclic_gc() -> None:
    # A batch refuses thousands of values (every asset tried as an address): an exception
    # kept in a local of the frame it was raised in is a cycle per value, which the GC then
    # has to find (measured: 21,000 objects per 1,000 bench alerts).
    values = ["host-7", "1.2.3", "999.1.1.1", "::g", "web01.corp.example", "not a url"]
    kinds = [IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.URL, IndicatorType.EMAIL]
    gc.collect()
    gc.disable()
    try:
        for _ in range(100):
            for value in values:
                for kind in kinds:
                    with contextlib.suppress(indicators.InvalidValue):
                        indicators.normalize(kind, value)
                match_keys([], [value])
        assert gc.collect() == 0
    finally:
        gc.enable()
