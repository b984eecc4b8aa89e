"""WeChat Pay orders: list with status filters, detail with callbacks and history,
"ask WeChat now" and closing an expired order."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from payments import queries, service
from payments.models import Channel, OrderStatus, PaymentOrder
from server.admin import auth, common
from server.admin.pages.payments_common import LABELS, ORDER_STATUSES, REFUSED, flash_refusal, wechat_client
from server.admin.views import bp
from server.timeutil import utcnow


@bp.route("/orders")
@auth.require_role()
def orders():
    ids = common.chosen_community_ids()
    status, q = request.args.get("status", ""), request.args.get("q", "").strip()
    date_from, date_to = common.arg_date("date_from"), common.arg_date("date_to")
    query = queries.wechat_orders(ids, status=status, q=q, date_from=date_from, date_to=date_to)
    fmt = common.wants_export()
    if fmt:
        from server.admin import export_lists

        return export_lists.orders_export(ids, fmt, status=status, q=q, date_from=date_from, date_to=date_to)
    page = common.paginate(query)
    return render_template(
        "admin/payments/orders.html", page=page, lines=queries.order_lines([o.id for o in page.items]),
        communities=list(common.permitted_communities()), community=request.args.get("community", ""),
        status=status, q=q, date_from=date_from, date_to=date_to, **LABELS)


def _order(order_id: int) -> PaymentOrder:
    order = PaymentOrder.get_or_none(PaymentOrder.id == order_id)
    if order is None or order.channel != Channel.WECHAT:
        abort(404)
    common.check_community(order.community_id)
    return order


@bp.route("/orders/<int:order_id>")
@auth.require_role()
def order_detail(order_id: int):
    _order(order_id)
    order = queries.order_detail(order_id)
    now = utcnow()
    closable = order.status in OrderStatus.OPEN and order.expires_at is not None and order.expires_at <= now
    return render_template(
        "admin/payments/order.html", o=order, lines=queries.order_lines([order.id])[order.id],
        events=queries.notify_events(order.out_trade_no),
        history=queries.audit_rows("payment_order", [order.id]), closable=closable, **LABELS)


@bp.route("/orders/<int:order_id>/sync", methods=["POST"])
@auth.require_role(*common.WRITE)
def sync_order(order_id: int):
    order = _order(order_id)
    back = url_for("admin.order_detail", order_id=order.id)
    try:
        order = service.staff_sync_order(order, wechat_client(), common.actor())
    except REFUSED as exc:
        flash_refusal(exc)
        return redirect(back)
    flash(f"已向微信查询：订单状态为「{ORDER_STATUSES.get(order.status, order.status)}」", "ok")
    return redirect(back)


@bp.route("/orders/<int:order_id>/close", methods=["POST"])
@auth.require_role(*common.WRITE)
def close_order(order_id: int):
    order = _order(order_id)
    back = url_for("admin.order_detail", order_id=order.id)
    try:
        order = service.close_expired_order(order, wechat_client(), common.actor())
    except REFUSED as exc:
        flash_refusal(exc)
        return redirect(back)
    if order.status == OrderStatus.CLOSED:
        flash("订单已关闭，账单已释放", "ok")
    else:
        flash(f"微信显示该订单已「{ORDER_STATUSES.get(order.status, order.status)}」，未关闭", "error")
    return redirect(back)
