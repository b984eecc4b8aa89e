"""计费批次: the list of runs, preview a community × period, issue it as a task."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from server import tasks
from server.admin import auth, common
from server.admin.pages import billing_common as bc
from server.admin.views import bp
from server.billing import queries, runs
from server.billing.models import BillingRun, RunStatus
from server.errors import DomainError
from server.money import format_yuan
from server.property.models import Community
from server.tasks.models import AdminTask, TaskStatus
from server.timeutil import current_period

TASK_KIND = "billing_issue"
RUN_HEADERS = ["批次号", "小区", "账期", "状态", "房屋数", "新增账单", "已存在账单", "应收合计(元)",
               "问题数", "操作人", "开始时间", "完成时间"]


def _run_or_404(run_id: int) -> BillingRun:
    run = BillingRun.get_or_none(BillingRun.id == run_id)
    if run is None:
        abort(404)
    common.check_community(run.community_id)
    return run


def planned_bills(run: BillingRun) -> int:
    return sum(int(t.get("bills", 0)) for t in (run.totals_by_item or {}).values())


def already_issued(run: BillingRun) -> bool:
    """Nothing new to bill: every planned bill of the period exists already."""
    if run.status == RunStatus.PREVIEWED:
        planned = planned_bills(run)
        return planned > 0 and run.bills_existing >= planned
    return run.status == RunStatus.ISSUED and run.bills_created == 0 and run.bills_existing > 0


@bp.route("/billing-runs")
@auth.require_role()
def billing_runs():
    ids = common.chosen_community_ids()
    query = queries.runs(ids, request.args.get("status") or None)
    if fmt := common.wants_export():
        rows = ([r.id, r.community.name, r.period, bc.RUN_STATUS.get(r.status, r.status), r.houses,
                 r.bills_created, r.bills_existing, format_yuan(r.total_fen), len(r.problems or []),
                 r.created_by.username if r.created_by_id else "", common.local_time(r.started_at),
                 common.local_time(r.finished_at)] for r in query.iterator())
        return common.export_response("计费批次", RUN_HEADERS, rows, fmt, sheet_title="计费批次")
    return render_template("admin/billing/runs.html", page=common.paginate(query),
                           communities=list(common.permitted_communities()),
                           community=request.args.get("community", ""),
                           status=request.args.get("status", ""), default_period=current_period(),
                           **bc.labels())


@bp.route("/billing-runs/preview", methods=["POST"])
@auth.require_role(*common.WRITE)
def preview_billing_run():
    try:
        community_id = common.form_int("community")
    except DomainError:
        flash("请选择小区", "error")
        return redirect(url_for("admin.billing_runs"))
    common.check_community(community_id)
    period = (request.form.get("period") or "").strip()
    try:
        preview = runs.preview_run(community_id, period, common.actor())
    except DomainError as exc:
        flash(bc.zh(exc), "error")
        return redirect(url_for("admin.billing_runs"))
    flash(f"预览完成：计划 {preview.bills_planned} 张账单，其中已存在 {preview.already_billed} 张，"
          f"问题 {sum(preview.problem_counts.values())} 个。", "ok")
    return redirect(url_for("admin.billing_run", run_id=preview.run_id))


@bp.route("/billing-runs/<int:run_id>")
@auth.require_role()
def billing_run(run_id: int):
    run = _run_or_404(run_id)
    community = Community.get_by_id(run.community_id)
    later = (BillingRun.select().where(BillingRun.community == run.community_id,
                                       BillingRun.period == run.period, BillingRun.id != run.id)
             .order_by(BillingRun.id.desc()).limit(10))
    problem_counts: dict[str, int] = {}
    for p in run.problems or []:
        problem_counts[p["kind"]] = problem_counts.get(p["kind"], 0) + 1
    return render_template("admin/billing/run.html", run=run, community=community,
                           planned=planned_bills(run), already_issued=already_issued(run),
                           problem_counts=problem_counts, others=list(later), **bc.labels())


@bp.route("/billing-runs/<int:run_id>/issue", methods=["POST"])
@auth.require_role(*common.MANAGE)
def issue_billing_run(run_id: int):
    run = _run_or_404(run_id)
    back = url_for("admin.billing_run", run_id=run.id)
    if run.status != RunStatus.PREVIEWED:
        flash("只能从预览发起出账：请重新预览后再出账。", "error")
        return redirect(back)
    community = Community.get_by_id(run.community_id)
    try:
        task = tasks.start(TASK_KIND, {"community_id": run.community_id, "period": run.period,
                                       "preview_run_id": run.id},
                           common.actor(), community_id=run.community_id,
                           label=f"出账 {community.name} {run.period}")
    except DomainError as exc:
        flash(bc.zh(exc), "error")
        return redirect(back)
    return redirect(url_for("admin.billing_issue_task", task_id=task.id))


@bp.route("/billing-runs/tasks/<int:task_id>")
@auth.require_role()
def billing_issue_task(task_id: int):
    task = AdminTask.get_or_none(AdminTask.id == task_id, AdminTask.kind == TASK_KIND)
    if task is None:
        abort(404)
    common.check_community(task.community_id)
    if task.status == TaskStatus.DONE and (task.result or {}).get("run_id"):
        result = task.result
        if result.get("bills_created", 0) == 0 and result.get("bills_existing", 0) > 0:
            flash("该小区该账期已出账，本次没有新增账单。", "ok")
        else:
            flash(f"出账完成：新增 {result.get('bills_created', 0)} 张账单，"
                  f"已存在 {result.get('bills_existing', 0)} 张。", "ok")
        return redirect(url_for("admin.billing_run", run_id=result["run_id"]))
    return render_template("admin/billing/run_task.html", task=task, **bc.labels())
