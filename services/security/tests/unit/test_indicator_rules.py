"""Indicator normalization and STIX pattern handling, hostile input included."""

from __future__ import annotations

import pytest
from stix2.exceptions import STIXError

from mss_security.domain import feeds
from mss_security.domain.alerts import Observable, ObservableType
from mss_security.domain.feeds import (
    NESTING_MAX,
    PATTERN_MAX,
    Accepted,
    FeedError,
    Rejected,
    Skipped,
    csv_row,
    csv_rows,
    indicator_of_pattern,
    stix_object,
    stix_objects,
)
from mss_security.domain.indicators import (
    IndicatorType,
    InvalidValue,
    match_keys,
    normalize,
)

T = IndicatorType


@pytest.mark.parametrize(
    ("kind", "raw", "normalized"),
    [
        (T.IPV4, " 203.0.113.7 ", "203.0.113.7"),
        (T.IPV6, "2001:DB8:0:0::1", "2001:db8::1"),
        (T.CIDR, "10.1.2.3/8", "10.0.0.0/8"),
        (T.CIDR, "2001:DB8::/32", "2001:db8::/32"),
        (T.CIDR, "192.0.2.1", "192.0.2.1/32"),
        (T.DOMAIN, "Evil.EXAMPLE.com.", "evil.example.com"),
        (T.DOMAIN, "bücher.example", "xn--bcher-kva.example"),
        (T.DOMAIN, "BÜCHER.example", "xn--bcher-kva.example"),
        (T.HOSTNAME, "Host01.Corp.Example", "host01.corp.example"),
        (T.MD5, "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"),
        (T.SHA1, "A" * 40, "a" * 40),
        (T.SHA256, "0F" * 32, "0f" * 32),
        (T.URL, "HTTP://Evil.Example.COM/Path?Q=1", "http://evil.example.com/Path?Q=1"),
        (T.URL, "https://bücher.example:8443/x", "https://xn--bcher-kva.example:8443/x"),
        (T.URL, "http://[2001:DB8::1]/a", "http://[2001:db8::1]/a"),
        (T.EMAIL, "Bob@Example.COM", "bob@example.com"),
        (T.USER, " Alice ", "alice"),
    ],
)
def test_values_are_normalized(kind: IndicatorType, raw: str, normalized: str) -> None:
    assert normalize(kind, raw) == normalized


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (T.IPV4, "256.1.1.1"),
        (T.IPV4, "2001:db8::1"),
        (T.IPV6, "203.0.113.7"),
        (T.CIDR, "10.0.0.0/33"),
        (T.DOMAIN, ""),
        (T.DOMAIN, "a" * 64 + ".example"),
        (T.DOMAIN, "bad_domain!.example"),
        (T.MD5, "d41d8cd98f00b204e9800998ecf8427"),
        (T.SHA1, "z" * 40),
        (T.SHA256, "0f" * 31),
        (T.URL, "not a url"),
        (T.URL, "http://"),
        (T.URL, "http://host:99999/"),
        (T.EMAIL, "no-at-sign"),
        (T.USER, "   "),
        (T.URL, "http://x.example/" + "a" * 3000),
    ],
)
def test_malformed_values_are_refused(kind: IndicatorType, raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalize(kind, raw)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[ipv4-addr:value = '203.0.113.7']", (T.IPV4, "203.0.113.7")),
        ("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", (T.CIDR, "198.51.100.0/24")),
        ("[ipv4-addr:value = '198.51.100.0/24']", (T.CIDR, "198.51.100.0/24")),
        ("[ipv6-addr:value = '2001:DB8::1']", (T.IPV6, "2001:db8::1")),
        ("[domain-name:value = 'Evil.Example']", (T.DOMAIN, "evil.example")),
        ("[domain-name:value = 'bücher.example']", (T.DOMAIN, "xn--bcher-kva.example")),
        ("[url:value = 'HTTP://Evil.Example/x']", (T.URL, "http://evil.example/x")),
        ("[file:hashes.'SHA-256' = '" + "AB" * 32 + "']", (T.SHA256, "ab" * 32)),
        ("[file:hashes.MD5 = '" + "0" * 32 + "']", (T.MD5, "0" * 32)),
        ("[file:hashes.'SHA-1' = '" + "1" * 40 + "']", (T.SHA1, "1" * 40)),
        ("[email-addr:value = 'Bob@Example.com']", (T.EMAIL, "bob@example.com")),
        ("[url:value = 'http://x.example/it\\'s']", (T.URL, "http://x.example/it's")),
        ("[ipv4-addr:value = '10.0.0.1' ]", (T.IPV4, "10.0.0.1")),
    ],
)
def test_simple_patterns_become_indicators(
    pattern: str, expected: tuple[IndicatorType, str]
) -> None:
    assert indicator_of_pattern(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        "[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8']",
        "[ipv4-addr:value = '1.2.3.4'] AND [domain-name:value = 'x.example']",
        "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '5.6.7.8']",
        "[ipv4-addr:value = '1.2.3.4'] WITHIN 5 SECONDS",
        "[ipv4-addr:value != '1.2.3.4']",
        "[network-traffic:dst_port = 443]",
        "[process:name = 'evil.exe']",
        "[domain-name:value LIKE '%.example']",
        "[domain-name:value ISSUBSET 'x.example']",
        "[file:name MATCHES '^evil']",
        "[artifact:payload_bin = b'AAAA']",
        "[domain-name:value = 'a.example' OR domain-name:value = 'b.example']",
    ],
)
def test_other_patterns_are_skipped_with_a_reason(pattern: str) -> None:
    outcome = indicator_of_pattern(pattern)
    assert isinstance(outcome, Skipped)
    assert outcome.reason


