"""The set of organizations a unit of work may see, applied as transaction-local settings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from uuid import UUID

from sqlalchemy import ColumnElement, SQLColumnExpression, true


@dataclass(frozen=True, slots=True)
class OrgScope:
    """Either every organization or an explicit set; empty means no rows at all."""

    all_orgs: bool = False
    org_ids: frozenset[UUID] = field(default_factory=frozenset)

    @classmethod
    def everything(cls) -> OrgScope:
        return cls(all_orgs=True)

    @classmethod
    def of(cls, ids: Iterable[UUID]) -> OrgScope:
        return cls(org_ids=frozenset(ids))

    def allows(self, org_id: UUID | None) -> bool:
        return self.all_orgs or (org_id is not None and org_id in self.org_ids)


def in_scope(column: SQLColumnExpression[object], scope: OrgScope) -> ColumnElement[bool]:
    """The scope as the query's own predicate, so lists use the tenant index.

    RLS stays the guarantee; its policy (`all orgs OR org_id = ANY(...)`) cannot use an
    index by itself, so a tenant's list would otherwise scan every tenant's rows.
    """
    if scope.all_orgs:
        return true()
    return column.in_(sorted(scope.org_ids))


def begin_sql(scope: OrgScope) -> str:
    """BEGIN and the RLS settings for that transaction only (safe behind poolers), as one
    simple query: one round trip where two statements would take two.

    The values are inlined, not bound (a simple query has no parameters). They are safe
    by construction: UUIDs rendered by `uuid.UUID` (hex digits and dashes) joined by
    commas, and `on`/`off`.
    """
    org_ids = ",".join(sorted(str(UUID(str(org))) for org in scope.org_ids))
    all_orgs = "on" if scope.all_orgs else "off"
    return (
        "BEGIN; SELECT set_config('app.org_ids', "
        f"'{org_ids}', true), set_config('app.all_orgs', '{all_orgs}', true)"
    )
