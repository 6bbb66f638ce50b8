"""Tenant tables of this service, for the shared RLS test (libs/tests/integration/test_rls.py)."""

from __future__ import annotations

import uuid

import asyncpg

from mss_testing.rls import ServiceRls, TenantTable


async def _seed(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, list[object]]:
    delivery, user, notification, mail, digest, hook, hook_delivery = (
        uuid.uuid4() for _ in range(7)
    )
    await conn.execute(
        "INSERT INTO notification.mail_deliveries "
        "(id, event_id, org_id, recipient, template, status, attempts) "
        "VALUES ($1, $2, $3, 'ada@example.com', 'invitation', 'sent', 1)",
        delivery,
        uuid.uuid4(),
        org,
    )
    await conn.execute(
        "INSERT INTO notification.user_directory "
        "(user_id, org_id, email, first_name, last_name, role, status, version) "
        "VALUES ($1, $2, 'ada@example.com', 'Ada', 'L', 'admin', 'active', 1)",
        user,
        org,
    )
    await conn.execute(
        "INSERT INTO notification.org_directory (org_id, type, status, settings, version) "
        "VALUES ($1, 'customer', 'active', '{}', 1)",
        org,
    )
    await conn.execute(
        "INSERT INTO notification.notifications (id, org_id, user_id, event_id, type, title, body) "
        "VALUES ($1, $2, $3, $4, 'security.alert.created', 't', 'b')",
        notification,
        org,
        user,
        uuid.uuid4(),
    )
    await conn.execute(
        "INSERT INTO notification.preferences (user_id, org_id, in_app, email, "
        "min_alert_severity, digest, muted_types) VALUES ($1, $2, true, true, 'high', 'off', '{}')",
        user,
        org,
    )
    await conn.execute(
        "INSERT INTO notification.notification_mails (id, org_id, user_id, event_id, recipient, "
        "subject, body, status, digest, send_after) "
        "VALUES ($1, $2, $3, $4, 'a@example.com', 's', 'b', 'pending', 'off', now())",
        mail,
        org,
        user,
        uuid.uuid4(),
    )
    await conn.execute(
        "INSERT INTO notification.digests (id, org_id, user_id, period, period_start, mails, "
        "status) VALUES ($1, $2, $3, 'hourly', now(), 1, 'sent')",
        digest,
        org,
        user,
    )
    await conn.execute(
        "INSERT INTO notification.webhooks (id, org_id, url, events, secret_sealed, status, "
        "created_by) VALUES ($1, $2, 'https://hooks.example.com/', '{security.*}', 'sealed', "
        "'active', $3)",
        hook,
        org,
        user,
    )
    await conn.execute(
        "INSERT INTO notification.webhook_deliveries (id, org_id, webhook_id, event_id, "
        "event_type, payload, status) VALUES ($1, $2, $3, $4, 'security.alert.created', '{}', "
        "'pending')",
        hook_delivery,
        org,
        hook,
        uuid.uuid4(),
    )
    return {
        "mail_deliveries": [delivery],
        "user_directory": [user],
        "org_directory": [org],
        "notifications": [notification],
        "preferences": [user],
        "notification_mails": [mail],
        "digests": [digest],
        "webhooks": [hook],
        "webhook_deliveries": [hook_delivery],
    }


RLS = ServiceRls(
    tables=(
        TenantTable("mail_deliveries"),
        TenantTable("user_directory", key="user_id"),
        TenantTable("org_directory", key="org_id"),
        TenantTable("notifications"),
        TenantTable("preferences", key="user_id"),
        TenantTable("notification_mails"),
        TenantTable("digests"),
        TenantTable("webhooks"),
        TenantTable("webhook_deliveries"),
    ),
    seed=_seed,
    write_for_other=(
        "INSERT INTO notification.mail_deliveries "
        "(id, event_id, org_id, recipient, template, status, attempts) "
        "VALUES (gen_random_uuid(), gen_random_uuid(), $1, 'b@example.com', 'invitation', "
        "'sent', 1)"
    ),
)
