"""Dispute pages: the list, one dispute with its bill and conversation, replying, and
resolving with or without an adjustment of the bill."""
from __future__ import annotations

import peewee as pw
from flask import abort, current_app, render_template, request, url_for

from server.admin import auth, common
from server.admin.pages import operations as ops
from server.admin.views import bp
from server.billing import adjustments
from server.billing.models import Adjustment, AdjustmentKind, Bill, FeeItem
from server.disputes import services
from server.disputes.models import Dispute, DisputeMessage, DisputeStatus
from server.errors import ValidationError
from server.money import format_yuan
from server.property.models import Building, Community, House, Owner
from server.staff.models import StaffUser

STATUS_NAMES = {DisputeStatus.OPEN: "待处理", DisputeStatus.ANSWERED: "已回复",
                DisputeStatus.RESOLVED: "已解决", DisputeStatus.WITHDRAWN: "业主撤回"}
REASON_NAMES = {"amount_wrong": "金额有误", "reading_wrong": "读数有误", "already_paid": "已缴过",
                "not_my_house": "不是我的费用", "service_quality": "服务质量", "other": "其他"}
KIND_NAMES = {AdjustmentKind.WAIVER: "减免", AdjustmentKind.DISCOUNT: "优惠",
              AdjustmentKind.CORRECTION: "更正", AdjustmentKind.VOID: "作废账单"}
ADJ_STATUS = {"pending": "待审批", "approved": "已批准", "rejected": "已驳回"}


def _disputes():
    return (Dispute.select(Dispute, Bill, House, Building, FeeItem, Community, Owner)
            .join(Bill).join(House).join(Building).switch(Bill).join(FeeItem)
            .switch(Bill).join(Community).switch(Dispute).join(Owner))


@bp.route("/disputes")
@auth.require_role()
def disputes():
    query = _disputes().where(Bill.community.in_(common.chosen_community_ids()))
    status = request.args.get("status", "active")
    if status == "active":
        query = query.where(Dispute.status.in_(DisputeStatus.ACTIVE))
    elif status in DisputeStatus.ALL:
        query = query.where(Dispute.status == status)
    elif status != "all":
        abort(400, "状态参数无效")
    bill_id = (request.args.get("bill") or "").strip()
    if bill_id:
        if not bill_id.isdigit():
            abort(400, "账单号应为数字")
        query = query.where(Dispute.bill == int(bill_id))
    query = query.order_by(Dispute.updated_at.desc(), Dispute.id.desc())
    fmt = common.wants_export()
    if fmt:
        headers = ["异议号", "状态", "小区", "房屋", "收费项目", "账期", "账单号", "应收(元)", "原因",
                   "业主说明", "提出时间", "最近更新", "处理结果"]
        rows = ([d.id, STATUS_NAMES.get(d.status, d.status), d.bill.community.name, d.bill.house.label,
                 d.bill.fee_item.name, d.bill.period, d.bill_id, format_yuan(d.bill.total_due_fen),
                 REASON_NAMES.get(d.reason, d.reason), d.text, common.local_time(d.created_at),
                 common.local_time(d.updated_at), d.resolution] for d in query)
        return common.export_response("费用异议", headers, rows, fmt)
    return render_template("admin/ops/disputes.html", page=common.paginate(query), status=status,
                           status_names=STATUS_NAMES, reason_names=REASON_NAMES,
                           communities=list(common.permitted_communities()))


def _dispute_or_404(dispute_id: int) -> Dispute:
    dispute = _disputes().where(Dispute.id == dispute_id).first()
    if dispute is None:
        abort(404)
    common.check_community(dispute.bill.community_id)
    return dispute


@bp.route("/disputes/<int:dispute_id>")
@auth.require_role()
def dispute_detail(dispute_id: int):
    dispute = _dispute_or_404(dispute_id)
    messages = list(DisputeMessage.select(DisputeMessage, StaffUser)
                    .join(StaffUser, pw.JOIN.LEFT_OUTER).where(DisputeMessage.dispute == dispute.id)
                    .order_by(DisputeMessage.created_at, DisputeMessage.id))
    bill_adjustments = list(Adjustment.select().where(Adjustment.bill == dispute.bill_id)
                            .order_by(Adjustment.id))
    return render_template("admin/ops/dispute.html", d=dispute, bill=dispute.bill, messages=messages,
                           adjustments=bill_adjustments, status_names=STATUS_NAMES,
                           reason_names=REASON_NAMES, kind_names=KIND_NAMES, adj_status=ADJ_STATUS,
                           active=dispute.status in DisputeStatus.ACTIVE,
                           threshold=_threshold())


def _threshold() -> int:
    return current_app.extensions["wuyepay_config"].ADJUSTMENT_APPROVAL_THRESHOLD_FEN


@bp.route("/disputes/<int:dispute_id>/reply", methods=["POST"])
@auth.require_role(*common.WRITE)
def dispute_reply(dispute_id: int):
    _dispute_or_404(dispute_id)
    back = url_for("admin.dispute_detail", dispute_id=dispute_id)
    return ops.act(lambda: services.reply_to_dispute(dispute_id, common.actor(),
                                                     request.form.get("text", "")),
                   success="回复已发送，业主可在小程序中看到", redirect_to=back)


def _adjustment_amount(kind: str) -> int | None:
    """Staff type the reduction as yuan; waivers and discounts reduce what is owed whatever
    the sign typed, a correction keeps its sign, a void takes the whole remaining total."""
    if kind == AdjustmentKind.VOID:
        return None
    fen = common.form_fen("amount")
    if kind in (AdjustmentKind.WAIVER, AdjustmentKind.DISCOUNT):
        return -abs(fen)
    return fen


@bp.route("/disputes/<int:dispute_id>/resolve", methods=["POST"])
@auth.require_role(*common.MANAGE)
def dispute_resolve(dispute_id: int):
    _dispute_or_404(dispute_id)
    back = url_for("admin.dispute_detail", dispute_id=dispute_id)
    resolution = request.form.get("resolution", "")
    kind = request.form.get("adjustment_kind", "")

    def resolve():
        if not resolution.strip():
            raise ValidationError("请填写处理结果", details={"resolution": "必填"})
        if not kind:
            return services.resolve_dispute(dispute_id, common.actor(), resolution), None
        if kind not in AdjustmentKind.ALL:
            raise ValidationError("调整类型无效", details={"kind": kind})
        reason = (request.form.get("reason") or "").strip() or f"费用异议 {dispute_id}：{resolution.strip()}"
        return adjustments.resolve_dispute_with_adjustment(
            dispute_id, common.actor(), resolution, kind=kind, amount_fen=_adjustment_amount(kind),
            reason=reason[:255], approval_threshold_fen=_threshold())

    def message(result) -> str:
        _, adjustment = result
        if adjustment is None:
            return "异议已解决"
        state = "已生效" if adjustment.status == "approved" else "待另一位主管审批"
        return (f"异议已解决；{KIND_NAMES[adjustment.kind]} {format_yuan(adjustment.amount_fen)} 元"
                f"（调整单 {adjustment.id}）{state}")

    def run():
        return message(resolve())

    return ops.act(run, success="{r}", redirect_to=back)
