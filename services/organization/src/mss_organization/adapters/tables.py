from sqlalchemy import Boolean, Column, DateTime, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData(schema="organization")

organizations = Table(
    "organizations",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("type", Text, nullable=False),
    Column("domain", String(255)),
    Column("sso_enabled", Boolean, nullable=False),
    Column("status", Text, nullable=False),
    Column("settings", JSONB, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("created_by", UUID(as_uuid=True)),
)

technician_access = Table(
    "technician_access",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("technician_id", UUID(as_uuid=True), nullable=False),
    Column("access_level", Text, nullable=False),
    Column("granted_by", UUID(as_uuid=True), nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_by", UUID(as_uuid=True)),
    Column("revoked_reason", String(255)),
    Column("allowed_services", JSONB, nullable=False),
    Column("ip_restrictions", JSONB, nullable=False),
    Column("time_restrictions", JSONB(none_as_null=True)),
    Column("status", Text, nullable=False),
    Column("notes", Text),
    Column("version", Integer, nullable=False),
)

remote_access_sessions = Table(
    "remote_access_sessions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("technician_id", UUID(as_uuid=True), nullable=False),
    Column("grant_id", UUID(as_uuid=True), nullable=False),
    Column("service", String(50), nullable=False),
    Column("justification", Text, nullable=False),
    Column("intervention_id", UUID(as_uuid=True)),
    Column("client_ip", Text),
    Column("status", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("ended_by", UUID(as_uuid=True)),
    Column("ended_reason", String(255)),
    Column("version", Integer, nullable=False),
)

staff_directory = Table(
    "staff_directory",
    metadata,
    Column("user_id", UUID(as_uuid=True), primary_key=True),
    Column("org_id", UUID(as_uuid=True), nullable=False),
    Column("role", Text),
    Column("status", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
