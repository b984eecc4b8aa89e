"""Staff pages: binding requests (an owner asked for a house; staff approve or reject)."""
from __future__ import annotations

from flask import abort, render_template, request, url_for

from server.admin import auth
from server.admin.common import (MANAGE, actor, check_community, chosen_community_ids,
                                 export_response, local_time, paginate, permitted_communities,
                                 run_action, wants_export)
from server.admin.pages.property_houses import BINDING_LABELS, ROLE_LABELS
from server.admin.views import bp
from server.owners import bindings
from server.property.models import Binding, House


def _label(b: Binding) -> str:
    return b.house.label


@bp.route("/bindings")
@auth.require_role()
def binding_list():
    ids = chosen_community_ids()
    pending = bindings.binding_requests(ids, pending=True)
    decided = bindings.binding_requests(ids, pending=False)
    fmt = wants_export()
    if fmt:
        rows = list(pending) + list(decided.limit(1000))
        return export_response(
            "绑定申请", ["申请时间", "房屋", "申请人昵称", "申请人手机号", "身份", "状态", "处理时间"],
            ([local_time(b.created_at), _label(b), b.owner.nickname, b.owner.phone,
              ROLE_LABELS.get(b.role, b.role), BINDING_LABELS.get(b.status, b.status),
              local_time(b.decided_at)] for b in rows), fmt)
    page = paginate(pending)
    recent = list(decided.limit(30))
    return render_template("admin/property/bindings.html", page=page, recent=recent,
                           communities=list(permitted_communities()),
                           selected=request.args.get("community", ""), role_labels=ROLE_LABELS,
                           binding_labels=BINDING_LABELS)


@bp.route("/bindings/<int:binding_id>/<any(approve, reject):decision>", methods=["POST"])
@auth.require_role(*MANAGE)
def binding_decide(binding_id: int, decision: str):
    binding = Binding.get_or_none(Binding.id == binding_id)
    if binding is None:
        abort(404)
    check_community(House.get_by_id(binding.house_id).community_id)
    approve = decision == "approve"
    return run_action(
        lambda: bindings.staff_decide_binding(binding_id, approve, actor(),
                                              note=request.form.get("note", "").strip()[:500]),
        success="已通过绑定申请" if approve else "已拒绝绑定申请",
        redirect_to=url_for("admin.binding_list"))
