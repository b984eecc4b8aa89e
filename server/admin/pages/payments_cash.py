"""The daily cash close (日结): a cashier's day per community, by channel, then locked."""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, render_template, request, url_for

from payments import offline, queries
from server.admin import auth, common
from server.admin.pages.payments_common import CHANNELS, LABELS
from server.admin.views import bp
from server.errors import DomainError
from server.money import format_yuan
from server.staff.models import StaffUser
from server.timeutil import local_today


def _operator_id(raw: int | None) -> int:
    """Cashiers see and close their own day; managers and admins any cashier's."""
    me = common.staff()
    if raw is None or raw == me.id:
        return me.id
    if me.role not in common.MANAGE:
        abort(403)
    if StaffUser.get_or_none(StaffUser.id == raw) is None:
        abort(404)
    return raw


@bp.route("/cash-close")
@auth.require_role()
def cash_close():
    communities = list(common.permitted_communities())
    if not communities:
        abort(404)
    community_id = request.args.get("community", type=int) or communities[0].id
    common.check_community(community_id)
    operator_id = _operator_id(request.args.get("operator", type=int))
    day = common.arg_date("date", local_today())
    history = queries.cash_closes(common.permitted_community_ids(),
                                  None if common.can(*common.MANAGE) else operator_id)
    fmt = common.wants_export()
    if fmt:
        return common.export_response("日结记录", [
            "日期", "小区", "收银员", "笔数", *[f"{CHANNELS[c]}（元）" for c in ("cash", "bank_transfer", "pos")],
            "合计（元）", "日结时间"], (
            [c.business_date, c.community.name, c.operator.username, c.count,
             *[format_yuan(c.totals.get(ch, 0)) for ch in ("cash", "bank_transfer", "pos")],
             format_yuan(c.total_fen), common.local_time(c.closed_at)] for c in history), fmt,
            sheet_title="日结记录")
    operator = StaffUser.get_by_id(operator_id)
    cashiers = queries.cashiers([c.id for c in communities]) if common.can(*common.MANAGE) else []
    if operator not in cashiers and common.can(*common.MANAGE):
        cashiers.insert(0, operator)
    return render_template(
        "admin/payments/cash_close.html", communities=communities, community_id=community_id,
        operator=operator, cashiers=cashiers, day=day,
        summary=queries.cash_day(operator_id, community_id, day), page=common.paginate(history),
        **LABELS)


@bp.route("/cash-close", methods=["POST"])
@auth.require_role(*common.WRITE)
def close_cash_day():
    community_id = request.form.get("community", type=int)
    common.check_community(community_id)
    operator_id = _operator_id(request.form.get("operator", type=int))
    try:
        day = dt.date.fromisoformat(request.form.get("date") or "")
    except ValueError:
        abort(400, "日期格式应为 YYYY-MM-DD")
    back = url_for("admin.cash_close", community=community_id, operator=operator_id, date=day.isoformat())
    try:
        close = offline.close_cash_day(operator_id, community_id, day, common.actor())
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(back)
    flash(f"{close.business_date} 已日结：{close.count} 笔，合计 {format_yuan(close.total_fen)} 元；"
          "当日不能再登记收款", "ok")
    return redirect(back)
