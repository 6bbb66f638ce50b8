"""Reading threat feeds: STIX 2.1 bundles object by object, and CSV rows.

Each object or row becomes an indicator, is skipped (a kind we do not turn into one, with the
reason) or is rejected (malformed, with the message). A feed is hostile input: a pattern is
bounded in size and nesting before the parser sees it (the ANTLR parser recurses per level).
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stix2
from stix2.exceptions import STIXError
from stix2.properties import TimestampProperty
from stix2.v21 import Indicator
from stix2patterns.exceptions import ParseException
from stix2patterns.pattern import Pattern

from mss_security.domain.indicators import (
    LABEL_MAX,
    LABELS_MAX,
    IndicatorInput,
    IndicatorType,
    InvalidValue,
    Tlp,
    normalize,
)

PATTERN_MAX = 4096
NESTING_MAX = 16
MESSAGE_MAX = 300
DEFAULT_CONFIDENCE = 50


@dataclass(frozen=True, slots=True)
class Accepted:
    indicator: IndicatorInput


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str


@dataclass(frozen=True, slots=True)
class Rejected:
    message: str


Outcome = Accepted | Skipped | Rejected


class FeedError(ValueError):
    """The feed as a whole is unreadable (not JSON, not a bundle, no CSV header)."""


# --- patterns -----------------------------------------------------------------------------

# (object type, property path) → the indicator type a simple comparison on it becomes.
_PATHS: dict[tuple[str, tuple[str, ...]], IndicatorType] = {
    ("ipv4-addr", ("value",)): IndicatorType.IPV4,
    ("ipv6-addr", ("value",)): IndicatorType.IPV6,
    ("domain-name", ("value",)): IndicatorType.DOMAIN,
    ("url", ("value",)): IndicatorType.URL,
    ("email-addr", ("value",)): IndicatorType.EMAIL,
    ("file", ("hashes", "MD5")): IndicatorType.MD5,
    ("file", ("hashes", "SHA-1")): IndicatorType.SHA1,
    ("file", ("hashes", "SHA1")): IndicatorType.SHA1,
    ("file", ("hashes", "SHA-256")): IndicatorType.SHA256,
    ("file", ("hashes", "SHA256")): IndicatorType.SHA256,
    ("user-account", ("user_id",)): IndicatorType.USER,
    ("user-account", ("account_login",)): IndicatorType.USER,
}
_ADDRESS_TYPES = (IndicatorType.IPV4, IndicatorType.IPV6)


def nesting_depth(pattern: str) -> int:
    """The deepest `(`/`[` nesting outside string literals (which escape `'` as `\\'`)."""
    depth = deepest = 0
    quoted = escaped = False
    for char in pattern:
        if quoted:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == "'":
                quoted = False
        elif char == "'":
            quoted = True
        elif char in "([":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]":
            depth -= 1
    return deepest


def _blank_value(pattern: str) -> tuple[str, str] | None:
    """The pattern with its last string literal emptied, and that literal's text (escapes
    undone); None when a literal is one the grammar refuses (an escape other than `\\'`
    or `\\\\`, no closing quote) or one whose content it checks (`b'…'`, `h'…'`,
    `t'…'`): only the full parse may judge those.

    The grammar's verdict never depends on what a valid string literal holds, so the
    patterns of one shape (`[ipv4-addr:value = '']`) share one parse."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    escaped = False
    for index, char in enumerate(pattern):
        if start is None:
            if char == "'":
                if index and pattern[index - 1].isalnum():
                    return None
                start = index + 1
        elif escaped:
            if char not in "'\\":
                return None
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "'":
            spans.append((start, index))
            start = None
    if start is not None or not spans:
        return None
    begin, end = spans[-1]
    literal = pattern[begin:end].replace("\\'", "'").replace("\\\\", "\\")
    return pattern[:begin] + pattern[end:], literal