@pytest.mark.parametrize(
    ("pattern", "needle"),
    [
        ("garbage", "invalid STIX pattern"),
        # An escape the grammar refuses is judged by the full parse, not by its shape.
        ("[domain-name:value = 'a\\x.example']", "invalid STIX pattern"),
        ("[domain-name:value = 'unterminated]", "invalid STIX pattern"),
        ("[domain-name:value = '']", "not a domain name"),
        ("[ipv4-addr:value = '999.1.1.1']", "not an IPv4 address"),
        ("[file:hashes.MD5 = 'xyz']", "md5"),
        ("[ipv4-addr:value = '" + "1" * PATTERN_MAX + "']", "longer than"),
        ("(" * 500 + "[ipv4-addr:value = '1.2.3.4']" + ")" * 500, "nested deeper"),
        ("[" * 4000, "nested deeper"),
        ("[" * 10_000, "longer than"),
        (
            "(" * (NESTING_MAX + 1) + "[a:b = 'x']" + ")" * (NESTING_MAX + 1),
            "nested deeper",
        ),
    ],
)
def test_hostile_or_malformed_patterns_are_rejected(pattern: str, needle: str) -> None:
    outcome = indicator_of_pattern(pattern)
    assert isinstance(outcome, Rejected)
    assert needle in outcome.message


def test_brackets_inside_string_literals_do_not_count_as_nesting() -> None:
    url = "http://x.example/" + "(" * (NESTING_MAX * 2)
    assert indicator_of_pattern(f"[url:value = '{url}']") == (T.URL, url)


INDICATOR = {
    "type": "indicator",
    "spec_version": "2.1",
    "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    "created": "2026-01-01T00:00:00Z",
    "modified": "2026-01-01T00:00:00Z",
    "pattern": "[ipv4-addr:value = '203.0.113.7']",
    "pattern_type": "stix",
    "valid_from": "2026-01-01T00:00:00Z",
    "confidence": 80,
    "labels": ["c2"],
}


def test_a_stix_indicator_object_becomes_an_indicator() -> None:
    outcome = stix_object(INDICATOR)
    assert isinstance(outcome, Accepted)
    assert outcome.indicator.value == "203.0.113.7"
    assert outcome.indicator.confidence == 80
    assert outcome.indicator.labels == ("c2",)
    assert outcome.indicator.stix_id == INDICATOR["id"]


@pytest.mark.parametrize(
    ("obj", "kind"),
    [
        ({"type": "malware", "id": "malware--x"}, Skipped),
        ({**INDICATOR, "pattern_type": "sigma"}, Skipped),
        ({**INDICATOR, "id": "not-an-id"}, Rejected),
        ({**INDICATOR, "confidence": 1000}, Rejected),
        ({**INDICATOR, "pattern": None}, Rejected),
        ("a string", Rejected),
    ],
)
def test_other_objects_are_skipped_or_rejected(obj: object, kind: type) -> None:
    assert isinstance(stix_object(obj), kind)


