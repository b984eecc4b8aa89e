"""``/orders``: owners' WeChat Pay orders, "ask WeChat now" and closing an expired one."""
from __future__ import annotations

from flask import current_app

from payments import exceptions as wx
from payments import service
from server.admin_api import lists
from server.admin_api.blueprint import bp
from server.admin_api.contract import WRITE, StaffContext, staff_operation
from server.admin_api.schemas.common import Note
from server.admin_api.schemas.counter import OrderDetailOut, OrderQuery, OrdersOut
from server.errors import Unavailable


@bp.get("/orders")
@staff_operation("WeChat Pay orders, filtered by status, date and number", tag="orders",
                 query=OrderQuery, response=OrdersOut)
def list_orders(staff: StaffContext, query: OrderQuery):
    return lists.wechat_orders(staff.scope(query.community_id), status=query.status or "",
                               q=query.q or "", date_from=query.date_from, date_to=query.date_to,
                               limit=query.limit, after_id=query.after_id)


@bp.get("/orders/<int:order_id>")
@staff_operation("One WeChat Pay order with its bills, WeChat's callbacks and its history",
                 tag="orders", response=OrderDetailOut)
def get_order(staff: StaffContext, order_id: int):
    return lists.order_detail(order_id, staff.community_ids, offline=False)


def _client():
    from payments.gateway import client_for

    try:
        return client_for(current_app.extensions["wuyepay_config"])
    except (ValueError, OSError):
        raise Unavailable("微信支付暂未开通", code="PAYMENTS_UNAVAILABLE") from None


def _at_wechat(fn):
    try:
        return fn()
    except wx.WeChatPayError as exc:
        raise Unavailable("微信支付暂时无法完成该操作，请稍后重试", code="WECHAT_UNAVAILABLE",
                          details={"wechat": exc.code or type(exc).__name__}) from None


@bp.post("/orders/<int:order_id>/query")
@staff_operation("Ask WeChat Pay for the order's state now (a paid order is credited)", tag="orders",
                 roles=WRITE, body=Note, response=OrderDetailOut, errors=(503,))
def query_order(staff: StaffContext, order_id: int, body: Note):
    order = lists.order_in_scope(order_id, staff.community_ids, offline=False)
    client = _client()
    _at_wechat(lambda: service.staff_sync_order(order, client, staff.actor))
    return lists.order_detail(order_id, staff.community_ids, offline=False)


@bp.post("/orders/<int:order_id>/close")
@staff_operation("Close an open order whose time to pay has run out; its bills are released",
                 tag="orders", roles=WRITE, body=Note, response=OrderDetailOut, errors=(409, 503))
def close_order(staff: StaffContext, order_id: int, body: Note):
    """409 ``ORDER_NOT_OPEN`` / ``ORDER_NOT_EXPIRED``.  When WeChat shows it paid meanwhile,
    the payment is credited and the order answers ``paid``."""
    order = lists.order_in_scope(order_id, staff.community_ids, offline=False)
    client = _client()
    _at_wechat(lambda: service.close_expired_order(order, client, staff.actor))
    return lists.order_detail(order_id, staff.community_ids, offline=False)
