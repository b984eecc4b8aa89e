"""``/orders``: pay bills with WeChat Pay, follow the order, cancel it."""
from __future__ import annotations

import re

from flask import request

from miniprogram_api import ratelimit
from miniprogram_api.blueprint import bp, pay_client
from miniprogram_api.contract import operation
from miniprogram_api.schemas.orders import (IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY, OrderBody,
                                            OrderOut, OrderQuery, OrdersOut, PlacedOrderOut)
from server.errors import ValidationError
from server.owners import orders


def idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not re.fullmatch(IDEMPOTENCY_KEY, key):
        raise ValidationError("Idempotency-Key 格式不正确",
                              details={"Idempotency-Key": "1–64 printable ASCII characters"})
    return key


@bp.post("/orders")
@operation("Order bills and get the wx.requestPayment parameters", tag="orders", body=OrderBody,
           response=PlacedOrderOut, status=201, more_statuses=(200,), errors=(404, 409, 502, 503),
           limit=ratelimit.order_creation, headers=[IDEMPOTENCY_HEADER])
def create_order(owner_id: int, body: OrderBody):
    """201 with a new order, or 200 with the existing one (same `Idempotency-Key` and bills,
    or the same bills still being paid).  Call `wx.requestPayment(payment)`, then GET the
    order.  Errors: 404 BILL_NOT_FOUND (not a bill of my houses); 409 BILL_NOT_PAYABLE,
    BILL_IN_OPEN_ORDER (another order holds a bill: pay or cancel it),
    IDEMPOTENCY_KEY_REUSED, ORDER_STATE_CHANGED; 422 MIXED_COMMUNITIES; 502 PREPAY_FAILED;
    503 PAYMENT_PENDING (WeChat did not answer: GET the order in `details.out_trade_no`
    later), PAYMENTS_UNAVAILABLE."""
    key = idempotency_key()
    order, payment, created = orders.place_order(owner_id, body.bill_ids, key, pay_client())
    return {**order, "payment": payment}, 201 if created else 200


@bp.get("/orders")
@operation("My recent orders", tag="orders", query=OrderQuery, response=OrdersOut)
def list_orders(owner_id: int, query: OrderQuery):
    return {"orders": orders.recent_orders(owner_id, status=query.status, limit=query.limit)}


@bp.get("/orders/<out_trade_no>")
@operation("One of my orders, checked with WeChat while it is being paid", tag="orders",
           response=OrderOut)
def get_order(owner_id: int, out_trade_no: str):
    """While `paying` or `unknown`, WeChat is asked first (at most every few seconds), so
    coming back from the cashier shows the result; `receipt_no` appears once paid."""
    return orders.owner_order(owner_id, out_trade_no, pay_client(required=False))


@bp.post("/orders/<out_trade_no>/cancel")
@operation("Cancel an order that is not paid", tag="orders", response=OrderOut,
           errors=(409, 503))
def cancel_order(owner_id: int, out_trade_no: str):
    """The bills are released at once for another order.  Cancelling again is harmless;
    409 ORDER_ALREADY_PAID if the money arrived first (see `receipt_no` in GET)."""
    return orders.cancel(owner_id, out_trade_no, pay_client())
