"""The outbox: work that must follow a committed change, recorded by that change.

A service that commits something other processes must act on (a payment was
credited: send the receipt) calls ``add`` inside the same transaction.  The
row commits or rolls back with the change, so there is no moment at which the
change exists and the work is forgotten, whatever Redis is doing (R10).  A
relay enqueues pending rows; a sweeper re-enqueues rows that were enqueued
long ago and never finished (Redis flushed, a job that kept failing), and
gives up on a row only after ``MAX_ATTEMPTS`` with an alert.  The consumer
marks its row ``done``; consumers are idempotent, so an occasional second
delivery changes nothing.

No queue is imported here: ``jobs.outbox`` does the enqueueing.
"""
from __future__ import annotations

import datetime as dt
import uuid

import peewee as pw

from server.db import BaseModel, JSONField, UTCDateTimeField
from server.timeutil import utcnow

MAX_ATTEMPTS = 8
PENDING_GRACE = dt.timedelta(minutes=1)     # the relay normally takes a row within seconds
ENQUEUED_GRACE = dt.timedelta(minutes=10)   # longer than any consumer takes, retries included


class OutboxStatus:
    PENDING = "pending"      # committed, not yet handed to a queue
    ENQUEUED = "enqueued"    # handed to a queue at ``enqueued_at``
    DONE = "done"            # the consumer finished
    FAILED = "failed"        # given up after MAX_ATTEMPTS (alerted)
    OPEN = (PENDING, ENQUEUED)


class OutboxMessage(BaseModel):
    """One piece of follow-up work.  ``dedupe_key`` makes ``add`` idempotent."""

    kind = pw.CharField(max_length=48)
    payload = JSONField(default=dict)
    dedupe_key = pw.CharField(max_length=191, unique=True)
    status = pw.CharField(max_length=16, default=OutboxStatus.PENDING, index=True)
    attempts = pw.IntegerField(default=0)
    created_at = UTCDateTimeField(default=utcnow)
    enqueued_at = UTCDateTimeField(null=True)
    done_at = UTCDateTimeField(null=True)
    last_error = pw.CharField(max_length=255, default="")


def add(kind: str, payload: dict, dedupe_key: str | None = None) -> None:
    """Record follow-up work.  Call it inside the transaction of the change it
    follows.  A second ``add`` with the same ``dedupe_key`` is a no-op (an
    ON CONFLICT DO NOTHING insert, so it never aborts the caller's transaction)."""
    (OutboxMessage
     .insert(kind=kind, payload=payload, dedupe_key=dedupe_key or f"{kind}:{uuid.uuid4().hex}",
             status=OutboxStatus.PENDING, created_at=utcnow())
     .on_conflict_ignore()
     .execute())


def pending(limit: int = 100) -> list[OutboxMessage]:
    return list(OutboxMessage.select()
                .where(OutboxMessage.status == OutboxStatus.PENDING)
                .order_by(OutboxMessage.id).limit(limit))


def stale(now: dt.datetime, limit: int = 500) -> list[OutboxMessage]:
    """Rows the relay missed, or that were enqueued and never finished."""
    M = OutboxMessage
    missed = (M.status == OutboxStatus.PENDING) & (M.created_at <= now - PENDING_GRACE)
    lost = (M.status == OutboxStatus.ENQUEUED) & (M.enqueued_at <= now - ENQUEUED_GRACE)
    return list(M.select().where(missed | lost).order_by(M.id).limit(limit))


def mark_enqueued(message: OutboxMessage, now: dt.datetime) -> bool:
    """Record a hand-over to the queue; False if the row finished meanwhile."""
    changed = (OutboxMessage
               .update(status=OutboxStatus.ENQUEUED, enqueued_at=now,
                       attempts=OutboxMessage.attempts + 1)
               .where(OutboxMessage.id == message.id, OutboxMessage.status.in_(OutboxStatus.OPEN))
               .execute())
    return bool(changed)


def mark_done(message_id: int, now: dt.datetime | None = None) -> bool:
    changed = (OutboxMessage
               .update(status=OutboxStatus.DONE, done_at=now or utcnow(), last_error="")
               .where(OutboxMessage.id == message_id, OutboxMessage.status != OutboxStatus.DONE)
               .execute())
    return bool(changed)


def mark_failed(message_id: int, error: str) -> bool:
    changed = (OutboxMessage
               .update(status=OutboxStatus.FAILED, last_error=error[:255])
               .where(OutboxMessage.id == message_id, OutboxMessage.status.in_(OutboxStatus.OPEN))
               .execute())
    return bool(changed)


def note_error(message_id: int, error: str) -> None:
    OutboxMessage.update(last_error=error[:255]).where(OutboxMessage.id == message_id).execute()


def backlog(now: dt.datetime, older_than: dt.timedelta) -> int:
    """Open rows older than ``older_than``: work that is not flowing."""
    return (OutboxMessage.select()
            .where(OutboxMessage.status.in_(OutboxStatus.OPEN),
                   OutboxMessage.created_at <= now - older_than)
            .count())


def purge_done(before: dt.datetime) -> int:
    """Delete finished rows older than ``before`` (they are a queue, not a record)."""
    return (OutboxMessage.delete()
            .where(OutboxMessage.status == OutboxStatus.DONE, OutboxMessage.done_at < before)
            .execute())