def _literal(token: str) -> str | None:
    """The text of a STIX string literal (`'…'`, escapes undone), or None for any other."""
    if len(token) < 2 or token[0] != "'" or token[-1] != "'":
        return None
    return token[1:-1].replace("\\'", "'").replace("\\\\", "\\")


@dataclass(frozen=True, slots=True)
class _Comparison:
    object_type: str
    path: tuple[str, ...]
    operator: str
    token: str


def _judge(pattern: str) -> _Comparison | Skipped | Rejected:
    """stix2-patterns' parse of one pattern: its one simple comparison, or why not."""
    try:
        inspected = Pattern(pattern).inspect()
    except (ParseException, RecursionError) as exc:
        return Rejected(f"invalid STIX pattern: {str(exc)[:MESSAGE_MAX]}")
    if inspected.observation_ops or inspected.qualifiers:
        return Skipped("not a single observation (operators or qualifiers)")
    comparisons = [(obj, c) for obj, found in inspected.comparisons.items() for c in found]
    if len(comparisons) != 1:
        return Skipped("not a single comparison")
    object_type, (path, operator, token) = comparisons[0]
    if operator not in ("=", "ISSUBSET"):
        return Skipped(f"comparison operator {operator} not supported")
    if not all(isinstance(step, str) for step in path):
        return Skipped("object path with list indexes not supported")
    return _Comparison(object_type, tuple(path), operator, token)


# Feeds repeat a few shapes thousands of times: the parser (ANTLR, ~0.6 ms a pattern) runs
# once per shape.
_judge_shape = functools.lru_cache(maxsize=1024)(_judge)


def indicator_of_pattern(pattern: str) -> tuple[IndicatorType, str] | Skipped | Rejected:
    """The (type, normalized value) a simple `=`/ISSUBSET pattern names, or why not."""
    if len(pattern) > PATTERN_MAX:
        return Rejected(f"pattern longer than {PATTERN_MAX} characters")
    if nesting_depth(pattern) > NESTING_MAX:
        return Rejected(f"pattern nested deeper than {NESTING_MAX} levels")
    blanked = _blank_value(pattern)
    if blanked is None:
        judged = _judge(pattern)
        value = None if isinstance(judged, Skipped | Rejected) else _literal(judged.token)
    else:
        shape, literal = blanked
        judged = _judge_shape(shape)
        compared_literal = not isinstance(judged, Skipped | Rejected) and judged.token == "''"
        value = literal if compared_literal else None
    if isinstance(judged, Skipped | Rejected):
        return judged
    kind = _PATHS.get((judged.object_type, judged.path))
    if kind is None:
        path = ".".join(judged.path)
        return Skipped(f"object path {judged.object_type}:{path} not supported")
    if value is None:
        return Skipped("compared value is not a string")
    if kind in _ADDRESS_TYPES and (judged.operator == "ISSUBSET" or "/" in value):
        kind = IndicatorType.CIDR
    elif judged.operator == "ISSUBSET":
        return Skipped(f"ISSUBSET on {judged.object_type} not supported")
    try:
        return kind, normalize(kind, value)
    except InvalidValue as exc:
        return Rejected(f"{kind.value} {value[:100]!r}: {exc}")


# --- STIX ---------------------------------------------------------------------------------

_TLP_MARKINGS = {
    stix2.TLP_WHITE.id: Tlp.CLEAR,
    stix2.TLP_GREEN.id: Tlp.GREEN,
    stix2.TLP_AMBER.id: Tlp.AMBER,
    stix2.TLP_RED.id: Tlp.RED,
}


def _tlp(marking_refs: Any) -> Tlp:
    for ref in marking_refs or ():
        if ref in _TLP_MARKINGS:
            return _TLP_MARKINGS[ref]
    return Tlp.AMBER


def _labels(raw: Any) -> tuple[str, ...]:
    return tuple(str(label)[:LABEL_MAX] for label in list(raw or ())[:LABELS_MAX])


