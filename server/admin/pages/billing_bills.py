"""账单: the filtered list with totals, a bill's basis and history, what the owner sees,
and requesting an adjustment from the bill."""
from __future__ import annotations

import json

from flask import abort, render_template, request, url_for

from server.admin import auth, common
from server.admin.pages import billing_common as bc
from server.admin.views import bp
from server.billing import adjustments, queries
from server.billing.models import AdjustmentKind, Bill, FeeItem
from server.errors import ValidationError
from server.imports.exports import BILL_HEADERS, SOURCE_LABELS
from server.money import format_yuan
from server.property.models import Binding, BindingStatus, Building, House, Owner
from server.timeutil import local_today

EXPORT_HEADERS = ["账单号", "小区", *BILL_HEADERS]


def _filters() -> queries.BillFilters:
    f = queries.BillFilters(common.chosen_community_ids())
    f.house_id = bc.arg_int("house")
    if f.house_id:
        house = House.get_or_none(House.id == f.house_id)
        if house is None:
            abort(404)
        common.check_community(house.community_id)
    f.building_id = bc.arg_int("building")
    f.fee_item_id = bc.arg_int("fee_item")
    f.period = bc.arg_period()
    status = request.args.get("status") or None
    if status and status != queries.OPEN and status not in bc.BILL_STATUS:
        abort(400, "账单状态无效")
    f.status = status
    if request.args.get("overdue"):
        f.overdue_on = local_today()
    return f


def _export_rows(query):
    for b in query.iterator():
        h = b.house
        yield [b.id, b.community.name, h.building.name, h.unit, h.room_no, h.owner_name,
               b.fee_item.name, b.period, f"{b.quantity:f}", b.unit, f"{b.unit_price:f}",
               format_yuan(b.amount_fen), format_yuan(b.adjusted_fen), format_yuan(b.late_fee_fen),
               format_yuan(b.paid_fen), format_yuan(b.balance_fen), b.due_date,
               bc.BILL_STATUS.get(b.status, b.status), SOURCE_LABELS.get(b.source, b.source)]


@bp.route("/bills")
@auth.require_role()
def bills():
    f = _filters()
    query = queries.bills(f)
    if fmt := common.wants_export():
        # Large exports become a task (``server.admin.exporting``); arrears per house too.
        from server.admin import export_lists

        if request.args.get("report") == "arrears":
            return export_lists.arrears_export(f.community_ids, fmt)
        return export_lists.bills_export(f, fmt)
    communities = list(common.permitted_communities())
    ids = f.community_ids or [0]
    buildings = Building.select().where(Building.community.in_(ids)).order_by(Building.name)
    items = FeeItem.select().where(FeeItem.community.in_(ids)).order_by(FeeItem.code)
    house = House.get_by_id(f.house_id) if f.house_id else None
    return render_template("admin/billing/bills.html", page=common.paginate(query),
                           totals=queries.bill_totals(f), f=f, communities=communities,
                           buildings=list(buildings), items=list(items), house=house,
                           args=request.args, **bc.labels())


def _bill_or_404(bill_id: int) -> Bill:
    bill = queries.bill_with_basis(bill_id)
    if bill is None:
        abort(404)
    common.check_community(bill.community_id)
    return bill


def owner_view(bill: Bill, owner_id: int | None):
    """(owners bound to the house, the chosen one, exactly what GET /api/v1/bills/<id>
    answers that owner) — through the owner API's own service and response model."""
    from miniprogram_api.schemas.bills import BillDetailOut
    from server.owners import statements

    owners = list(Owner.select(Owner, Binding).join(Binding)
                  .where(Binding.house == bill.house_id, Binding.status == BindingStatus.ACTIVE)
                  .order_by(Binding.id))
    chosen = next((o for o in owners if o.id == owner_id), owners[0] if owners else None)
    if chosen is None:
        return owners, None, None
    data = BillDetailOut.model_validate(statements.bill_detail(chosen.id, bill.id))
    return owners, chosen, data.model_dump(mode="json", by_alias=True)


@bp.route("/bills/<int:bill_id>")
@auth.require_role()
def bill_detail(bill_id: int):
    bill = _bill_or_404(bill_id)
    history = queries.bill_history(bill.id)
    owners, owner, seen = owner_view(bill, bc.arg_int("owner"))
    return render_template(
        "admin/billing/bill.html", bill=bill, h=history, owners=owners, owner=owner, seen=seen,
        seen_json=json.dumps(seen, ensure_ascii=False, indent=2) if seen else "",
        kinds=AdjustmentKind.ALL, threshold_fen=bc.config().ADJUSTMENT_APPROVAL_THRESHOLD_FEN,
        **bc.labels())


def _signed_amount(kind: str) -> int | None:
    """Staff type a positive amount for a waiver or discount (it reduces what is owed);
    a correction is typed with its sign; a void takes no amount."""
    if kind == AdjustmentKind.VOID:
        return None
    fen = common.form_fen("amount")
    if kind in (AdjustmentKind.WAIVER, AdjustmentKind.DISCOUNT):
        if fen <= 0:
            raise ValidationError("减免和优惠请填写大于零的金额（系统按减少应缴处理）",
                                  details={"amount_fen": fen})
        return -fen
    return fen


@bp.route("/bills/<int:bill_id>/adjustments", methods=["POST"])
@auth.require_role(*common.WRITE)
def request_bill_adjustment(bill_id: int):
    bill = _bill_or_404(bill_id)
    kind = request.form.get("kind", "")
    threshold = bc.config().ADJUSTMENT_APPROVAL_THRESHOLD_FEN

    def do() -> str:
        if kind not in AdjustmentKind.ALL:
            raise ValidationError("请选择调整类型", details={"kind": kind})
        adj = adjustments.request_adjustment(bill.id, kind, _signed_amount(kind),
                                             request.form.get("reason", ""), common.actor(),
                                             threshold)
        amount = format_yuan(adj.amount_fen)
        if adj.status == "approved":
            return f"调整已生效：{bc.ADJ_KIND[adj.kind]} {amount} 元。"
        return f"调整申请已提交（{amount} 元）：金额达到审批线，等待另一位主管审批。"

    return bc.act(do, success="{r}", redirect_to=url_for("admin.bill_detail", bill_id=bill.id))
