"""Reconciliation pages: the days of the last three months, the differences, resolving
one with a note, and reconciling a date again (as a task)."""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, render_template, request, url_for

from server.admin import auth, common
from server.admin.pages import operations as ops
from server.admin.pages.operations_tasks import RECONCILE
from server.admin.views import bp
from server.errors import DomainError
from server.money import format_yuan
from server.reconciliation import queries, service
from server.reconciliation.models import KIND_NAMES as RECON_KIND_NAMES
from server.reconciliation.models import ItemKind, ReconciliationRun, RunStatus
from server.tasks.models import AdminTask
from server.timeutil import local_today

KIND_NAMES = RECON_KIND_NAMES
RUN_STATUS = {RunStatus.RUNNING: "对账中", RunStatus.DONE: "已完成", RunStatus.FAILED: "失败", "": "未对账"}
STATES = {"open": "未处理", "resolved": "已处理", "all": "全部"}


def _yuan(fen):
    return "" if fen is None else format_yuan(fen)


@bp.route("/reconciliation")
@auth.require_role()
def reconciliation():
    scope = ops.scope_ids()
    rows = queries.days(local_today(), community_ids=scope)
    if request.args.get("only") == "differences":
        rows = [r for r in rows if r["unresolved"]]
    if request.args.get("only") == "missing":
        rows = [r for r in rows if r["run"] is None or r["run"].status != RunStatus.DONE]
    admin = ops.is_admin()
    fmt = common.wants_export()
    if fmt:
        headers = ["账单日期", "对账状态", "差异数", "未处理差异"]
        if admin:
            headers += ["微信笔数", "微信金额(元)", "本地笔数", "本地金额(元)", "微信退款(元)",
                        "本地退款(元)", "汇总行一致"]

        def line(r):
            run = r["run"]
            out = [r["date"], RUN_STATUS[run.status if run else ""], r["differences"], r["unresolved"]]
            if admin:
                out += ([run.remote_payments, _yuan(run.remote_payment_fen), run.local_payments,
                         _yuan(run.local_payment_fen), _yuan(run.remote_refund_fen),
                         _yuan(run.local_refund_fen), "是" if run.summary_ok else "否"]
                        if run else [""] * 7)
            return out

        return common.export_response("对账", headers, (line(r) for r in rows), fmt)
    page = _page_of(rows, 31)
    task = _task(request.args.get("task"))
    return render_template("admin/ops/reconciliation.html", page=page, admin=admin, task=task,
                           run_status=RUN_STATUS, yesterday=local_today() - dt.timedelta(days=1),
                           only=request.args.get("only", ""))


def _page_of(rows: list, size: int) -> common.Page:
    try:
        number = max(1, int(request.args.get("page", "1")))
    except ValueError:
        number = 1
    return common.Page(rows[(number - 1) * size:number * size], number, size, len(rows))


def _task(raw: str | None) -> AdminTask | None:
    if not raw or not raw.isdigit():
        return None
    task = AdminTask.get_or_none(AdminTask.id == int(raw), AdminTask.kind == RECONCILE)
    if task is None:
        abort(404)
    return task


@bp.route("/reconciliation/rerun", methods=["POST"])
@auth.require_role(*common.MANAGE)
def reconciliation_rerun():
    raw = (request.form.get("bill_date") or "").strip()
    try:
        day = dt.date.fromisoformat(raw)
        service.check_date(day, local_today())
    except (ValueError, DomainError) as exc:
        flash(exc.message if isinstance(exc, DomainError) else "日期格式应为 YYYY-MM-DD", "error")
        return redirect(url_for("admin.reconciliation"))
    task = ops.start_task(RECONCILE, {"bill_date": day.isoformat()}, label=f"重新对账 {day}")
    flash(f"已开始重新对账 {day}（任务 {task.id}）", "ok")
    return redirect(url_for("admin.reconciliation", task=task.id))


@bp.route("/reconciliation/items")
@auth.require_role()
def reconciliation_items():
    day = common.arg_date("date")
    scope = ops.scope_ids()
    if request.args.get("community"):
        scope = common.chosen_community_ids()
    state = request.args.get("state", "open")
    if state not in STATES:
        abort(400, "状态参数无效")
    kind = request.args.get("kind", "")
    if kind and kind not in ItemKind.ALL:
        abort(400, "差异类型无效")
    query = queries.items(community_ids=scope, state=state, kind=kind,
                          reference=(request.args.get("q") or "").strip(), since=day, until=day)
    names = {c.id: c.name for c in common.permitted_communities()}
    fmt = common.wants_export()
    if fmt:
        headers = ["账单日期", "差异类型", "商户订单号", "微信单号/退款单号", "小区", "微信金额(元)",
                   "本地金额(元)", "微信状态", "本地状态", "自动处理", "处理人", "处理时间", "处理说明"]
        rows = ([i.run.bill_date, KIND_NAMES.get(i.kind, i.kind), i.out_trade_no, i.reference,
                 names.get(i.community_id, ""), _yuan(i.remote_fen), _yuan(i.local_fen), i.remote_status,
                 i.local_status, queries.action_taken(i), i.resolved_by, common.local_time(i.resolved_at),
                 i.note] for i in query)
        return common.export_response("对账差异", headers, rows, fmt)
    run = ReconciliationRun.get_or_none(ReconciliationRun.bill_date == day) if day else None
    return render_template("admin/ops/reconciliation_items.html", page=common.paginate(query),
                           day=day, run=run, admin=ops.is_admin(), state=state, kind=kind,
                           states=STATES, kind_names=KIND_NAMES, run_status=RUN_STATUS,
                           community_names=names, communities=list(common.permitted_communities()),
                           action_taken=queries.action_taken)


@bp.route("/reconciliation/items/<int:item_id>/resolve", methods=["POST"])
@auth.require_role(*common.MANAGE)
def reconciliation_resolve(item_id: int):
    item, community_id = queries.community_of_item(item_id)
    if item is None:
        abort(404)
    ops.check_scope(community_id)
    back = common.safe_next(request.form.get("next"),
                            url_for("admin.reconciliation_items", date=item.run.bill_date.isoformat()),
                            prefix="/admin/reconciliation")
    return ops.act(lambda: service.resolve_item(item_id, common.actor(), request.form.get("note", "")),
                   success=f"差异 {item.reference} 已处理", redirect_to=back)

