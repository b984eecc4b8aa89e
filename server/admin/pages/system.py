"""Staff pages: system — the audit log, background tasks, staff API tokens, staff accounts.

Scope: audit rows and tasks of communities the staff member may not see are
hidden (404 for a task); rows of no community (sign-ins, accounts, tokens) are
for admins only, except the tasks a staff member started.
"""
from __future__ import annotations

import datetime as dt
import json

from flask import abort, current_app, redirect, render_template, request, send_file, url_for

from server import audit
from server.admin import auth
from server.admin.common import (ADMIN_ONLY, READ, actor, arg_date, chosen_community_ids, export_response,
                                 local_time, paginate, permitted_communities, run_action, staff,
                                 wants_export)
from server.admin.pages import labels  # noqa: F401  (the template filters for history rows)
from server.admin.views import bp
from server.errors import DomainError
from server.property.models import Community
from server.staff import services as staff_services
from server.staff.models import StaffApiToken, StaffRole, StaffUser
from server.tasks import queries as task_queries
from server.tasks.models import AdminTask, TaskStatus
from server.timeutil import local_midnight_utc

# Where an audited entity has its own admin page (built by the other areas).
ENTITY_PAGES = {"bill": "/admin/bills/{}", "house": "/admin/houses/{}", "payment": "/admin/payments/{}",
                "payment_order": "/admin/orders/{}", "order": "/admin/orders/{}",
                "billing_run": "/admin/billing-runs/{}", "dispute": "/admin/disputes/{}",
                "admin_task": "/admin/tasks/{}", "staff_user": "/admin/staff/{}"}
ENTITY_NAMES = {"bill": "账单", "house": "房屋", "payment": "收款", "payment_order": "支付订单",
                "order": "支付订单", "refund": "退款", "dispute": "费用异议", "adjustment": "调整",
                "billing_run": "计费批次", "fee_standard": "收费标准", "fee_item": "收费项目",
                "meter_reading": "抄表", "meter": "水电表", "binding": "绑定", "binding_code": "绑定码",
                "reconciliation_item": "对账差异", "cash_close": "日结", "alert": "告警",
                "staff_user": "员工", "admin_task": "后台任务", "staff_api_token": "接口令牌"}
ACTOR_TYPES = {"staff": "员工", "owner": "业主", "system": "系统", "wechat": "微信支付"}


def _is_admin() -> bool:
    return staff().role == StaffRole.ADMIN


def _entity_url(entity: str, entity_id: str) -> str | None:
    pattern = ENTITY_PAGES.get(entity)
    return pattern.format(entity_id) if pattern and entity_id.isdigit() else None


