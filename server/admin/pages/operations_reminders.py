"""Reminder pages: each community's timing, the log, conversion and failure rate for a
window, and a manual campaign (preview → task with progress)."""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from server.admin import auth, common
from server.admin.pages import operations as ops
from server.admin.pages.operations_tasks import CAMPAIGN
from server.admin.views import bp
from server.billing.models import FeeItem
from server.errors import DomainError
from server.money import format_yuan
from server.tasks.models import AdminTask
from server.timeutil import PeriodError, local_midnight_utc, local_today, parse_period, utcnow
from templates_msg import queries, reminders
from templates_msg.models import ReminderPolicy, ReminderResult as R

RESULT_NAMES = {R.SENDING: "发送中", R.SENT: "已送达", R.SKIPPED_QUOTA: "无订阅次数", R.REFUSED: "用户拒收",
                R.BAD_DATA: "模板数据错误", R.FAILED: "发送失败", R.UNAVAILABLE: "微信暂不可用",
                "already": "今日已提醒过"}
STAGE_SWITCH_NAMES = (("bill_issued_on", "出账通知"), ("due_soon_on", "到期前提醒"), ("due_day_on", "到期日提醒"))
STAGE_NAMES = {"bill_issued": "出账通知", "due_soon": "到期前提醒", "due_day": "到期日提醒",
               "overdue": "逾期提醒", "campaign": "手动提醒活动", "payment_success": "缴费成功通知"}


def _config():
    return current_app.extensions["wuyepay_config"]


def _window() -> tuple[dt.date, dt.date]:
    until = common.arg_date("until", local_today())
    since = common.arg_date("since", until - dt.timedelta(days=29))
    if since > until:
        abort(400, "开始日期不能晚于结束日期")
    return since, until


@bp.route("/reminders")
@auth.require_role()
def reminders_home():
    communities = list(common.permitted_communities())
    ids = common.chosen_community_ids()
    rows = {p.community_id: p for p in ReminderPolicy.select().where(
        ReminderPolicy.community.in_([c.id for c in communities] or [0]))}
    policies = [(c, rows.get(c.id) or reminders.DEFAULT_POLICY) for c in communities]
    since, until = _window()
    start, end = local_midnight_utc(since), local_midnight_utc(until + dt.timedelta(days=1))
    return render_template(
        "admin/ops/reminders.html", communities=communities, policies=policies,
        since=since, until=until, conversion=queries.conversion(ids, start, end),
        failures=queries.failure_rate(ids, start, end), results=queries.results_by_count(ids, start, end),
        result_names=RESULT_NAMES, fee_items=_fee_items(communities), defaults=reminders.DEFAULT_POLICY,
        quiet=reminders.in_quiet_hours(utcnow()), stage_switches=STAGE_SWITCH_NAMES)


def _fee_items(communities) -> list:
    names = {c.id: c.name for c in communities}
    items = FeeItem.select().where(FeeItem.community.in_(list(names) or [0])).order_by(
        FeeItem.community, FeeItem.code)
    return [(i.id, f"{names[i.community_id]} · {i.name}") for i in items]


@bp.route("/reminders/policy/<int:community_id>", methods=["POST"])
@auth.require_role(*common.MANAGE)
def reminders_policy(community_id: int):
    common.check_community(community_id)

    # A browser sends no field for an unchecked box: the hidden ``stage_switches`` field says
    # the form carries the switches, so a missing box is off; without it they stay as they are.
    if request.form.get("stage_switches"):
        switches = {name: bool(request.form.get(name)) for name, _ in STAGE_SWITCH_NAMES}
    else:
        switches = {}

    def save():
        return reminders.set_policy(
            community_id, common.actor(), due_soon_days=common.form_int("due_soon_days", minimum=0),
            overdue_every_days=common.form_int("overdue_every_days", minimum=1),
            overdue_max=common.form_int("overdue_max", minimum=0), **switches)

    return ops.act(save, success="提醒设置已保存", redirect_to=url_for("admin.reminders_home"))


