"""Webhook rules, pure: which events a webhook takes, which URLs and addresses it may call,
when a failed delivery is tried again, when a webhook is disabled."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

# Delays after the 1st, 2nd, ... failed attempt (the last one repeats), for 24 h in all:
# the first retry comes within 60 s of a failure (API.md "Precisions").
RETRY_DELAYS = tuple(
    timedelta(seconds=s) for s in (30, 120, 300, 900, 1800, 3600, 7200, 14400, 28800)
)
RETRY_WINDOW = timedelta(hours=24)
DISABLE_AFTER = 50
EXCERPT_BYTES = 512
TEST_EVENT = "webhook.test"


def matches(patterns: Iterable[str], event_type: str) -> bool:
    """`security.alert.created` matches itself, `security.alert.*` and `security.*`."""
    for pattern in patterns:
        if pattern == event_type or pattern == "*":
            return True
        if pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
            return True
    return False


def next_attempt(*, attempt: int, created_at: datetime, now: datetime) -> datetime | None:
    """After failed attempt number `attempt` (1-based): when to try again, or None when the
    24 h window is over (the delivery has failed for good)."""
    delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]
    at = now + delay
    return at if at <= created_at + RETRY_WINDOW else None


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def refused(address: Address) -> str | None:
    """Why we never call this address (None: a public address we may call)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refused(address.ipv4_mapped)
    if address.is_loopback:
        return "resolves to a loopback address"
    if address.is_link_local:
        return "resolves to a link-local or metadata address"
    if isinstance(address, ipaddress.IPv6Address) and address in ipaddress.ip_network("fc00::/7"):
        return "resolves to a unique local (private) IPv6 address"
    if address.is_private:
        return "resolves to a private address"
    if address.is_multicast or address.is_unspecified or address.is_reserved:
        return "resolves to a non-routable address"
    if not address.is_global:
        return "resolves to a non-public address"
    return None


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """What is wrong with a webhook URL as written (before resolving its host)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        return "must be an https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials"
    if port == 0:
        return "must not use port 0"
    return None


def failures_after(oks: Sequence[bool]) -> tuple[bool, int]:
    """How a round of attempts on one webhook (in order, True = delivered) moves its run of
    consecutive failures: (True, n) restarts it at n, the failures after the last success;
    (False, n) adds n to it (no success this round)."""
    if True in oks:
        return True, oks[::-1].index(True)
    return False, len(oks)