def _json(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


# --- audit log ---------------------------------------------------------------------------

@bp.route("/audit")
@auth.require_role(*READ)
def audit_log():
    ids = chosen_community_ids()
    since, until = arg_date("date_from"), arg_date("date_to")
    include_global = _is_admin() and not request.args.get("community")
    filters = {"actor_id": request.args.get("actor", "").strip(),
               "action_prefix": request.args.get("action", "").strip(),
               "entity": request.args.get("entity", "").strip(),
               "entity_id": request.args.get("entity_id", "").strip()}
    fmt = wants_export()
    if fmt:
        from server.admin import export_lists

        return export_lists.audit_export(ids, fmt, include_global=include_global, date_from=since,
                                         date_to=until, **filters)
    query = audit.search(
        ids, include_global=include_global, **filters,
        since=local_midnight_utc(since) if since else None,
        until=local_midnight_utc(until + dt.timedelta(days=1)) if until else None)
    names = {c.id: c.name for c in Community.select(Community.id, Community.name)}
    page = paginate(query)
    return render_template("admin/system/audit.html", page=page, communities=permitted_communities(),
                           community_names=names, diff=audit.diff, entity_url=_entity_url,
                           entity_names=ENTITY_NAMES, actor_types=ACTOR_TYPES, args=request.args)


# --- background tasks --------------------------------------------------------------------

def _visible_tasks(community_ids, include_global: bool):
    # Tasks of no community: all for admins, else only one's own.
    own = None if request.args.get("community") else staff().id
    return task_queries.visible(community_ids, include_global=include_global, staff_id=own,
                                status=request.args.get("status", ""), kind=request.args.get("kind", ""))


def _task_or_404(task_id: int) -> AdminTask:
    task = AdminTask.get_or_none(AdminTask.id == task_id)
    if task is None:
        abort(404)
    if task.community_id is None:
        if not (_is_admin() or task.staff_id == staff().id):
            abort(404)
    elif task.community_id not in [c.id for c in permitted_communities()]:
        abort(404)
    return task


@bp.route("/tasks")
@auth.require_role(*READ)
def tasks_list():
    ids = chosen_community_ids()
    query = _visible_tasks(ids, _is_admin() and not request.args.get("community"))
    names = {c.id: c.name for c in Community.select(Community.id, Community.name)}
    fmt = wants_export()
    if fmt:
        return export_response("后台任务", ["编号", "任务", "小区", "发起人", "状态", "进度", "总数",
                                        "创建时间", "开始时间", "结束时间", "结果", "错误"],
                               ([t.id, task_queries.kind_label(t), names.get(t.community_id, ""),
                                 t.created_by,
                                 task_queries.STATUS_LABELS.get(t.status, t.status), t.done, t.total,
                                 local_time(t.created_at), local_time(t.started_at),
                                 local_time(t.finished_at),
                                 task_queries.result_summary(t), t.error] for t in query.iterator()),
                               fmt, sheet_title="后台任务")
    return render_template("admin/system/tasks.html", page=paginate(query), community_names=names,
                           communities=permitted_communities(), kind_label=task_queries.kind_label,
                           summary=task_queries.result_summary, statuses=task_queries.STATUS_LABELS,
                           args=request.args)


@bp.route("/tasks/<int:task_id>")
@auth.require_role(*READ)
def task_detail(task_id: int):
    task = _task_or_404(task_id)
    community = Community.get_or_none(Community.id == task.community_id) if task.community_id else None
    has_file = task_queries.export_file(task, current_app.instance_path) is not None
    result = task.result if isinstance(task.result, dict) else {}
    return render_template("admin/system/task.html", task=task, community=community, has_file=has_file,
                           result={k: v for k, v in result.items() if k != "file"},
                           kind_label=task_queries.kind_label(task), statuses=task_queries.STATUS_LABELS,
                           result_labels=task_queries.RESULT_LABELS,
                           running=task.status in (TaskStatus.QUEUED, TaskStatus.RUNNING))


@bp.route("/tasks/<int:task_id>/download")
@auth.require_role(*READ)
def task_download(task_id: int):
    task = _task_or_404(task_id)
    path = task_queries.export_file(task, current_app.instance_path)
    if path is None:
        abort(404)
    return send_file(path, as_attachment=True, download_name=path.name, max_age=0)


# --- staff API tokens --------------------------------------------------------------------

def _tokens_query():
    return (StaffApiToken.select(StaffApiToken, StaffUser).join(StaffUser)
            .order_by(StaffApiToken.revoked_at.is_null(False), StaffApiToken.created_at.desc(),
                      StaffApiToken.id.desc()))


def _render_tokens(new_token=None, new_plaintext: str = ""):
    query = _tokens_query()
    fmt = wants_export()
    if fmt:
        return export_response("接口令牌", ["编号", "员工", "名称", "创建时间", "到期时间", "最近使用", "吊销时间"],
                               ([t.id, t.staff.username, t.name, local_time(t.created_at),
                                 local_time(t.expires_at), local_time(t.last_used_at),
                                 local_time(t.revoked_at)]
                                for t in query), fmt, sheet_title="接口令牌")
    staff_users = (StaffUser.select().where(StaffUser.active == True)  # noqa: E712
                   .order_by(StaffUser.username))
    body = render_template("admin/system/api_tokens.html", page=paginate(query), staff_users=staff_users,
                           new_token=new_token, new_plaintext=new_plaintext)
    return body, 200, {"Cache-Control": "no-store"}


@bp.route("/api-tokens")
@auth.require_role(*ADMIN_ONLY)
def api_tokens():
    return _render_tokens()


@bp.route("/api-tokens", methods=["POST"])
@auth.require_role(*ADMIN_ONLY)
def api_token_create():
    """The plaintext is shown once, in this response (not via a redirect: it must not
    sit in the session cookie); only its hash is stored."""
    from flask import flash

    from server.admin.common import form_int
    from server.staff import tokens

    try:
        staff_id = form_int("staff_id")
        ttl_days = form_int("ttl_days", required=False, minimum=1)
        name = (request.form.get("name") or "").strip()
        if not name:
            raise DomainError("请填写令牌名称", code="VALIDATION_ERROR", status=422)
        if StaffUser.get_or_none(StaffUser.id == staff_id) is None:
            raise DomainError("找不到该员工", code="NOT_FOUND", status=404)
        kwargs = {"ttl_days": ttl_days} if ttl_days else {}
        row, plaintext = tokens.issue_token(staff_id, name, actor(), **kwargs)
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.api_tokens"))
    flash(f"已创建令牌「{row.name}」", "ok")
    return _render_tokens(new_token=row, new_plaintext=plaintext)


@bp.route("/api-tokens/<int:token_id>/revoke", methods=["POST"])
@auth.require_role(*ADMIN_ONLY)
def api_token_revoke(token_id: int):
    from server.staff import tokens

    if StaffApiToken.get_or_none(StaffApiToken.id == token_id) is None:
        abort(404)
    return run_action(lambda: tokens.revoke_token(token_id, actor()), success="令牌已吊销",
                      redirect_to=url_for("admin.api_tokens"))


# --- staff accounts ----------------------------------------------------------------------

def _form_community_ids() -> list[int]:
    try:
        return [int(v) for v in request.form.getlist("communities") if v]
    except ValueError:
        raise DomainError("小区参数无效", code="VALIDATION_ERROR", status=422) from None


@bp.route("/staff")
@auth.require_role(*ADMIN_ONLY)
def staff_accounts():
    query = staff_services.staff_list()
    fmt = wants_export()
    if fmt:
        users = list(query)
        links = staff_services.communities_of([u.id for u in users])
        return export_response("员工", ["用户名", "姓名", "角色", "小区", "状态", "锁定至", "最近登录"],
                               ([u.username, u.display_name, _role_name(u.role),
                                 "、".join(c.name for c in links[u.id]), "在用" if u.active else "已停用",
                                 local_time(u.locked_until), local_time(u.last_login_at)] for u in users),
                               fmt, sheet_title="员工")
    page = paginate(query)
    return render_template("admin/system/staff.html", page=page,
                           links=staff_services.communities_of([u.id for u in page.items]),
                           communities=list(Community.select().order_by(Community.code)),
                           roles=StaffRole.ALL, now=_now())


def _role_name(role: str) -> str:
    from server.admin.views import ROLE_NAMES

    return ROLE_NAMES.get(role, role)


def _now():
    from server.timeutil import utcnow

    return utcnow()


@bp.route("/staff", methods=["POST"])
@auth.require_role(*ADMIN_ONLY)
def staff_create():
    form = request.form
    return run_action(lambda: staff_services.create_staff(
        form.get("username", ""), form.get("display_name", ""), form.get("role", ""),
        _form_community_ids(), form.get("password", ""), actor()),
        success="已创建员工 {r.username}", redirect_to=url_for("admin.staff_accounts"))


def _staff_or_404(staff_id: int) -> StaffUser:
    user = StaffUser.get_or_none(StaffUser.id == staff_id)
    if user is None:
        abort(404)
    return user


@bp.route("/staff/<int:staff_id>")
@auth.require_role(*ADMIN_ONLY)
def staff_detail(staff_id: int):
    user = _staff_or_404(staff_id)
    history = audit.search([], include_global=True, entity="staff_user", entity_id=str(user.id)).limit(50)
    return render_template("admin/system/staff_detail.html", user=user,
                           chosen={c.id for c in staff_services.communities_of([user.id])[user.id]},
                           communities=list(Community.select().order_by(Community.code)),
                           roles=StaffRole.ALL, history=list(history), now=_now(), diff=audit.diff)


def _staff_action(staff_id: int, fn, success: str):
    _staff_or_404(staff_id)
    target = url_for("admin.staff_detail", staff_id=staff_id)
    return run_action(fn, success=success, redirect_to=target)


@bp.route("/staff/<int:staff_id>/access", methods=["POST"])
@auth.require_role(*ADMIN_ONLY)
def staff_update_access(staff_id: int):
    return _staff_action(staff_id, lambda: staff_services.update_access(
        staff_id, request.form.get("role", ""), _form_community_ids(), actor()), "已更新角色与小区")


@bp.route("/staff/<int:staff_id>/unlock", methods=["POST"])
@auth.require_role(*ADMIN_ONLY)
def staff_unlock(staff_id: int):
    return _staff_action(staff_id, lambda: staff_services.unlock(staff_id, actor()), "已解除锁定")


@bp.route("/staff/<int:staff_id>/deactivate", methods=["POST"])
@auth.require_role(*ADMIN_ONLY)
def staff_deactivate(staff_id: int):
    return _staff_action(staff_id, lambda: staff_services.set_active(staff_id, False, actor()), "已停用该账号")


@bp.route("/staff/<int:staff_id>/activate", methods=["POST"])
@auth.require_role(*ADMIN_ONLY)
def staff_activate(staff_id: int):
    return _staff_action(staff_id, lambda: staff_services.set_active(staff_id, True, actor()), "已重新启用该账号")
