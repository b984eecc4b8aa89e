"""Moving outbox rows (``server.outbox``) onto the queues, and back when lost.

``relay`` (run by the scheduler every loop) enqueues pending rows at once;
the ``sweep`` job (every minute) re-enqueues rows the relay missed or that
were enqueued and never finished — Redis was down, flushed or restarted, or
the consumer kept failing — so nothing committed is lost.  A row is enqueued
as its kind's consumer job with the row id as the argument (job id
``<consumer>--<row id>``, unique), and the consumer marks it done.
"""
from __future__ import annotations

import datetime as dt
import logging

from jobs import core
from jobs.core import job
from server import outbox
from server.alerts import Severity, raise_alert
from server.timeutil import utcnow

log = logging.getLogger(__name__)
DONE_KEPT = dt.timedelta(days=30)

# kind → consumer job name.  A consumer is a @job taking the row id that calls ``consume``.
CONSUMERS: dict[str, str] = {
    "payment.credited": "notifications.payment_credited",
    "dispute.replied": "notifications.dispute_replied",
    "dispute.resolved": "notifications.dispute_replied",
    "alert.staff_message": "notifications.staff_alert",
}


def _hand_over(message: outbox.OutboxMessage, now: dt.datetime) -> bool:
    consumer = CONSUMERS.get(message.kind)
    if consumer is None:
        outbox.mark_failed(message.id, f"no consumer for kind {message.kind!r}")
        raise_alert("outbox_failed", f"后续任务 {message.kind} 没有处理程序", severity=Severity.CRITICAL,
                    dedupe_key=f"outbox_no_consumer:{message.kind}",
                    details={"message_id": message.id, "outbox_kind": message.kind})
        return False
    if message.attempts >= outbox.MAX_ATTEMPTS:
        outbox.mark_failed(message.id, message.last_error or "too many attempts")
        raise_alert("outbox_failed", f"后续任务 {message.kind}#{message.id} 多次失败，已停止重试",
                    severity=Severity.CRITICAL, dedupe_key=f"outbox_failed:{message.id}",
                    details={"message_id": message.id, "attempts": message.attempts,
                             "error": message.last_error, "outbox_kind": message.kind})
        return False
    core.spec_for(consumer).enqueue(message.id)
    # A fast consumer may have finished already: the conditional update then leaves it done.
    outbox.mark_enqueued(message, now)
    return True


def _dispatch(messages: list[outbox.OutboxMessage], now: dt.datetime) -> int:
    handed = 0
    for message in messages:
        try:
            handed += _hand_over(message, now)
        except Exception as exc:      # the queue is down: the rows wait in the database
            log.error("could not enqueue outbox row %s (%s): %s; %d row(s) wait for the sweeper",
                      message.id, message.kind, exc, len(messages) - handed)
            outbox.note_error(message.id, f"enqueue failed: {exc}")
            break
    return handed


def relay(limit: int = 100) -> int:
    """Enqueue pending rows now; returns how many were handed over."""
    with core.connected():
        return _dispatch(outbox.pending(limit), utcnow())


@job("notifications", timeout=300)
def sweep(fire_at: str) -> int:
    """Re-enqueue missed or lost rows; forget rows finished long ago."""
    now = utcnow()
    stale = outbox.stale(now)
    handed = _dispatch(stale, now)
    if stale:
        log.warning("outbox sweeper re-enqueued %d of %d stale row(s)", handed, len(stale))
    outbox.purge_done(now - DONE_KEPT)
    return handed


def consume(message_id: int, handler) -> bool:
    """Run ``handler(payload)`` for an outbox row unless it is done, then mark it done.
    Returns False when there was nothing to do.  The handler's errors propagate
    (the job is retried; the sweeper re-enqueues it if the retries run out)."""
    message = outbox.OutboxMessage.get_or_none(outbox.OutboxMessage.id == message_id)
    if message is None or message.status in (outbox.OutboxStatus.DONE, outbox.OutboxStatus.FAILED):
        return False
    handler(message.payload)
    return outbox.mark_done(message.id)