# Objects of every kind the plain path meets: each is accepted, refused or handed to stix2's
# constructor, and what it accepts is what the constructor makes of it.
_TLP_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
PLAIN_CASES = [
    INDICATOR,
    {**INDICATOR, "created": "2026-01-01T00:00:00.123456Z", "name": "n", "description": "d"},
    {**INDICATOR, "valid_until": "2027-01-01T00:00:00Z", "object_marking_refs": [_TLP_GREEN]},
    {**INDICATOR, "valid_until": "2025-01-01T00:00:00Z"},  # before valid_from
    {**INDICATOR, "valid_until": "2026-01-01T00:00:00Z"},  # equal to valid_from
    {**INDICATOR, "created": "yesterday"},
    {**INDICATOR, "created": 7},
    {**INDICATOR, "id": "indicator--not-a-uuid"},
    {**INDICATOR, "id": "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"},
    {**INDICATOR, "spec_version": "2.0"},
    {**INDICATOR, "labels": "c2"},
    {**INDICATOR, "labels": []},
    {**INDICATOR, "confidence": "high"},
    {**INDICATOR, "revoked": "maybe"},
    {**INDICATOR, "object_marking_refs": ["identity--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"]},
    {**INDICATOR, "x_custom": {"a": 1}},
    {**INDICATOR, "external_references": [{"source_name": "feed", "url": "https://x.example"}]},
    {key: value for key, value in INDICATOR.items() if key != "created"},
]


def _constructed(obj: dict[str, object]) -> object:
    try:
        return dict(feeds._CheckedIndicator(allow_custom=True, **obj))
    except (STIXError, ValueError, TypeError):
        return "refused"


@pytest.mark.parametrize("obj", PLAIN_CASES)
def test_the_plain_path_accepts_only_what_stix2_accepts_and_as_stix2_does(
    obj: dict[str, object],
) -> None:
    plain = feeds._plain_indicator(obj)
    constructed = _constructed(obj)
    if plain is not None:
        assert isinstance(constructed, dict)
        assert plain == {key: constructed[key] for key in plain}
    outcome = stix_object(obj)
    assert isinstance(outcome, Accepted) is (constructed != "refused")


def test_the_plain_path_takes_the_plain_indicator() -> None:
    # The fast path is the one taken by a producer's ordinary objects (no silent fallback).
    assert feeds._plain_indicator(INDICATOR) is not None
    assert feeds._plain_indicator(PLAIN_CASES[2]) is not None


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"type": "indicator"}', b'{"type": "bundle", "objects": 1}']
)
def test_an_unreadable_bundle_fails_as_a_whole(body: bytes) -> None:
    with pytest.raises(FeedError):
        stix_objects(body)


@pytest.mark.parametrize(
    ("row", "accepted"),
    [
        ({"type": "domain", "value": "X.Example", "confidence": "90", "labels": "a;b"}, True),
        ({"type": "cidr", "value": "10.0.0.0/8", "validUntil": "2030-01-01T00:00:00Z"}, True),
        ({"type": "ipv4", "value": "1.2.3"}, False),
        ({"type": "nope", "value": "x"}, False),
        ({"type": "md5", "value": "0" * 32, "confidence": "101"}, False),
        ({"type": "md5", "value": "0" * 32, "validUntil": "tomorrow"}, False),
    ],
)
def test_csv_rows(row: dict[str, str | None], accepted: bool) -> None:
    assert isinstance(csv_row(row), Accepted) is accepted


def test_csv_needs_its_header() -> None:
    with pytest.raises(FeedError):
        list(csv_rows(b"a,b\n1,2\n"))
    rows = list(csv_rows(b"type,value,confidence,labels,validUntil\nipv4,1.2.3.4,,,\n"))
    assert rows[0]["value"] == "1.2.3.4"


def test_an_alert_offers_normalized_values_and_its_addresses() -> None:
    keys = match_keys(
        [
            Observable(type=ObservableType("ipv4"), value="203.0.113.7"),
            Observable(type=ObservableType("domain"), value="Evil.Example."),
            Observable(type=ObservableType("md5"), value="not-a-hash"),
        ],
        ["10.1.2.3", "web01.corp.example", "some asset"],
    )
    assert keys.addresses == {"203.0.113.7", "10.1.2.3"}
    assert {"evil.example", "web01.corp.example", "203.0.113.7"} <= keys.values
