"""Alert pages: open and acknowledged alerts, acknowledging one with a note.

Alerts of a community are shown to its staff; alerts of no community concern the
whole merchant (reconciliation, WeChat Pay keys, jobs) and are shown to admins only.
"""
from __future__ import annotations

from flask import abort, render_template, request, url_for

from server.admin import auth, common
from server.admin.pages import operations as ops
from server.admin.views import bp
from server.alerts import Alert, Severity, acknowledge_alert, kind_name

SEVERITY_NAMES = {Severity.INFO: "提示", Severity.WARNING: "警告", Severity.CRITICAL: "严重"}
STATES = {"open": "未确认", "acknowledged": "已确认", "all": "全部"}


def _visible():
    if request.args.get("community"):
        return Alert.select().where(Alert.community_id.in_(common.chosen_community_ids()))
    scope = ops.scope_ids()
    if scope is None:
        return Alert.select()
    return Alert.select().where(Alert.community_id.in_(scope or [0]))


@bp.route("/alerts")
@auth.require_role()
def alerts():
    query = _visible()
    state = request.args.get("state", "open")
    if state not in STATES:
        abort(400, "状态参数无效")
    if state == "open":
        query = query.where(Alert.acknowledged_at.is_null())
    elif state == "acknowledged":
        query = query.where(Alert.acknowledged_at.is_null(False))
    severity = request.args.get("severity", "")
    if severity:
        if severity not in SEVERITY_NAMES:
            abort(400, "级别参数无效")
        query = query.where(Alert.severity == severity)
    kind = (request.args.get("kind") or "").strip()
    if kind:
        query = query.where(Alert.kind == kind)
    query = query.order_by(Alert.last_seen_at.desc(), Alert.id.desc())
    communities = list(common.permitted_communities())
    names = {c.id: c.name for c in communities}
    fmt = common.wants_export()
    if fmt:
        headers = ["编号", "类型", "级别", "内容", "次数", "小区", "首次出现", "最近出现", "确认人", "确认时间"]
        rows = ([a.id, kind_name(a.kind), SEVERITY_NAMES.get(a.severity, a.severity), a.message, a.count,
                 names.get(a.community_id, "全商户"), common.local_time(a.created_at),
                 common.local_time(a.last_seen_at), a.acknowledged_by, common.local_time(a.acknowledged_at)]
                for a in query)
        return common.export_response("告警", headers, rows, fmt)
    kinds = [k for (k,) in _visible().select(Alert.kind).distinct().order_by(Alert.kind).tuples()]
    return render_template("admin/ops/alerts.html", page=common.paginate(query), state=state,
                           states=STATES, severity=severity, severity_names=SEVERITY_NAMES,
                           kinds=kinds, kind=kind, kind_name=kind_name, community_names=names, communities=communities)


@bp.route("/alerts/<int:alert_id>/acknowledge", methods=["POST"])
@auth.require_role(*common.MANAGE)
def alert_acknowledge(alert_id: int):
    alert = Alert.get_or_none(Alert.id == alert_id)
    if alert is None:
        abort(404)
    ops.check_scope(alert.community_id)
    note = (request.form.get("note") or "").strip()[:500]
    back = common.safe_next(request.form.get("next"), url_for("admin.alerts"), prefix="/admin/alerts")
    return ops.act(lambda: acknowledge_alert(alert_id, common.actor(), note),
                   success=f"告警 {alert_id} 已确认", redirect_to=back)