def _aware(moment: Any) -> datetime | None:
    if moment is None:
        return None
    value: datetime = moment
    # A plain datetime (stix2 hands out its own subclass).
    return datetime.fromtimestamp(
        value.timestamp() if value.tzinfo else value.replace(tzinfo=UTC).timestamp(), UTC
    )


class _CheckedIndicator(Indicator):  # type: ignore[misc]
    """stix2's indicator, its pattern judged already (stix2 would parse it a second time,
    three quarters of an object's cost): every other constraint of stix2's own."""

    def _check_object_constraints(self) -> None:
        super(Indicator, self)._check_object_constraints()
        _check_validity(self.get("valid_from"), self.get("valid_until"), self.id)


def _check_validity(valid_from: Any, valid_until: Any, stix_id: Any) -> None:
    if valid_from and valid_until and valid_until <= valid_from:
        raise ValueError(f"{stix_id} 'valid_until' must be greater than 'valid_from'")


# The plain indicator: only properties whose check is their own property's `clean` (no
# nested objects, no granular markings checked against the object, no extensions, no custom
# properties). Such an object is checked by stix2's property cleaners one by one, which is
# what stix2's constructor runs, without its bookkeeping (custom-property detection,
# defaults, property order: two thirds of its cost). Every other object, and every one a
# cleaner refuses, is built by the constructor, so a verdict and its message stay stix2's.
_PLAIN = frozenset(
    {
        "type",
        "spec_version",
        "id",
        "created_by_ref",
        "created",
        "modified",
        "name",
        "description",
        "indicator_types",
        "pattern",
        "pattern_type",
        "pattern_version",
        "valid_from",
        "valid_until",
        "revoked",
        "labels",
        "confidence",
        "lang",
        "object_marking_refs",
    }
)
# Those stix2 would default when absent (a generated id, now): the constructor's business.
_DEFAULTED = frozenset({"type", "spec_version", "id", "created", "modified", "valid_from"})
_PROPERTIES: dict[str, Any] = dict(Indicator._properties)


@functools.lru_cache(maxsize=4096)
def _timestamp(name: str, value: str) -> Any:
    """stix2's timestamp check, once per distinct text (feeds repeat their timestamps)."""
    return _PROPERTIES[name].clean(value, True)[0]