@bp.route("/reminders/log")
@auth.require_role()
def reminders_log():
    stage = request.args.get("stage", "")
    if stage and stage not in STAGE_NAMES:
        abort(400, "提醒阶段无效")
    result = request.args.get("result", "")
    if result and result not in RESULT_NAMES:
        abort(400, "结果参数无效")
    query = queries.log_entries(common.chosen_community_ids(), stage=stage, result=result,
                                since=common.arg_date("since"), until=common.arg_date("until"))
    fmt = common.wants_export()
    if fmt:
        headers = ["发送时间", "小区", "房屋", "收费项目", "账期", "账单号", "提醒阶段", "结果", "错误码",
                   "说明", "尝试次数", "业主"]
        rows = ([common.local_time(e.sent_at), e.bill.community.name, e.bill.house.label,
                 e.bill.fee_item.name, e.bill.period, e.bill_id, queries.stage_label(e.stage),
                 RESULT_NAMES.get(e.result, e.result), e.errcode, e.errmsg, e.attempts,
                 e.owner.nickname or f"业主{e.owner_id}"] for e in query)
        return common.export_response("缴费提醒记录", headers, rows, fmt)
    return render_template("admin/ops/reminder_log.html", page=common.paginate(query),
                           communities=list(common.permitted_communities()), stage=stage,
                           result=result, stage_names=STAGE_NAMES, result_names=RESULT_NAMES,
                           stage_label=queries.stage_label)


def _campaign_filter(source) -> reminders.CampaignFilter:
    """The campaign's bills from a form or the query string; refused when invalid."""
    permitted = common.permitted_community_ids()
    raw = (source.get("community") or "").strip()
    if raw:
        if not raw.isdigit() or int(raw) not in permitted:
            abort(404)
        ids = (int(raw),)
    else:
        ids = tuple(permitted)
    period = (source.get("period") or "").strip()
    if period:
        try:
            parse_period(period)
        except PeriodError:
            raise DomainError("账期格式应为 YYYY-MM", code="VALIDATION_ERROR", status=422) from None
    item = (source.get("fee_item") or "").strip()
    fee_item_id = None
    if item:
        fee = FeeItem.get_or_none(FeeItem.id == int(item)) if item.isdigit() else None
        if fee is None or fee.community_id not in ids:
            raise DomainError("收费项目不属于所选小区", code="VALIDATION_ERROR", status=422)
        fee_item_id = fee.id
    days = (source.get("min_overdue_days") or "0").strip()
    if not days.isdigit():
        raise DomainError("逾期天数应为不小于 0 的整数", code="VALIDATION_ERROR", status=422)
    return reminders.CampaignFilter(ids, period, fee_item_id, int(days))


def _campaign_task(raw: str | None) -> AdminTask | None:
    if not raw or not raw.isdigit():
        return None
    task = AdminTask.get_or_none(AdminTask.id == int(raw), AdminTask.kind == CAMPAIGN)
    if task is None:
        abort(404)
    for community_id in task.params.get("filter", {}).get("community_ids", []):
        common.check_community(community_id)
    return task


@bp.route("/reminders/campaign")
@auth.require_role()
def reminders_campaign():
    communities = list(common.permitted_communities())
    task = _campaign_task(request.args.get("task"))
    preview, error = None, None
    if request.args.get("preview"):
        try:
            flt = _campaign_filter(request.args)
            preview = queries.campaign_preview(flt, local_today(utcnow()), config=_config())
        except DomainError as exc:
            error = exc.message
    return render_template("admin/ops/campaign.html", communities=communities, task=task,
                           preview=preview, error=error, fee_items=_fee_items(communities),
                           result_names=RESULT_NAMES, quiet=reminders.in_quiet_hours(utcnow()),
                           format_yuan=format_yuan)


@bp.route("/reminders/campaign", methods=["POST"])
@auth.require_role(*common.MANAGE)
def reminders_campaign_start():
    back = url_for("admin.reminders_campaign", **{k: v for k, v in request.form.items()
                                                  if k in ("community", "period", "fee_item",
                                                           "min_overdue_days")}, preview="1")
    try:
        flt = _campaign_filter(request.form)
        reminders.check_campaign_time(utcnow())
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(back)
    only = flt.community_ids[0] if len(flt.community_ids) == 1 else None
    task = ops.start_task(CAMPAIGN, {"filter": flt.as_params()}, label="缴费提醒活动", community_id=only)
    flash(f"提醒活动已开始（任务 {task.id}）", "ok")
    return redirect(url_for("admin.reminders_campaign", task=task.id))
