"""Driving an order through WeChat Pay: prepay, query, close, cancel.

Every call to WeChat that may have acted without telling us (timeout, 5xx, an
unverifiable answer) leaves the order ``unknown``; only a query with the same
``out_trade_no`` resolves it — never a new order number (RELIABILITY.md R8).
Closing is never attempted earlier than 5 minutes after creation, and every
close, successful or not, is followed by a query, so a payment that slipped in
between is credited rather than lost (R6, R7).
"""
from __future__ import annotations

import datetime as dt
import logging

from payments import exceptions as wx
from payments.models import OrderStatus, PaymentOrder
from payments.settlement import CreditResult, Outcome, credit_wechat_transaction
from payments.states import transition
from server import audit
from server.db import transaction
from server.errors import Conflict, DomainError, Unavailable
from server.timeutil import utcnow

log = logging.getLogger(__name__)
CLOSE_NOT_BEFORE = dt.timedelta(minutes=5)
NEVER_CREATED_AFTER = dt.timedelta(minutes=2)


def _note(order: PaymentOrder, **fields) -> None:
    fields.setdefault("updated_at", utcnow())
    PaymentOrder.update(**fields).where(PaymentOrder.id == order.id).execute()
    for key, value in fields.items():
        setattr(order, key, value)


def start_payment(order: PaymentOrder, client, openid: str) -> dict:
    """Prepay (once) and return the ``wx.requestPayment`` parameters.

    Repeating is safe: WeChat answers the same ``out_trade_no`` with the same
    parameters with the same prepay id, so a retry after a lost answer
    recovers it instead of creating a second order.
    """
    if order.status == OrderStatus.PAID:
        raise Conflict("该订单已支付", code="ORDER_ALREADY_PAID")
    if order.status == OrderStatus.CLOSED:
        raise Conflict("该订单已关闭，请重新下单", code="ORDER_CLOSED")
    if order.expires_at and order.expires_at <= utcnow():
        raise Conflict("该订单已过期，请重新下单", code="ORDER_EXPIRED")
    if order.status == OrderStatus.PAYING and order.prepay_id:
        return client.mini_program_pay_params(order.prepay_id)
    try:
        prepay_id = client.jsapi_prepay(order.out_trade_no, order.description or "物业缴费",
                                        order.total_fen, openid, order.expires_at)
    except (wx.OutTradeNoUsed, wx.OrderPaid, wx.OrderClosed):
        # WeChat knows this number in another state (paid, closed): the query decides.
        sync_order(order, client, source="prepay")
        raise Conflict("订单状态已变化，请刷新", code="ORDER_STATE_CHANGED")
    except (wx.OutcomeUnknown, wx.NetworkError, wx.RateLimited) as exc:
        retry_at = utcnow() + dt.timedelta(seconds=60)
        with transaction():
            # created → unknown; an order already unknown (or known to WeChat) stays as it is.
            if not transition(order, OrderStatus.UNKNOWN, expect=(OrderStatus.CREATED,),
                              last_error=str(exc)[:255], next_query_at=retry_at):
                _note(order, last_error=str(exc)[:255], next_query_at=retry_at)
        log.warning("prepay for %s did not answer clearly: %s", order.out_trade_no, exc)
        raise Unavailable("微信支付暂时无法确认，请稍后在订单中查看结果", code="PAYMENT_PENDING",
                          details={"out_trade_no": order.out_trade_no}) from None
    except wx.WeChatPayError as exc:
        if order.status == OrderStatus.CREATED:
            # A definitive refusal of our first attempt: the order never existed at WeChat.
            with transaction():
                transition(order, OrderStatus.CLOSED, expect=(OrderStatus.CREATED,),
                           last_error=f"{exc.code or type(exc).__name__}"[:255], closed_at=utcnow(),
                           remote_closed=True)
                audit.record(audit.Actor.system("prepay"), "order.prepay_refused", "payment_order",
                             order.id, after={"error": str(exc)[:255]}, community_id=order.community_id)
        else:
            # An earlier attempt may have created the order at WeChat: never close it
            # on a refusal alone, let the query decide (now, or the janitor later).
            _note(order, last_error=f"{exc.code or type(exc).__name__}"[:255])
            try:
                sync_order(order, client, source="prepay")
            except wx.WeChatPayError:
                pass
        raise DomainError("微信支付下单失败，请稍后重试", code="PREPAY_FAILED", status=502,
                          details={"wechat_code": exc.code}) from None
    with transaction():
        if not transition(order, OrderStatus.PAYING, expect=(OrderStatus.CREATED, OrderStatus.UNKNOWN),
                          prepay_id=prepay_id, next_query_at=order.created_at + dt.timedelta(minutes=1)):
            # Already paying without a prepay id (a query found the order after the
            # prepay answer was lost): keep the id WeChat has just given again.
            (PaymentOrder.update(prepay_id=prepay_id, updated_at=utcnow())
             .where(PaymentOrder.id == order.id, PaymentOrder.status == OrderStatus.PAYING,
                    PaymentOrder.prepay_id.is_null())
             .execute())
    return client.mini_program_pay_params(prepay_id)