def _plain_indicator(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The object's properties as stix2 cleans them, or None: let the constructor judge."""
    if not obj.keys() <= _PLAIN or not obj.keys() >= _DEFAULTED:
        return None
    cleaned: dict[str, Any] = {}
    try:
        for name, value in obj.items():
            if value is None or value == []:
                return None  # stix2 drops these (and may default them)
            if isinstance(_PROPERTIES[name], TimestampProperty) and isinstance(value, str):
                cleaned[name] = _timestamp(name, value)
            else:
                cleaned[name] = _PROPERTIES[name].clean(value, True)[0]
        _check_validity(cleaned.get("valid_from"), cleaned.get("valid_until"), cleaned["id"])
    except (STIXError, ValueError, TypeError):
        return None
    return cleaned


def _stix_indicator(obj: dict[str, Any]) -> Any:
    """The object's cleaned properties (a mapping); stix2's exceptions when it refuses it."""
    plain = _plain_indicator(obj)
    if plain is not None:
        return plain
    # allow_custom keeps a producer's extension properties from failing the object.
    return _CheckedIndicator(allow_custom=True, **obj)


def stix_object(obj: Any) -> Outcome:
    """One bundle object: an `indicator` with a simple pattern becomes an indicator."""
    if not isinstance(obj, dict):
        return Rejected("not a STIX object")
    kind = obj.get("type")
    if kind != "indicator":
        return Skipped(f"{str(kind)[:50]} object")
    if obj.get("pattern_type", "stix") != "stix":
        return Skipped(f"pattern type {str(obj.get('pattern_type'))[:50]}")
    pattern = obj.get("pattern")
    if not isinstance(pattern, str):
        return Rejected("indicator without a pattern")
    # The pattern first: it is bounded before any parser sees it.
    found = indicator_of_pattern(pattern)
    if isinstance(found, Skipped | Rejected):
        return found
    try:
        # stix2 validates the object's properties (ids, timestamps, references).
        parsed = _stix_indicator(obj)
    except (STIXError, ValueError, TypeError) as exc:
        return Rejected(f"invalid indicator: {str(exc)[:MESSAGE_MAX]}")
    indicator_type, value = found
    confidence = parsed.get("confidence")
    # stix2 does not hold `confidence` to the specification's 0–100.
    if confidence is not None and not 0 <= int(confidence) <= 100:
        return Rejected("invalid indicator: confidence must be from 0 to 100")
    return Accepted(
        IndicatorInput(
            type=indicator_type,
            value=value,
            confidence=DEFAULT_CONFIDENCE if confidence is None else int(confidence),
            tlp=_tlp(parsed.get("object_marking_refs")),
            labels=_labels(parsed.get("labels")),
            source="stix",
            description=str(parsed.get("description") or parsed.get("name") or "")[:2000],
            valid_from=_aware(parsed.get("valid_from")),
            valid_until=_aware(parsed.get("valid_until")),
            stix_id=str(parsed["id"]),
        )
    )


def stix_objects(body: bytes) -> list[Any]:
    """A bundle's `objects`; each is then read on its own (no Bundle of everything)."""
    try:
        bundle = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise FeedError("not a JSON document") from exc
    if not isinstance(bundle, dict) or bundle.get("type") != "bundle":
        raise FeedError("not a STIX bundle (type must be 'bundle')")
    objects = bundle.get("objects", [])
    if not isinstance(objects, list):
        raise FeedError("the bundle's objects must be a list")
    return objects


# --- CSV ----------------------------------------------------------------------------------

CSV_HEADER = ("type", "value", "confidence", "labels", "validUntil")


def csv_row(row: dict[str, str | None]) -> Outcome:
    """One data row of `type,value,confidence,labels,validUntil` (labels `;`-separated)."""
    raw_type = (row.get("type") or "").strip().lower()
    try:
        kind = IndicatorType(raw_type)
    except ValueError:
        return Rejected(f"type {raw_type[:50]!r} is not an indicator type")
    try:
        value = normalize(kind, row.get("value") or "")
    except InvalidValue as exc:
        return Rejected(f"value: {exc}")
    raw_confidence = (row.get("confidence") or "").strip()
    confidence = DEFAULT_CONFIDENCE
    if raw_confidence:
        if not raw_confidence.isdigit() or int(raw_confidence) > 100:
            return Rejected("confidence: must be an integer from 0 to 100")
        confidence = int(raw_confidence)
    labels = tuple(
        label.strip()[:LABEL_MAX] for label in (row.get("labels") or "").split(";") if label.strip()
    )[:LABELS_MAX]
    valid_until = None
    raw_until = (row.get("validUntil") or "").strip()
    if raw_until:
        try:
            valid_until = _aware(datetime.fromisoformat(raw_until))
        except ValueError:
            return Rejected("validUntil: not an ISO-8601 timestamp")
    return Accepted(
        IndicatorInput(
            type=kind,
            value=value,
            confidence=confidence,
            labels=labels,
            source="csv",
            valid_until=valid_until,
        )
    )


def csv_rows(body: bytes) -> Iterator[dict[str, str | None]]:
    """The data rows, the header checked first."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FeedError("not UTF-8 text") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(name.strip() for name in reader.fieldnames or ())
    if "type" not in header or "value" not in header:
        raise FeedError(f"the CSV header must be {','.join(CSV_HEADER)}")
    reader.fieldnames = list(header)
    yield from reader
