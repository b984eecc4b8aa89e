"""调整与减免: pending requests and the decided ones; approve or reject (manager)."""
from __future__ import annotations

from flask import abort, render_template, request, url_for

from server.admin import auth, common
from server.admin.pages import billing_common as bc
from server.admin.views import bp
from server.billing import adjustments, queries
from server.billing.models import Adjustment, AdjustmentStatus, Bill
from server.money import format_yuan

HEADERS = ["调整号", "账单号", "楼栋", "单元", "房号", "收费项目", "账期", "类型", "金额(元)", "原因",
           "状态", "申请人", "审批人", "审批备注", "申请时间", "审批时间"]


def _status_arg() -> str | None:
    status = request.args.get("status", AdjustmentStatus.PENDING)
    if status == "all":
        return None
    if status not in bc.ADJ_STATUS:
        abort(400, "状态无效")
    return status


def _rows(query):
    for a in query.iterator():
        h = a.bill.house
        yield [a.id, a.bill.id, h.building.name, h.unit, h.room_no, a.bill.fee_item.name,
               a.bill.period, bc.ADJ_KIND.get(a.kind, a.kind), format_yuan(a.amount_fen), a.reason,
               bc.ADJ_STATUS.get(a.status, a.status),
               a.requested_by.username if a.requested_by_id else "",
               a.decided_by.username if a.decided_by_id else "", a.decision_note,
               common.local_time(a.created_at), common.local_time(a.decided_at)]


@bp.route("/adjustments")
@auth.require_role()
def adjustment_list():
    status = _status_arg()
    query = queries.adjustments(common.chosen_community_ids(), status)
    if fmt := common.wants_export():
        return common.export_response("调整与减免", HEADERS, _rows(query), fmt, sheet_title="调整")
    return render_template("admin/billing/adjustments.html", page=common.paginate(query),
                           status=request.args.get("status", AdjustmentStatus.PENDING),
                           communities=list(common.permitted_communities()),
                           community=request.args.get("community", ""),
                           threshold_fen=bc.config().ADJUSTMENT_APPROVAL_THRESHOLD_FEN,
                           **bc.labels())


def _adjustment_or_404(adj_id: int) -> Adjustment:
    adj = Adjustment.get_or_none(Adjustment.id == adj_id)
    if adj is None:
        abort(404)
    common.check_community(Bill.get_by_id(adj.bill_id).community_id)
    return adj


@bp.route("/adjustments/<int:adj_id>/approve", methods=["POST"])
@auth.require_role(*common.MANAGE)
def approve_adjustment(adj_id: int):
    adj = _adjustment_or_404(adj_id)
    return bc.act(lambda: adjustments.approve_adjustment(adj.id, common.actor(),
                                                         request.form.get("note", "")),
                  success=f"已批准调整 #{adj.id}（{format_yuan(adj.amount_fen)} 元），账单已更新。",
                  redirect_to=_back())


@bp.route("/adjustments/<int:adj_id>/reject", methods=["POST"])
@auth.require_role(*common.MANAGE)
def reject_adjustment(adj_id: int):
    adj = _adjustment_or_404(adj_id)
    return bc.act(lambda: adjustments.reject_adjustment(adj.id, common.actor(),
                                                        request.form.get("note", "")),
                  success=f"已驳回调整 #{adj.id}。", redirect_to=_back())


def _back() -> str:
    return common.safe_next(request.form.get("next"), url_for("admin.adjustment_list"))
