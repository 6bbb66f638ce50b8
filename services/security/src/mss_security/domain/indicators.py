"""Threat-intelligence indicators: their types, normalized values, and what matches them.

Values are normalized with the standard library and maintained packages (ipaddress, idna,
urllib.parse), never with patterns of our own, so that an indicator and an observable that
name the same thing compare equal.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import idna

from mss_security.domain.alerts import Observable

VALUE_MAX = 2048
LABELS_MAX = 50
LABEL_MAX = 100
BATCH_MAX = 10_000
ERRORS_KEPT = 100


class IndicatorType(StrEnum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"
    CIDR = "cidr"
    DOMAIN = "domain"
    URL = "url"
    MD5 = "md5"
    SHA1 = "sha1"
    SHA256 = "sha256"
    EMAIL = "email"
    HOSTNAME = "hostname"
    USER = "user"


class Tlp(StrEnum):
    CLEAR = "clear"
    GREEN = "green"
    AMBER = "amber"
    AMBER_STRICT = "amber+strict"
    RED = "red"


class InvalidValue(ValueError):
    """A value its type cannot hold; the message says why (shown to the client)."""


_HASH_LENGTHS = {IndicatorType.MD5: 32, IndicatorType.SHA1: 40, IndicatorType.SHA256: 64}
_HEX = frozenset("0123456789abcdef")


def _ip(value: str, version: int) -> str:
    # The class of the version asked for, not ip_address (which tries IPv4, then IPv6: an
    # asset such as `host-7` was parsed four times to tell it is no address). A value
    # without exactly three dots, or without a colon, that class refuses anyway.
    # (No exception is kept in a local: its traceback would hold this frame, a reference
    # cycle per refused value for the cyclic GC to find.)
    text = value.strip()
    if (text.count(".") != 3) if version == 4 else (":" not in text):
        raise InvalidValue(f"not an IPv{version} address")
    try:
        address = ipaddress.IPv4Address(text) if version == 4 else ipaddress.IPv6Address(text)
    except ValueError as exc:
        raise InvalidValue(f"not an IPv{version} address") from exc
    return str(address)


def _cidr(value: str) -> str:
    try:
        # strict=False: `10.0.0.7/8` names the network 10.0.0.0/8 (feeds write both).
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError as exc:
        raise InvalidValue("not an IP network in CIDR notation") from exc


def _domain(value: str) -> str:
    name = value.strip().rstrip(".")
    if not name:
        raise InvalidValue("not a domain name")
    try:
        # UTS 46 mapping lower-cases and maps compatibility forms; the A-label (punycode)
        # form is what resolvers and most sensors report.
        return idna.encode(name, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidValue("not a valid domain name") from exc


def _hash(value: str, kind: IndicatorType) -> str:
    digest = value.strip().lower()
    length = _HASH_LENGTHS[kind]
    if len(digest) != length or not set(digest) <= _HEX:
        raise InvalidValue(f"not a {kind.value} hash ({length} hexadecimal characters)")
    return digest


def _url(value: str) -> str:
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise InvalidValue("not a URL") from exc
    if not parts.scheme or not host:
        raise InvalidValue("not an absolute URL (scheme and host required)")
    try:
        host = str(ipaddress.ip_address(host.strip("[]")))
        if ":" in host:
            host = f"[{host}]"
    except ValueError:
        host = _domain(host)
    netloc = host if port is None else f"{host}:{port}"
    if parts.username is not None:
        credentials = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{credentials}@{netloc}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))


def _email(value: str) -> str:
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or not domain:
        raise InvalidValue("not an e-mail address")
    return f"{local.lower()}@{_domain(domain)}"


def normalize(kind: IndicatorType, value: str) -> str:
    """The canonical form of `value` as a `kind`; InvalidValue says why it is none."""
    if len(value) > VALUE_MAX:
        raise InvalidValue(f"longer than {VALUE_MAX} characters")
    match kind:
        case IndicatorType.IPV4:
            return _ip(value, 4)
        case IndicatorType.IPV6:
            return _ip(value, 6)
        case IndicatorType.CIDR:
            return _cidr(value)
        case IndicatorType.DOMAIN | IndicatorType.HOSTNAME:
            return _domain(value)
        case IndicatorType.URL:
            return _url(value)
        case IndicatorType.MD5 | IndicatorType.SHA1 | IndicatorType.SHA256:
            return _hash(value, kind)
        case IndicatorType.EMAIL:
            return _email(value)
        case IndicatorType.USER:
            name = value.strip()
            if not name:
                raise InvalidValue("must not be empty")
            return name.lower()


@dataclass(frozen=True, slots=True)
class IndicatorInput:
    """A validated, normalized indicator to create or update (its key: org, type, value)."""

    type: IndicatorType
    value: str
    confidence: int = 50
    tlp: Tlp = Tlp.AMBER
    labels: tuple[str, ...] = ()
    source: str = ""
    description: str = ""
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    stix_id: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.type.value, self.value)


@dataclass(frozen=True, slots=True)
class Indicator:
    id: UUID
    org_id: UUID | None
    type: IndicatorType
    value: str
    confidence: int
    tlp: Tlp
    labels: tuple[str, ...]
    source: str
    description: str
    valid_from: datetime | None
    valid_until: datetime | None
    stix_id: str | None
    created_at: datetime
    updated_at: datetime

    def active(self, now: datetime) -> bool:
        return self.valid_until is None or self.valid_until > now

    def summary(self) -> dict[str, Any]:
        """What an alert's enrichment carries of it (all a customer ever sees of the feed)."""
        return {
            "id": str(self.id),
            "type": self.type.value,
            "value": self.value,
            "confidence": self.confidence,
            "tlp": self.tlp.value,
            "labels": list(self.labels),
        }


