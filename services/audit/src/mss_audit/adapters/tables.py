from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import INET, JSONB, UUID

metadata = MetaData(schema="audit")

events = Table(
    "events",
    metadata,
    Column("position", BigInteger, unique=True),
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("type", Text, nullable=False),
    Column("aggregate_id", UUID(as_uuid=True), nullable=False),
    Column("aggregate_type", Text, nullable=False),
    Column("org_id", UUID(as_uuid=True)),
    Column("data", JSONB, nullable=False),
    Column("metadata", JSONB, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)

audit_logs = Table(
    "audit_logs",
    metadata,
    Column("position", BigInteger, unique=True),
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("user_id", UUID(as_uuid=True)),
    Column("session_id", UUID(as_uuid=True)),
    Column("org_id", UUID(as_uuid=True)),
    Column("action", Text, nullable=False),
    Column("resource_type", Text, nullable=False),
    Column("resource_id", UUID(as_uuid=True)),
    Column("details", JSONB, nullable=False),
    Column("ip_address", INET),
    Column("user_agent", Text),
    Column("success", Boolean, nullable=False),
    Column("error_message", Text),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("chain_key", UUID(as_uuid=True), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
)
