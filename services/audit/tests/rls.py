"""Tenant tables of this service, for the shared RLS test (libs/tests/integration/test_rls.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from mss_audit.domain.chain import GENESIS, AuditEntry, entry_hash
from mss_testing.rls import ServiceRls, TenantTable, seed_grant


async def _seed(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
    """Two events and their audit entries, chained as the audit service would chain them."""
    events: list[object] = []
    logs: list[object] = []
    prev_hash = GENESIS
    for seq in (1, 2):
        entry = AuditEntry(
            id=uuid.uuid4(),
            event_id=uuid.uuid4(),
            user_id=None,
            session_id=None,
            org_id=org,
            action="user.created",
            resource_type="user",
            resource_id=uuid.uuid4(),
            details={},
            ip_address=None,
            user_agent=None,
            success=True,
            error_message=None,
            timestamp=datetime.now(UTC),
        )
        await conn.execute(
            "INSERT INTO audit.events (id, type, aggregate_id, aggregate_type, org_id, data, "
            "metadata, schema_version, occurred_at) "
            "VALUES ($1, 'user.created', $2, 'user', $3, '{}', '{}', 1, $4)",
            entry.event_id,
            entry.resource_id,
            org,
            entry.timestamp,
        )
        link_hash = entry_hash(entry, seq=seq, prev_hash=prev_hash)
        await conn.execute(
            "INSERT INTO audit.audit_logs (id, event_id, org_id, action, resource_type, "
            "resource_id, details, timestamp, chain_key, seq, prev_hash, hash) "
            "VALUES ($1, $2, $3, 'user.created', 'user', $4, '{}', $5, $3, $6, $7, $8)",
            entry.id,
            entry.event_id,
            org,
            entry.resource_id,
            entry.timestamp,
            seq,
            prev_hash,
            link_hash,
        )
        prev_hash = link_hash
        events.append(entry.event_id)
        logs.append(entry.id)
    grants = [await seed_grant(conn, "audit", org)]
    return {"events": events, "audit_logs": logs, "technician_grants": grants}


RLS = ServiceRls(
    tables=(TenantTable("events"), TenantTable("audit_logs"), TenantTable("technician_grants")),
    seed=_seed,
    write_for_other=(
        "INSERT INTO audit.events (id, type, aggregate_id, aggregate_type, org_id, data, "
        "metadata, schema_version, occurred_at) "
        "VALUES (gen_random_uuid(), 'user.created', gen_random_uuid(), 'user', $1, '{}', '{}', "
        "1, now())"
    ),
    # audit_app may not UPDATE at all (test_append_only)
)