def fold_inputs(items: Iterable[IndicatorInput]) -> list[IndicatorInput]:
    """One item per key, the last one winning (one upsert may not touch a key twice)."""
    by_key: dict[tuple[str, str], IndicatorInput] = {}
    for item in items:
        by_key[item.key] = item
    return [by_key[key] for key in sorted(by_key)]


# --- what an alert offers for matching ----------------------------------------------------

# Observable types whose values are compared as indicator values of these types.
_OBSERVABLE_AS: dict[str, tuple[IndicatorType, ...]] = {
    "ipv4": (IndicatorType.IPV4,),
    "ipv6": (IndicatorType.IPV6,),
    "domain": (IndicatorType.DOMAIN, IndicatorType.HOSTNAME),
    "hostname": (IndicatorType.HOSTNAME, IndicatorType.DOMAIN),
    "url": (IndicatorType.URL,),
    "md5": (IndicatorType.MD5,),
    "sha1": (IndicatorType.SHA1,),
    "sha256": (IndicatorType.SHA256,),
    "email": (IndicatorType.EMAIL,),
    "user": (IndicatorType.USER,),
}


_ADDRESS_KINDS = (IndicatorType.IPV4, IndicatorType.IPV6)
_DOMAIN_KINDS = (IndicatorType.DOMAIN,)


@dataclass(frozen=True, slots=True)
class MatchKeys:
    """An alert's normalized observable values and its IP addresses (for CIDR containment)."""

    values: frozenset[str]
    addresses: frozenset[str]


# What `_normalized` found for (kinds, value): a batch's repeated values parsed once.
NormalizedCache = dict[tuple[tuple[IndicatorType, ...], str], str | None]


def _normalized(
    kinds: tuple[IndicatorType, ...], value: str, cache: NormalizedCache | None = None
) -> str | None:
    if cache is not None:
        key = (kinds, value)
        if key in cache:
            return cache[key]
        found = cache[key] = _normalized(kinds, value)
        return found
    for kind in kinds:
        try:
            return normalize(kind, value)
        except InvalidValue:
            continue
    return None


def match_keys(
    observables: Iterable[Observable],
    assets: Iterable[str],
    *,
    cache: NormalizedCache | None = None,
) -> MatchKeys:
    """The values an alert's observables and assets may match (unparseable ones ignored).

    Assets are free text: one that parses as an IP address or a domain name is used as one.
    `cache`, shared by the alerts of one batch, normalizes each distinct value once (the
    same hosts and addresses recur across a batch; a value that parses as nothing costs
    an exception per type tried).
    """
    values: set[str] = set()
    addresses: set[str] = set()
    for observable in observables:
        kinds = _OBSERVABLE_AS.get(observable.type.value, ())
        normalized = _normalized(kinds, observable.value, cache)
        if normalized is None:
            continue
        values.add(normalized)
        if observable.type.value in ("ipv4", "ipv6"):
            addresses.add(normalized)
    for asset in assets:
        address = _normalized(_ADDRESS_KINDS, asset, cache)
        if address is not None:
            values.add(address)
            addresses.add(address)
        elif "." in asset and (domain := _normalized(_DOMAIN_KINDS, asset, cache)):
            values.add(domain)
    return MatchKeys(values=frozenset(values), addresses=frozenset(addresses))


def enrichment_of(indicators: Iterable[Indicator]) -> dict[str, Any]:
    """An alert's `enrichment`: the indicators it matched, in a stable order."""
    summaries = sorted(
        {i.id: i.summary() for i in indicators}.values(), key=lambda s: (s["type"], s["value"])
    )
    return {"matched": bool(summaries), "indicators": summaries}


def merged_enrichment(current: dict[str, Any], found: Iterable[Indicator]) -> dict[str, Any]:
    """`current` with `found` added (or refreshed): what a retro-hunt writes."""
    by_id = {str(s["id"]): s for s in current.get("indicators", [])}
    for indicator in found:
        by_id[str(indicator.id)] = indicator.summary()
    summaries = sorted(by_id.values(), key=lambda s: (s["type"], s["value"]))
    return {"matched": bool(summaries), "indicators": summaries}