def sync_order(order: PaymentOrder, client, *, source: str = "query") -> PaymentOrder:
    """Ask WeChat for the truth about ``order`` and apply it."""
    if order.status in (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED):
        return order
    now = utcnow()
    try:
        txn = client.query_by_out_trade_no(order.out_trade_no)
    except wx.NotFound:
        _note(order, last_queried_at=now, query_attempts=order.query_attempts + 1)
        if order.status in (OrderStatus.CREATED, OrderStatus.UNKNOWN) and \
                now - order.created_at > NEVER_CREATED_AFTER:
            with transaction():
                transition(order, OrderStatus.CLOSED, expect=(OrderStatus.CREATED, OrderStatus.UNKNOWN),
                           closed_at=now, last_error="ORDER_NOT_EXIST at WeChat")
        return order
    except wx.WeChatPayError as exc:
        _note(order, last_queried_at=now, query_attempts=order.query_attempts + 1,
              last_error=str(exc)[:255])
        raise
    _note(order, last_queried_at=now, query_attempts=order.query_attempts + 1)
    apply_trade_state(order, txn, client, source=source)
    return PaymentOrder.get_by_id(order.id)


def apply_trade_state(order: PaymentOrder, txn: dict, client, *, source: str) -> CreditResult | None:
    state = txn.get("trade_state")
    if state in ("SUCCESS", "REFUND"):
        return credit_wechat_transaction(txn, mchid=client.mchid, appid=client.appid, source=source)
    with transaction():
        if state in ("CLOSED", "REVOKED"):
            if transition(order, OrderStatus.CLOSED, expect=OrderStatus.OPEN, closed_at=utcnow(),
                          remote_closed=True):
                audit.record(audit.Actor("wechat", source), "order.close", "payment_order", order.id,
                             after={"trade_state": state}, community_id=order.community_id)
            if order.status == OrderStatus.CLOSED and not order.remote_closed:
                _note(order, remote_closed=True)
        elif state in ("NOTPAY", "USERPAYING") and order.status == OrderStatus.UNKNOWN:
            transition(order, OrderStatus.PAYING, expect=(OrderStatus.UNKNOWN,))
        elif state == "PAYERROR":
            _note(order, last_error=f"PAYERROR: {txn.get('trade_state_desc', '')}"[:255])
    return None


