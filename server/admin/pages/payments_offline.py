"""Offline payments (cash, bank transfer, POS): find a house, tick its bills, record;
second-approver decisions; the list of receipts; the printable receipt."""
from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, request, url_for

from payments import offline, queries
from payments.models import Channel, OrderStatus, PaymentOrder
from server.admin import auth, common
from server.admin.pages.payments_common import LABELS, REFUSED, config, flash_refusal
from server.admin.views import bp
from server.errors import DomainError
from server.ledger.models import Payment
from server.ledger.receipts import staff_receipt
from server.money import format_yuan
from server.property.models import House


@bp.route("/offline-payments")
@auth.require_role()
def offline_payments():
    """The cashier's counter: search houses, then the chosen house's open bills."""
    communities = list(common.permitted_communities())
    house = bills = houses = None
    house_id = request.args.get("house", type=int)
    building, room = request.args.get("building", "").strip(), request.args.get("room", "").strip()
    if house_id:
        house = queries.house_with_place(house_id)
        if house is None:
            abort(404)
        common.check_community(house.community_id)
        bills = queries.open_bills(house.id)
    elif building or room or request.args.get("community"):
        houses = queries.find_houses(common.chosen_community_ids(), building, room)
    pending = list(queries.offline_payments(common.permitted_community_ids(),
                                            status=OrderStatus.CREATED).limit(100))
    lines = queries.order_lines([o.id for o in pending])
    return render_template(
        "admin/payments/offline.html", communities=communities, house=house, bills=bills,
        houses=houses, building=building, room=room, community=request.args.get("community", ""),
        pending=pending, lines=lines, form_key=uuid.uuid4().hex,
        threshold_fen=config().OFFLINE_PAYMENT_APPROVAL_THRESHOLD_FEN,
        **LABELS)


def _allocations() -> list[tuple[int, int]]:
    chosen = []
    for raw in request.form.getlist("bill"):
        try:
            bill_id = int(raw)
        except ValueError:
            raise DomainError("账单参数无效", code="VALIDATION_ERROR", status=422) from None
        chosen.append((bill_id, common.form_fen(f"amount_{bill_id}")))
    return chosen


@bp.route("/offline-payments", methods=["POST"])
@auth.require_role(*common.WRITE)
def record_offline_payment():
    house = House.get_or_none(House.id == request.form.get("house", type=int))
    if house is None:
        abort(404)
    common.check_community(house.community_id)
    back = url_for("admin.offline_payments", house=house.id)
    channel = request.form.get("channel", "")
    voucher = (request.form.get("voucher_no") or "").strip()
    if not voucher and channel == Channel.CASH:
        # Cash without a receipt-book number: one per rendered form, so a double
        # submit of the same form is refused as a duplicate voucher.
        voucher = "XJ" + (request.form.get("form_key") or uuid.uuid4().hex)[:30].upper()
    try:
        order = offline.record_offline_payment(
            house.community_id, _allocations(), channel, voucher, request.form.get("payer_name", ""),
            common.actor(), approval_threshold_fen=config().OFFLINE_PAYMENT_APPROVAL_THRESHOLD_FEN)
    except REFUSED as exc:
        flash_refusal(exc)
        return redirect(back)
    if order.status == OrderStatus.PAID:
        receipt_no = _receipt_no(order)
        flash(f"已收款 {format_yuan(order.total_fen)} 元，收据号 {receipt_no}", "ok")
        return redirect(url_for("admin.receipt", number=receipt_no))
    flash(f"收款 {format_yuan(order.total_fen)} 元已登记，金额达到审批线，等待另一名工作人员审批后入账", "ok")
    return redirect(back)


def _receipt_no(order: PaymentOrder) -> str:
    return Payment.select(Payment.receipt_no).where(Payment.order == order.id).scalar()


def _offline_order(order_id: int) -> PaymentOrder:
    order = PaymentOrder.get_or_none(PaymentOrder.id == order_id)
    if order is None or order.channel not in Channel.OFFLINE:
        abort(404)
    common.check_community(order.community_id)
    return order


@bp.route("/offline-payments/<int:order_id>/approve", methods=["POST"])
@auth.require_role(*common.MANAGE)
def approve_offline_payment(order_id: int):
    order = _offline_order(order_id)
    try:
        order = offline.approve_offline_payment(order.id, common.actor())
    except REFUSED as exc:
        flash_refusal(exc)
        return redirect(url_for("admin.offline_payments"))
    if order.status != OrderStatus.PAID:
        flash("该收款已被处理", "error")
        return redirect(url_for("admin.offline_payments"))
    receipt_no = _receipt_no(order)
    flash(f"已审批入账，收据号 {receipt_no}", "ok")
    return redirect(url_for("admin.receipt", number=receipt_no))


@bp.route("/offline-payments/<int:order_id>/reject", methods=["POST"])
@auth.require_role(*common.MANAGE)
def reject_offline_payment(order_id: int):
    order = _offline_order(order_id)
    note = (request.form.get("note") or "").strip()
    return common.run_action(lambda: offline.reject_offline_payment(order.id, common.actor(), note),
                             success="已驳回该笔收款，账单已释放",
                             redirect_to=url_for("admin.offline_payments"))


@bp.route("/offline-payments/list")
@auth.require_role()
def offline_payment_list():
    ids = common.chosen_community_ids()
    status, channel = request.args.get("status", ""), request.args.get("channel", "")
    date_from, date_to = common.arg_date("date_from"), common.arg_date("date_to")
    q = request.args.get("q", "").strip()
    query = queries.offline_payments(ids, status=status, channel=channel, date_from=date_from,
                                     date_to=date_to, q=q)
    fmt = common.wants_export()
    if fmt:
        from server.admin import export_lists

        return export_lists.offline_export(ids, fmt, status=status, channel=channel, date_from=date_from,
                                           date_to=date_to, q=q)
    page = common.paginate(query)
    return render_template(
        "admin/payments/offline_list.html", page=page, lines=queries.order_lines([o.id for o in page.items]),
        communities=list(common.permitted_communities()), community=request.args.get("community", ""),
        status=status, channel=channel, date_from=date_from, date_to=date_to, q=q,
        offline_channels=Channel.OFFLINE, **LABELS)


@bp.route("/receipts/<number>")
@auth.require_role()
def receipt(number: str):
    """The printable 收据 (print CSS hides the navigation)."""
    data = staff_receipt(number)
    if data is None:
        abort(404)
    common.check_community(data["community_id"])
    return render_template("admin/payments/receipt.html", r=data, **LABELS)
