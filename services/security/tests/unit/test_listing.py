"""List queries: the keyset cursor, the filters' values, the q bounds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from mss_security.domain.alerts import Severity
from mss_security.domain.errors import InvalidListQuery
from mss_security.domain.listing import Cursor, Sort, check_q, parse_choices

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("sort", list(Sort))
def test_a_cursor_survives_its_round_trip(sort: Sort) -> None:
    keys = (4, NOW) if sort is Sort.SEVERITY_DESC else (NOW,)
    cursor = Cursor(sort=sort, keys=keys, id=uuid.uuid4())
    assert Cursor.decode(cursor.encode(), sort) == cursor


@pytest.mark.parametrize(
    "token", ["", "garbage", "W10", "eyJhIjogMX0", Cursor(sort=Sort.LAST_SEEN_DESC).encode()]
)
def test_a_malformed_cursor_is_a_422_naming_it(token: str) -> None:
    with pytest.raises(InvalidListQuery) as refused:
        Cursor.decode(token, Sort.LAST_SEEN_DESC)
    assert refused.value.details == {"cursor": "malformed or not of this sort"}


def test_a_cursor_of_another_sort_is_refused() -> None:
    cursor = Cursor(sort=Sort.LAST_SEEN_DESC, keys=(NOW,), id=uuid.uuid4())
    with pytest.raises(InvalidListQuery):
        Cursor.decode(cursor.encode(), Sort.FIRST_SEEN_DESC)


def test_comma_separated_values_parse_and_an_unknown_one_is_named() -> None:
    assert parse_choices("severity", "high,critical", Severity) == {
        Severity.HIGH,
        Severity.CRITICAL,
    }
    assert parse_choices("severity", None, Severity) == frozenset()
    with pytest.raises(InvalidListQuery) as refused:
        parse_choices("severity", "high,urgent", Severity)
    assert "severity" in (refused.value.details or {})


def test_q_needs_three_characters() -> None:
    assert check_q("abc") == "abc"
    assert check_q(None) is None
    with pytest.raises(InvalidListQuery):
        check_q("ab")