def close_order(order: PaymentOrder, client, *, reason: str, now: dt.datetime | None = None) -> PaymentOrder:
    """Close at WeChat (not before 5 minutes), then query, then close locally."""
    now = now or utcnow()
    if order.status not in OrderStatus.OPEN and not (order.status == OrderStatus.CLOSED
                                                      and not order.remote_closed):
        return order
    if now - order.created_at < CLOSE_NOT_BEFORE:
        raise Conflict("下单 5 分钟内不能关单", code="TOO_EARLY_TO_CLOSE")
    try:
        client.close(order.out_trade_no)
        closed_at_wechat = True
    except wx.WeChatPayError as exc:  # e.g. already paid: the query below decides
        closed_at_wechat = False
        log.info("close %s answered %s; querying", order.out_trade_no, exc)
    order = sync_order(order, client, source="close")
    if order.status in OrderStatus.OPEN:
        # The query still says NOTPAY: close locally (bills released).  Only a close
        # WeChat accepted counts as closed there; after a failed one the janitor
        # closes again later.  A late SUCCESS is credited by the paid-after-close path.
        with transaction():
            if transition(order, OrderStatus.CLOSED, expect=OrderStatus.OPEN, closed_at=now,
                          remote_closed=closed_at_wechat, last_error=reason[:255]):
                audit.record(audit.Actor.system("close"), "order.close", "payment_order", order.id,
                             after={"reason": reason, "closed_at_wechat": closed_at_wechat},
                             community_id=order.community_id)
    return order


def cancel_order(order: PaymentOrder, client, *, now: dt.datetime | None = None) -> PaymentOrder:
    """The owner gives up paying.  Within WeChat's 5-minute no-close window the
    order is closed here only (bills released) and the janitor closes it at
    WeChat later; the prepay's ``time_expire`` bounds the window either way."""
    now = now or utcnow()
    if order.status not in OrderStatus.OPEN:
        return order
    if now - order.created_at >= CLOSE_NOT_BEFORE:
        return close_order(order, client, reason="cancelled by owner", now=now)
    if order.status != OrderStatus.CREATED:
        order = sync_order(order, client, source="cancel")
        if order.status not in OrderStatus.OPEN:
            return order
    with transaction():
        transition(order, OrderStatus.CLOSED, expect=OrderStatus.OPEN, closed_at=now,
                   remote_closed=order.status == OrderStatus.CREATED, last_error="cancelled by owner")
        audit.record(audit.Actor("owner", order.owner_id or ""), "order.cancel", "payment_order",
                     order.id, community_id=order.community_id)
    return PaymentOrder.get_by_id(order.id)


def refresh_if_stale(order: PaymentOrder, client, *, min_interval=dt.timedelta(seconds=3)) -> PaymentOrder:
    """For the owner returning from the cashier: query WeChat if we have not recently."""
    if order.status not in (OrderStatus.PAYING, OrderStatus.UNKNOWN):
        return order
    if order.last_queried_at and utcnow() - order.last_queried_at < min_interval:
        return order
    try:
        return sync_order(order, client, source="owner_refresh")
    except wx.WeChatPayError:
        return order  # show what we know; the janitor keeps asking


__all__ = ["start_payment", "sync_order", "close_order", "cancel_order", "refresh_if_stale",
           "staff_sync_order", "close_expired_order",
           "apply_trade_state", "Outcome"]


# ------------------------------------------------------------------ staff actions
def staff_sync_order(order: PaymentOrder, client, actor: audit.Actor) -> PaymentOrder:
    """A staff member's "ask WeChat now": ``sync_order``, and who asked and what it
    changed in the audit log (provider errors propagate to the caller)."""
    before = order.status
    order = sync_order(order, client, source="staff")
    with transaction():
        audit.record(actor, "order.query", "payment_order", order.id, community_id=order.community_id,
                     before={"status": before}, after={"status": order.status})
    return order


def close_expired_order(order: PaymentOrder, client, actor: audit.Actor, *,
                        now: dt.datetime | None = None) -> PaymentOrder:
    """Staff close an open WeChat order whose time to pay has run out
    (``close_order``: close at WeChat, query, close locally; a late payment is credited)."""
    now = now or utcnow()
    if order.status not in OrderStatus.OPEN:
        raise Conflict("订单不是待支付状态，无需关闭", code="ORDER_NOT_OPEN",
                       details={"status": order.status})
    if order.expires_at is None or order.expires_at > now:
        raise Conflict("订单尚未过期，不能关闭", code="ORDER_NOT_EXPIRED")
    before = order.status
    order = close_order(order, client, reason=f"closed by staff {actor.id}"[:255], now=now)
    with transaction():
        audit.record(actor, "order.close_requested", "payment_order", order.id,
                     community_id=order.community_id, before={"status": before},
                     after={"status": order.status})
    return order
