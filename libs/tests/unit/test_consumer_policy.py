"""Which failures a consumer retries and requeues, and which it dead-letters at once."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from mss_bus.consumer import is_transient
from mss_db.bulk import unnest_insert_sql


def _wrapped(error: Exception) -> sa_exc.DBAPIError:
    """As SQLAlchemy raises a driver error (the driver's error kept as `.orig`)."""
    return sa_exc.DBAPIError("SELECT 1", None, error)


@pytest.mark.parametrize(
    "error",
    [
        _wrapped(asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        _wrapped(asyncpg.exceptions.DeadlockDetectedError("deadlock detected")),
        _wrapped(asyncpg.exceptions.SerializationError("could not serialize access")),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        sa_exc.TimeoutError("QueuePool limit of size 4 overflow 4 reached"),
        ConnectionResetError("reset by peer"),
    ],
    ids=repr,
)
def test_transient_failures_are_retried_not_dead_lettered(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug in the handler"),
        _wrapped(asyncpg.exceptions.UniqueViolationError("duplicate key")),
        asyncpg.exceptions.InvalidTextRepresentationError("invalid input syntax for type uuid"),
        KeyError("data"),
    ],
    ids=repr,
)
def test_other_failures_are_not_transient(error: Exception) -> None:
    assert not is_transient(error)


def test_multi_row_insert_is_one_statement_of_arrays_casting_text_carried_types() -> None:
    sql = unnest_insert_sql(
        "audit.events",
        [("id", "uuid"), ("data", "jsonb"), ("ip", "inet")],
        suffix="ON CONFLICT DO NOTHING RETURNING id",
    )
    assert sql == (
        "INSERT INTO audit.events (id, data, ip) "
        "SELECT id, data::jsonb, ip::inet FROM unnest($1::uuid[], $2::text[], $3::text[]) "
        "AS t(id, data, ip) ON CONFLICT DO NOTHING RETURNING id"
    )
