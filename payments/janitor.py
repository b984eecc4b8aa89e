"""The janitor: no callback is not "unpaid" (RELIABILITY.md R7).

Every open order (``created``, ``paying``, ``unknown``) is queried at about
+1 min, +5 min, +30 min, +2 h and +24 h after it was created, until it is
terminal; ``next_query_at`` holds its next turn.  An expired order is closed
(``close_order``: never within 5 minutes of creation, and always followed by a
query, so a payment that slipped in is credited).  An order the owner
cancelled within WeChat's 5-minute no-close window is closed at WeChat once the
window has passed.  Processing refunds are queried with a backoff, and stored
callbacks that were never applied are applied.

An order still open after its last step — WeChat kept erroring — raises an
alert and is retried hourly; so every order is terminal within 24h4m plus a
minute of slack, or a person knows about it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from payments import exceptions as wx
from payments import notify
from payments.models import OrderStatus, PaymentOrder
from payments.refunds import sync_refund
from payments.service import CLOSE_NOT_BEFORE, close_order, sync_order
from server.alerts import Severity, raise_alert
from server.ledger.models import Refund, RefundStatus
from server.timeutil import utcnow

log = logging.getLogger(__name__)
QUERY_STEPS = tuple(dt.timedelta(minutes=m) for m in (1, 5, 30, 120, 1440))
AFTER_LAST_STEP = dt.timedelta(hours=1)
LEASE = dt.timedelta(minutes=5)         # a claimed order is not picked again meanwhile
FIRST_LOOK = dt.timedelta(minutes=1)    # an order never prepaid is looked at after this
REMOTE_CLOSE_WITHIN = dt.timedelta(days=7)
REMOTE_CLOSE_EVERY = dt.timedelta(minutes=5)


@dataclasses.dataclass
class Report:
    checked: int = 0
    resolved: int = 0
    errors: int = 0
    flagged: int = 0
    closed_remotely: int = 0
    refunds_synced: int = 0
    callbacks_replayed: int = 0


def next_step(created_at: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The first query time after ``now``, or None once past the last step."""
    for step in QUERY_STEPS:
        if created_at + step > now:
            return created_at + step
    return None


def refund_backoff(age: dt.timedelta) -> dt.timedelta:
    if age < dt.timedelta(minutes=10):
        return dt.timedelta(minutes=1)
    if age < dt.timedelta(hours=2):
        return dt.timedelta(minutes=10)
    return dt.timedelta(hours=1)


def due_orders(now: dt.datetime, limit: int) -> list[PaymentOrder]:
    PO = PaymentOrder
    scheduled = PO.next_query_at <= now
    never = PO.next_query_at.is_null() & (PO.created_at <= now - FIRST_LOOK)
    return list(PO.select().where(PO.status.in_(OrderStatus.OPEN), scheduled | never)
                .order_by(PO.next_query_at, PO.id).limit(limit))


def _claim(order: PaymentOrder, now: dt.datetime) -> bool:
    """Take the order's turn (a conditional update), so two janitors never both query it."""
    PO = PaymentOrder
    if order.next_query_at is None:
        same = PO.next_query_at.is_null()
    else:
        same = PO.next_query_at == order.next_query_at
    return bool(PO.update(next_query_at=now + LEASE).where(PO.id == order.id, same).execute())


def check_order(order: PaymentOrder, client, now: dt.datetime, report: Report) -> None:
    """One turn for one open order: close it if expired, else query it; then schedule the next turn."""
    error = None
    try:
        if order.expires_at and now >= order.expires_at and now - order.created_at >= CLOSE_NOT_BEFORE:
            close_order(order, client, reason="expired", now=now)
        else:
            sync_order(order, client, source="janitor")
    except wx.WeChatPayError as exc:
        error = exc
        report.errors += 1
        log.warning("janitor: order %s: %s", order.out_trade_no, exc)
    order = PaymentOrder.get_by_id(order.id)
    if order.status not in OrderStatus.OPEN:
        report.resolved += 1
        PaymentOrder.update(next_query_at=None).where(PaymentOrder.id == order.id).execute()
        return
    upcoming = next_step(order.created_at, now)
    if upcoming is None:
        report.flagged += 1
        upcoming = now + AFTER_LAST_STEP
        raise_alert("order_unresolved",
                    f"订单 {order.out_trade_no} 在最后一次查询后仍未终结（{order.status}）"
                    + (f"：{error}" if error else ""),
                    severity=Severity.CRITICAL, dedupe_key=f"order_unresolved:{order.out_trade_no}",
                    community_id=order.community_id,
                    details={"out_trade_no": order.out_trade_no, "status": order.status,
                             "error": str(error) if error else ""})
    PaymentOrder.update(next_query_at=upcoming).where(PaymentOrder.id == order.id).execute()


def close_cancelled_remotely(client, now: dt.datetime, report: Report, limit: int) -> None:
    """Orders closed here (owner cancelled in the first 5 minutes) but not yet at WeChat."""
    PO = PaymentOrder
    rows = (PO.select().where(PO.status == OrderStatus.CLOSED, PO.remote_closed == False,  # noqa: E712
                              PO.created_at <= now - CLOSE_NOT_BEFORE,
                              PO.created_at >= now - REMOTE_CLOSE_WITHIN,
                              PO.last_queried_at.is_null() | (PO.last_queried_at <= now - REMOTE_CLOSE_EVERY))
            .order_by(PO.id).limit(limit))
    for order in rows:
        try:
            order = close_order(order, client, reason="cancelled by owner", now=now)
        except wx.WeChatPayError as exc:
            report.errors += 1
            log.warning("janitor: closing %s at WeChat: %s", order.out_trade_no, exc)
            continue
        report.closed_remotely += bool(PaymentOrder.get_by_id(order.id).remote_closed)


def sync_processing_refunds(client, now: dt.datetime, report: Report, limit: int) -> None:
    rows = (Refund.select().where(Refund.status == RefundStatus.PROCESSING)
            .order_by(Refund.updated_at).limit(limit))
    for refund in rows:
        if refund.updated_at > now - refund_backoff(now - refund.created_at):
            continue
        try:
            refund = sync_refund(refund, client)
        except wx.WeChatPayError as exc:
            report.errors += 1
            log.warning("janitor: refund %s: %s", refund.out_refund_no, exc)
        report.refunds_synced += 1
        # Still processing: its turn comes again after the backoff.
        (Refund.update(updated_at=now)
         .where(Refund.id == refund.id, Refund.status == RefundStatus.PROCESSING).execute())


def run(client, merchant: notify.Merchant, *, now: dt.datetime | None = None, limit: int = 200) -> Report:
    """One janitor pass (the job runs it every minute)."""
    now = now or utcnow()
    report = Report()
    for order in due_orders(now, limit):
        if not _claim(order, now):
            continue                       # another janitor took it
        report.checked += 1
        check_order(order, client, now, report)
    close_cancelled_remotely(client, now, report, limit)
    sync_processing_refunds(client, now, report, limit)
    report.callbacks_replayed = notify.reprocess_pending(client.verifier, merchant, limit=limit)
    return report
