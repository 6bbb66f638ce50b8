"""Notification mails: single ones once their time has come (quiet hours hold them back),
digests as one mail per user and period. Both from durable rows, claimed with
FOR UPDATE SKIP LOCKED so several workers never send one mail twice; a digest also takes
its (user, period) row, whose unique key makes it once across replicas.

Never sent from the event path: the consumer only queues rows. The mail loop claims the
oldest due mails with every other due mail of their recipients, sends the batch over one
SMTP session, and a user's burst in it (an alert flood) as one mail listing them."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol
from uuid import UUID, uuid4

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col

from mss_db import OrgScope, UnitOfWorkFactory
from mss_notification.adapters.inbox import DueMail, MailQueue
from mss_notification.adapters.tables import DigestRow
from mss_notification.application.deliveries import Mailer
from mss_notification.domain.delivery import SendOutcome
from mss_notification.domain.mail import Mail, NoticeTemplate, list_body, notice_mail
from mss_notification.domain.preferences import Digest, period_length, period_start

log = logging.getLogger("mss.notification.mails")

BATCH = 200
# With the rest of their recipients' due mails, a claim takes at most this many rows.
CLAIM_CAP = 5 * BATCH
# A user with this many due mails in one batch gets them as one mail (an alert flood is
# one message per user and batch, not hundreds); fewer go out one by one.
BURST = 3


class BatchMailer(Mailer, Protocol):
    async def send_many(self, mails: Sequence[Mail], /) -> list[SendOutcome]: ...


def _outgoing(due: Sequence[DueMail]) -> list[tuple[Mail, list[DueMail]]]:
    """The mails to send for the claimed rows: one per row, or one per user's burst."""
    by_user: dict[UUID, list[DueMail]] = defaultdict(list)
    for mail in due:
        by_user[mail.user_id].append(mail)
    outgoing: list[tuple[Mail, list[DueMail]]] = []
    for rows in by_user.values():
        if len(rows) >= BURST:
            burst = notice_mail(
                recipient=rows[0].recipient,
                subject=f"MSS Platform: {len(rows)} new notifications",
                body=list_body(
                    f"{len(rows)} notifications arrived for you on the MSS Platform at once",
                    [m.subject for m in rows],
                ),
                ref=min(rows, key=lambda m: m.id).id,
            )
            outgoing.append((burst, rows))
            continue
        for row in rows:
            single = notice_mail(
                recipient=row.recipient, subject=row.subject, body=row.body, ref=row.id
            )
            outgoing.append((single, [row]))
    return outgoing


async def send_due_mails(
    factory: UnitOfWorkFactory, *, mailer: BatchMailer, now: datetime | None = None
) -> int:
    """Send the single mails that are due, over one SMTP session per batch; each row marked
    sent (digested when folded into a burst mail) or failed, with its attempts."""
    now = now or datetime.now(UTC)
    async with factory(OrgScope.everything()) as uow:
        queue = MailQueue(uow)
        due = await queue.claim_due(now=now, limit=BATCH, cap=CLAIM_CAP)
        outgoing = _outgoing(due)
        outcomes = await mailer.send_many([mail for mail, _ in outgoing])
        # One statement per outcome (sent, digested, each failure), not one per mail.
        finished: dict[tuple[str, str | None, int], list[UUID]] = defaultdict(list)
        for (_, rows), outcome in zip(outgoing, outcomes, strict=True):
            sent = "sent" if len(rows) == 1 else "digested"
            status = sent if outcome.error is None else "failed"
            finished[(status, outcome.error, outcome.attempts)] += [row.id for row in rows]
        for (status, error, attempts), ids in finished.items():
            await queue.finish(ids, status=status, error=error, attempts=attempts)
        await uow.commit()
    return len(due)


async def send_digests(
    factory: UnitOfWorkFactory, *, mailer: Mailer, now: datetime | None = None
) -> int:
    """For each digest kind: every user's mails of the periods that have ended, as one mail."""
    now = now or datetime.now(UTC)
    sent = 0
    for digest in (Digest.HOURLY, Digest.DAILY):
        boundary = period_start(digest, now)
        period = boundary - period_length(digest)
        async with factory(OrgScope.everything()) as uow:
            queue = MailQueue(uow)
            pending = await queue.claim_digest(digest=digest, before=boundary, limit=1000)
            by_user: dict[UUID, list[DueMail]] = defaultdict(list)
            for mail in pending:
                by_user[mail.user_id].append(mail)
            for user_id, mails in by_user.items():
                taken = await uow.conn.execute(
                    insert(DigestRow)
                    .values(
                        id=uuid4(),
                        org_id=mails[0].org_id,
                        user_id=user_id,
                        period=digest.value,
                        period_start=period,
                        mails=len(mails),
                        status="sent",
                        created_at=now,
                    )
                    .on_conflict_do_nothing(
                        index_elements=[
                            col(DigestRow.user_id),
                            col(DigestRow.period),
                            col(DigestRow.period_start),
                        ]
                    )
                    .returning(col(DigestRow.id))
                )
                digest_id = taken.scalar_one_or_none()
                if digest_id is None:
                    # This period's digest went out already: these mails belong to it.
                    await queue.finish([m.id for m in mails], status="digested", attempts=0)
                    continue
                outcome = await mailer.send(
                    notice_mail(
                        template=NoticeTemplate.DIGEST,
                        recipient=mails[0].recipient,
                        subject=f"MSS Platform: {len(mails)} notification(s) ({digest.value})",
                        body=list_body(
                            f"You have {len(mails)} new notification(s) on the MSS Platform",
                            [m.subject for m in mails],
                        ),
                        ref=digest_id,
                    )
                )
                await queue.finish(
                    [m.id for m in mails],
                    status="digested" if outcome.error is None else "failed",
                    error=outcome.error,
                )
                sent += 1
            await uow.commit()
    return sent
