"""Optimistic concurrency: the `If-Match` header of every route that changes a versioned
resource (alerts, reports, interventions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from mss_contracts.errors import ValidationFailed

IfMatch = Annotated[str | None, Header(alias="If-Match")]


def expected_version(if_match: str | None, resource: str) -> int | None:
    """`If-Match: 3` (quotes and a weak mark tolerated); anything else is a 422 naming it."""
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise ValidationFailed(
            details={"If-Match": f"must be the {resource}'s version (an integer)"}
        )
    return int(value)
