"""RLS overhead on the organization list: the same queries with and without the tenant policy.

`scripts/bench rls [--rows 20000] [--iterations 300]`

In a scratch schema of the platform database (dropped afterwards), builds two copies of
`organization.organizations` with `--rows` rows — one with the platform's tenant policy
(`mss_db.migrations.tenant_rls_sql`), one without — and runs, as a non-owner role, the
organization service's list page (`ORDER BY created_at DESC, id LIMIT 20` and its count)
under three scopes: one tenant, 50 tenants, and every organization. Prints p50/p99 per
case and the plans (EXPLAIN ANALYZE), so the index use is visible. Figures only.
Environment: MSS_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/mss).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from mss_db.migrations import split_statements, tenant_rls_sql

DATABASE_URL = os.environ.get("MSS_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/mss")
SCHEMA = "bench_rls"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
ROLE = "bench_rls_reader"
PAGE = "SELECT * FROM {table}{where} ORDER BY created_at DESC, id LIMIT 20"
COUNT = "SELECT count(*) FROM {table}{where}"
# What `mss_db.scope.in_scope` adds to the services' list queries for a tenant scope.
SCOPE_PREDICATE = " WHERE id = ANY($1::uuid[])"


async def setup(conn: asyncpg.Connection, rows: int) -> list[uuid.UUID]:
    await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    await conn.execute(f"CREATE SCHEMA {SCHEMA}")
    if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", ROLE):
        await conn.execute(f"CREATE ROLE {ROLE} NOLOGIN")
    await conn.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {ROLE}")
    ids = [uuid.uuid4() for _ in range(rows)]
    for table in ("with_rls", "without_rls"):
        await conn.execute(
            f"CREATE TABLE {SCHEMA}.{table} (LIKE organization.organizations INCLUDING ALL)"
        )
        await conn.copy_records_to_table(
            table,
            schema_name=SCHEMA,
            columns=["id", "name", "type", "created_at"],
            records=[(org, f"Org {i}", "customer", _stamp(i)) for i, org in enumerate(ids)],
        )
        await conn.execute(f"GRANT SELECT ON {SCHEMA}.{table} TO {ROLE}")
        await conn.execute(f"ANALYZE {SCHEMA}.{table}")
    for statement in split_statements(tenant_rls_sql(SCHEMA, "with_rls", "id")):
        await conn.execute(statement)
    return ids


def _stamp(i: int) -> datetime:
    return EPOCH + timedelta(seconds=i)


async def scoped(conn: asyncpg.Connection, org_ids: list[uuid.UUID], all_orgs: bool) -> None:
    await conn.execute(
        "SELECT set_config('app.org_ids', $1, true), set_config('app.all_orgs', $2, true)",
        ",".join(str(o) for o in org_ids),
        "on" if all_orgs else "off",
    )


async def measure(
    conn: asyncpg.Connection,
    table: str,
    org_ids: list[uuid.UUID],
    all_orgs: bool,
    n: int,
    *,
    predicate: bool = False,
) -> tuple[float, float]:
    where, args = (SCOPE_PREDICATE, [org_ids]) if predicate else ("", [])
    timings = []
    for _ in range(n):
        async with conn.transaction():
            await conn.execute(f"SET LOCAL ROLE {ROLE}")
            await scoped(conn, org_ids, all_orgs)
            started = time.perf_counter()
            await conn.fetch(PAGE.format(table=f"{SCHEMA}.{table}", where=where), *args)
            await conn.fetchval(COUNT.format(table=f"{SCHEMA}.{table}", where=where), *args)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1]


async def plan(
    conn: asyncpg.Connection,
    table: str,
    org_ids: list[uuid.UUID],
    all_orgs: bool,
    *,
    predicate: bool = False,
) -> str:
    where, args = (SCOPE_PREDICATE, [org_ids]) if predicate else ("", [])
    async with conn.transaction():
        await conn.execute(f"SET LOCAL ROLE {ROLE}")
        await scoped(conn, org_ids, all_orgs)
        rows = await conn.fetch(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
            + PAGE.format(table=f"{SCHEMA}.{table}", where=where),
            *args,
        )
    return "\n".join(_short("      " + r[0]) for r in rows)


def _short(line: str, width: int = 140) -> str:
    return line if len(line) <= width else line[: width - 5] + " …"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        ids = await setup(conn, args.rows)
        newest = ids[-1:]  # the page's first row: its own tenant's newest
        cases = [
            ("one tenant", newest, False),
            ("50 tenants", ids[-50:], False),
            ("every organization", [], True),
        ]
        print(f"RLS bench: {args.rows} organizations, {args.iterations} runs per case")
        print("  list page (LIMIT 20) + count, as a non-owner role, in one transaction each\n")
        for label, org_ids, all_orgs in cases:
            with_p50, with_p99 = await measure(conn, "with_rls", org_ids, all_orgs, args.iterations)
            # The same statements on the copy without a policy (it returns every row).
            plain_p50, plain_p99 = await measure(
                conn, "without_rls", org_ids, all_orgs, args.iterations
            )
            print(
                f"  {label:<20} policy only       p50 {with_p50:8.3f} ms p99 {with_p99:8.3f} ms"
                f"  | no policy p50 {plain_p50:6.3f} ms p99 {plain_p99:6.3f} ms"
            )
            if not all_orgs:
                # The services' list queries: policy + the scope as their own predicate,
                # against the same predicate on the copy without a policy.
                both_p50, both_p99 = await measure(
                    conn, "with_rls", org_ids, all_orgs, args.iterations, predicate=True
                )
                bare_p50, bare_p99 = await measure(
                    conn, "without_rls", org_ids, all_orgs, args.iterations, predicate=True
                )
                print(
                    f"  {'':<20} policy + predicate p50 {both_p50:8.3f} ms p99 {both_p99:8.3f} ms"
                    f"  | predicate only p50 {bare_p50:6.3f} ms p99 {bare_p99:6.3f} ms"
                    f"  | RLS overhead p50 {both_p50 - bare_p50:+.3f} ms"
                )
            else:
                print(f"  {'':<20} RLS overhead p50 {with_p50 - plain_p50:+.3f} ms")
        for label, org_ids, all_orgs in cases:
            print(f"\n  plan with RLS, {label} (as the services query):")
            print(await plan(conn, "with_rls", org_ids, all_orgs, predicate=not all_orgs))
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
