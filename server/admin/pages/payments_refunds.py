"""A payment's detail (bills, refunds, receipt) and refunds: request per bill line →
a second staff member approves or rejects → status, with "sync from WeChat"."""
from __future__ import annotations

import uuid

from flask import abort, flash, redirect, render_template, request, url_for

from payments import queries, refunds
from payments.models import Channel
from server.admin import auth, common
from server.admin.pages.payments_common import LABELS, REFUND_STATUSES, REFUSED, flash_refusal, wechat_client
from server.admin.views import bp
from server.ledger.models import Payment, Refund, RefundStatus
from server.money import format_yuan


def _payment(payment_id: int) -> Payment:
    payment = queries.payment_detail(payment_id)
    if payment is None:
        abort(404)
    common.check_community(payment.community_id)
    return payment


@bp.route("/payments/<int:payment_id>")
@auth.require_role()
def payment_detail(payment_id: int):
    payment = _payment(payment_id)
    return render_template(
        "admin/payments/payment.html", p=payment, allocations=queries.payment_allocations(payment.id),
        refunds=list(queries.refunds(payment_id=payment.id)), request_key=uuid.uuid4().hex, **LABELS)


@bp.route("/payments/<int:payment_id>/refunds", methods=["POST"])
@auth.require_role(*common.WRITE)
def request_refund(payment_id: int):
    payment = _payment(payment_id)
    back = url_for("admin.payment_detail", payment_id=payment.id)
    try:
        refund = refunds.request_refund(
            payment.id, common.form_int("bill"), common.form_fen("amount"), request.form.get("reason", ""),
            common.actor(), request_key=(request.form.get("request_key") or "")[:64])
    except REFUSED as exc:
        flash_refusal(exc)
        return redirect(back)
    flash(f"退款申请已提交（{format_yuan(refund.amount_fen)} 元），等待另一名主管审批", "ok")
    return redirect(back)


@bp.route("/refunds")
@auth.require_role()
def refund_list():
    ids = common.chosen_community_ids()
    status, q = request.args.get("status", ""), request.args.get("q", "").strip()
    query = queries.refunds(ids, status=status, q=q)
    fmt = common.wants_export()
    if fmt:
        from server.admin import export_lists

        return export_lists.refunds_export(ids, fmt, status=status, q=q)
    return render_template(
        "admin/payments/refunds.html", page=common.paginate(query),
        communities=list(common.permitted_communities()), community=request.args.get("community", ""),
        status=status, q=q, syncable=(RefundStatus.PROCESSING, RefundStatus.ABNORMAL),
        wechat=Channel.WECHAT, **LABELS)


def _refund(refund_id: int) -> Refund:
    refund = Refund.get_or_none(Refund.id == refund_id)
    if refund is None:
        abort(404)
    common.check_community(refund.payment.community_id)
    return refund


def _back() -> str:
    return common.safe_next(request.form.get("next"), url_for("admin.refund_list"))


@bp.route("/refunds/<int:refund_id>/approve", methods=["POST"])
@auth.require_role(*common.MANAGE)
def approve_refund(refund_id: int):
    refund = _refund(refund_id)
    try:
        client = wechat_client() if refund.payment.channel == Channel.WECHAT else None
        refund = refunds.approve_refund(refund.id, common.actor(), client)
    except REFUSED as exc:
        flash_refusal(exc)
        return redirect(_back())
    flash(f"已审批退款 {refund.out_refund_no}：{REFUND_STATUSES.get(refund.status, refund.status)}", "ok")
    return redirect(_back())


@bp.route("/refunds/<int:refund_id>/reject", methods=["POST"])
@auth.require_role(*common.MANAGE)
def reject_refund(refund_id: int):
    refund = _refund(refund_id)
    note = (request.form.get("note") or "").strip()
    return common.run_action(lambda: refunds.reject_refund(refund.id, common.actor(), note),
                             success="已驳回退款申请", redirect_to=_back())


@bp.route("/refunds/<int:refund_id>/sync", methods=["POST"])
@auth.require_role(*common.WRITE)
def sync_refund(refund_id: int):
    refund = _refund(refund_id)
    if refund.payment.channel != Channel.WECHAT or refund.status not in (RefundStatus.PROCESSING,
                                                                         RefundStatus.ABNORMAL):
        flash("只有处理中或异常的微信退款可以向微信同步", "error")
        return redirect(_back())
    try:
        refund = refunds.sync_refund(refund, wechat_client())
    except REFUSED as exc:
        flash_refusal(exc)
        return redirect(_back())
    flash(f"已向微信同步：{REFUND_STATUSES.get(refund.status, refund.status)}", "ok")
    return redirect(_back())
