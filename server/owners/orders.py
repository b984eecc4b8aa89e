"""An owner paying bills: placing an order, following it, cancelling it.

The payment domain (:mod:`payments.orders`, :mod:`payments.service`) decides
everything about money; this module only ties it to the owner who asks and
shapes what the owner sees.  An order is visible to the owner who placed it
and to nobody else (404, never 403).

Reading an order that is ``paying`` or ``unknown`` asks WeChat first when our
last look is older than a few seconds, so an owner back from the cashier sees
the truth even before the callback arrives.
"""
from __future__ import annotations

import re

import peewee as pw

from payments import exceptions as wx
from payments.models import OrderBill, OrderStatus, PaymentOrder
from payments.orders import create_order
from payments.service import cancel_order, refresh_if_stale, start_payment
from server.billing.models import Bill, FeeItem
from server.errors import Conflict, NotFound, Unavailable
from server.ledger.models import Payment
from server.property.models import Building, House, Owner
from server.timeutil import utcnow

OUT_TRADE_NO = re.compile(r"[0-9A-Za-z_\-]{6,32}")
STATUS_FILTERS = {"open": OrderStatus.OPEN, "paid": (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED,
                                                     OrderStatus.REFUNDED),
                  "closed": (OrderStatus.CLOSED,)}


def _label(house: House, building: Building) -> str:
    return "-".join(p for p in (building.name, house.unit, house.room_no) if p)


def _lines(order_ids: list[int]) -> dict[int, list[dict]]:
    """The bills of these orders with the amount each was asked for: one query."""
    found: dict[int, list[dict]] = {i: [] for i in order_ids}
    if not order_ids:
        return found
    rows = (OrderBill.select(OrderBill, Bill, FeeItem, House, Building)
            .join(Bill, on=(OrderBill.bill == Bill.id)).join(FeeItem, on=(Bill.fee_item == FeeItem.id))
            .switch(Bill).join(House, on=(Bill.house == House.id)).join(Building)
            .where(OrderBill.order.in_(order_ids))
            .order_by(OrderBill.order, Bill.period, FeeItem.code, Bill.id))
    for row in rows:
        bill = row.bill
        found[row.order_id].append({
            "bill_id": bill.id, "period": bill.period, "amount_fen": row.amount_fen,
            "fee_item": {"id": bill.fee_item.id, "code": bill.fee_item.code, "name": bill.fee_item.name},
            "house": {"id": bill.house.id, "label": _label(bill.house, bill.house.building)}})
    return found


def _with_receipt():
    return (PaymentOrder.select(PaymentOrder, Payment.receipt_no.alias("receipt_no"))
            .join(Payment, pw.JOIN.LEFT_OUTER, on=(Payment.order == PaymentOrder.id)))


def _as_dict(order: PaymentOrder, lines: list[dict]) -> dict:
    return {"out_trade_no": order.out_trade_no, "status": order.status, "total_fen": order.total_fen,
            "description": order.description, "created_at": order.created_at,
            "expires_at": order.expires_at, "paid_at": order.paid_at, "closed_at": order.closed_at,
            "receipt_no": getattr(order, "receipt_no", None), "lines": lines}


def describe(order_id: int) -> dict:
    """One order as the owner sees it: two queries."""
    order = _with_receipt().where(PaymentOrder.id == order_id).objects().get()
    return _as_dict(order, _lines([order.id])[order.id])


def _own(owner_id: int, out_trade_no: str) -> PaymentOrder:
    order = None
    if OUT_TRADE_NO.fullmatch(out_trade_no or ""):
        order = PaymentOrder.get_or_none(PaymentOrder.out_trade_no == out_trade_no,
                                         PaymentOrder.owner == owner_id)
    if order is None:
        raise NotFound("订单不存在", code="ORDER_NOT_FOUND")
    return order


def _payable(order: PaymentOrder) -> bool:
    return order.status in OrderStatus.OPEN and not (order.expires_at and order.expires_at <= utcnow())


def place_order(owner_id: int, bill_ids: list[int], idempotency_key: str | None,
                client) -> tuple[dict, dict | None, bool]:
    """Create (or find again) the order for these bills and prepay it at WeChat.

    Returns ``(order, requestPayment parameters or None, created)``.  The same
    key with the same bills, or the same bills still in an open order, give the
    existing order back (``created`` False) with fresh parameters; an order
    that can no longer be paid comes back without parameters.  An open order
    past its expiry that holds the same bills under another key (or none) is
    cancelled first, so the owner is never stuck behind it.
    """
    openid = Owner.select(Owner.openid).where(Owner.id == owner_id).scalar()
    order, created = create_order(owner_id, bill_ids, idempotency_key)
    if not created and not _payable(order) and order.status in OrderStatus.OPEN \
            and (idempotency_key is None or order.idempotency_key != idempotency_key):
        _cancel(order, client)
        order, created = create_order(owner_id, bill_ids, idempotency_key)
    params = start_payment(order, client, openid) if _payable(order) else None
    return describe(order.id), params, created


def _cancel(order: PaymentOrder, client) -> PaymentOrder:
    try:
        return cancel_order(order, client)
    except wx.WeChatPayError as exc:
        raise Unavailable("微信支付暂时无法确认订单状态，请稍后再试", code="PAYMENT_PENDING",
                          details={"out_trade_no": order.out_trade_no, "wechat_code": exc.code}) from None


def owner_order(owner_id: int, out_trade_no: str, client) -> dict:
    """The owner's order, refreshed from WeChat while it is being paid."""
    order = _own(owner_id, out_trade_no)
    if order.status in (OrderStatus.PAYING, OrderStatus.UNKNOWN) and client is not None:
        refresh_if_stale(order, client)
    return describe(order.id)


def cancel(owner_id: int, out_trade_no: str, client) -> dict:
    """Give up paying.  Cancelling a closed order again is harmless; a paid one is a 409."""
    order = _cancel(_own(owner_id, out_trade_no), client)
    if order.status not in (OrderStatus.CLOSED, *OrderStatus.OPEN):
        raise Conflict("该订单已支付，不能取消", code="ORDER_ALREADY_PAID",
                       details={"out_trade_no": order.out_trade_no, "status": order.status})
    return describe(order.id)


def recent_orders(owner_id: int, *, status: str | None = None, limit: int = 20) -> list[dict]:
    """The owner's latest orders, newest first: two queries whatever their number."""
    query = _with_receipt().where(PaymentOrder.owner == owner_id)
    if status:
        query = query.where(PaymentOrder.status.in_(STATUS_FILTERS[status]))
    orders = list(query.order_by(PaymentOrder.created_at.desc(), PaymentOrder.id.desc())
                  .limit(limit).objects())
    lines = _lines([o.id for o in orders])
    return [_as_dict(o, lines[o.id]) for o in orders]
