"""The staff pages: thin views over ``server.admin.auth`` and ``server.reports``."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from server import audit
from server.admin import auth, charts, common
from server.audit import Actor
from server.money import format_yuan
from server.reports import activity, collection
from server.staff.models import StaffRole
from server.timeutil import PeriodError, local_today, parse_period, period_of, utcnow

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static", static_url_path="/static")
# Globals (not context) so macros imported without context can build list URLs.
bp.add_app_template_global(common.page_url, "page_url")
bp.add_app_template_global(common.export_url, "export_url")



@bp.before_request
def _protect():
    from server.admin import protect

    return protect()


ROLE_NAMES = {StaffRole.ADMIN: "管理员", StaffRole.MANAGER: "主管", StaffRole.CASHIER: "收银员",
              StaffRole.VIEWER: "只读"}
LOGIN_MESSAGES = {
    auth.LoginResult.BAD_CREDENTIALS: "用户名或密码错误",
    auth.LoginResult.LOCKED: "密码错误次数过多，账号已锁定15分钟",
    auth.LoginResult.INACTIVE: "账号已停用",
}


@bp.app_template_filter("yuan")
def _yuan(fen: int) -> str:
    return format_yuan(fen)


@bp.app_template_filter("local_time")
def _local_time(value) -> str:
    from server.admin.common import local_time

    return local_time(value)


@bp.app_context_processor
def _globals():
    from server.admin import common

    return {"role_names": ROLE_NAMES, "can": common.can, "MANAGE": common.MANAGE,
            "WRITE": common.WRITE, }


def _safe_next(target: str | None) -> str:
    return common.safe_next(target, url_for("admin.dashboard"))


def _login_limit(view):
    """Sign-in attempts per client address (on top of the per-account lockout)."""
    from flask import current_app

    from miniprogram_api.ratelimit import limiter

    def setting() -> str:
        return current_app.config.get("RATELIMIT_ADMIN_LOGIN") or "30 per minute; 300 per hour"

    return limiter.limit(setting, methods=["POST"])(view)


@bp.route("/login", methods=["GET", "POST"])
@_login_limit
def login():
    if request.method == "POST":
        result, user = auth.authenticate(request.form.get("username", ""),
                                         request.form.get("password", ""),
                                         remote_addr=request.remote_addr or "")
        if result == auth.LoginResult.OK:
            session.clear()
            session.permanent = True
            login_user(auth.StaffLogin(user))
            session["login_at"] = int(utcnow().timestamp())
            return redirect(_safe_next(request.args.get("next")))
        flash(LOGIN_MESSAGES[result], "error")
        return render_template("admin/login.html"), 401 if result != auth.LoginResult.LOCKED else 423
    return render_template("admin/login.html")


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        user = current_user.user
        audit.record(Actor.staff(user), "staff.logout", "staff_user", user.id)
    logout_user()
    session.clear()
    return redirect(url_for("admin.login"))


@bp.route("/")
@auth.require_role()
def dashboard():
    user = current_user.user
    permitted = list(auth.staff_communities(user))
    code = request.args.get("community", "")
    if code:
        chosen = [c for c in permitted if c.code == code]
        if not chosen:
            abort(404)
    else:
        chosen = permitted
    as_of = common.arg_date("as_of", local_today())
    period = request.args.get("period") or period_of(as_of)
    try:
        parse_period(period)
    except PeriodError:
        abort(400, "账期格式应为 YYYY-MM")
    ids = [c.id for c in chosen]
    report = collection.collection_rate(ids, period, as_of)
    ages = collection.arrears_by_age(ids, as_of)
    first, last = activity.period_range(period, as_of)
    channels = activity.channel_mix(ids, first, last) if first <= last else []
    trend = collection.trend(ids, period, as_of)
    computed_at = collection.snapshot_time(ids, period, as_of)
    work = activity.open_work(ids, all_communities=user.role == StaffRole.ADMIN and not code)
    return render_template(
        "admin/dashboard.html", user=user, communities=permitted, community_code=code,
        as_of=as_of, period=period, report=report, ages=ages, channels=channels,
        channel_range=(first, last), work=work, computed_at=computed_at,
        arrears_chart=charts.bar_chart(
            [(a.label, a.balance_fen, format_yuan(a.balance_fen)) for a in ages],
            title="欠费账龄（元）"),
        channel_chart=charts.bar_chart(
            [(c.name, c.amount_fen, format_yuan(c.amount_fen)) for c in channels],
            title="收款渠道（元）"),
        trend_chart=charts.line_chart(
            [(p[5:] + "月", r.basis_points, r.percent()) for p, r in trend], width=720,
            title="近12个月收缴率"),
        trend=trend)


# The flow pages register their routes on ``bp`` when imported.
from server.admin.pages import (billing, operations, payments, property, system)  # noqa: E402,F401
