"""Staff pages: house search, house detail (edit, bindings, one-time binding codes)."""
from __future__ import annotations

import peewee
from flask import abort, flash, redirect, render_template, request, url_for

from server.admin import auth
from server.admin.common import (MANAGE, WRITE, actor, can, chosen_community_ids, export_response,
                                 local_time, paginate, permitted_communities, run_action,
                                 wants_export)
from server.admin.pages import property_export
from server.admin.pages.property import house_or_404
from server.admin.views import bp
from server.billing.queries import metered_items
from server.owners import bindings
from server.owners.models import BindingCode
from server.property import services
from server.property.models import Binding, Building, HouseStatus, Owner
from server.staff.models import StaffUser
from server.timeutil import utcnow

ROLE_LABELS = {"owner": "业主", "tenant": "租户", "family": "家属"}
VERIFIED_LABELS = {"phone": "手机号验证", "code": "绑定码", "staff": "物业审核", "import": "导入"}
BINDING_LABELS = {"active": "已绑定", "pending": "待审核", "rejected": "已拒绝", "revoked": "已解除"}
HOUSE_STATUS_LABELS = {HouseStatus.OCCUPIED: "已入住", HouseStatus.VACANT: "空置"}


def _building_filter(ids: list[int]) -> int | None:
    raw = request.args.get("building", "")
    if not raw:
        return None
    if not raw.isdigit():
        abort(400, "楼栋参数无效")
    building = Building.get_or_none(Building.id == int(raw))
    if building is None or building.community_id not in ids:
        abort(404)
    return building.id


@bp.route("/houses")
@auth.require_role()
def houses():
    ids = chosen_community_ids()
    building_id = _building_filter(ids)
    args = request.args
    query = services.search_houses(ids, building_id=building_id, room=args.get("room", ""),
                                   owner=args.get("owner", ""))
    fmt = wants_export()
    if fmt:
        if query.count() > property_export.EXPORT_INLINE_ROWS:
            filters = {"building_id": building_id, "room": args.get("room", ""),
                       "owner": args.get("owner", "")}
            return redirect(property_export.start_export(ids, filters, fmt))
        return export_response("房屋列表", property_export.HEADERS,
                               property_export.house_rows(list(query)), fmt)
    page = paginate(query)
    counts = services.binding_counts([h.id for h in page.items])
    buildings = []
    if len(ids) == 1:
        buildings = list(Building.select().where(Building.community == ids[0]).order_by(Building.name))
    return render_template("admin/property/houses.html", page=page, counts=counts,
                           communities=list(permitted_communities()), buildings=buildings,
                           args=args, status_labels=HOUSE_STATUS_LABELS)


@bp.route("/houses/<int:house_id>")
@auth.require_role()
def house_detail(house_id: int):
    house = house_or_404(house_id)
    links = list(Binding.select(Binding, Owner).join(Owner, on=(Binding.owner == Owner.id))
                 .where(Binding.house == house.id).order_by(Binding.created_at.desc()))
    codes = list(BindingCode.select(BindingCode, StaffUser)
                 .join(StaffUser, peewee.JOIN.LEFT_OUTER, on=(BindingCode.created_by == StaffUser.id))
                 .where(BindingCode.house == house.id).order_by(BindingCode.created_at.desc())
                 .limit(20))
    # 装表/换表 links: the community's metered items, for those who may record readings.
    meter_items = list(metered_items([house.community_id])) if can(*WRITE) else []
    return render_template("admin/property/house.html", house=house, links=links, codes=codes,
                           meter_items=meter_items,
                           now=utcnow(), role_labels=ROLE_LABELS, verified_labels=VERIFIED_LABELS,
                           binding_labels=BINDING_LABELS, status_labels=HOUSE_STATUS_LABELS,
                           code_status=code_status)


def code_status(code: BindingCode, now) -> tuple[str, str]:
    if code.used_at is not None:
        return "used", "已使用"
    if code.revoked_at is not None:
        return "revoked", "已作废"
    if code.expires_at <= now:
        return "expired", "已过期"
    return "valid", "有效"


@bp.route("/houses/<int:house_id>/edit", methods=["POST"])
@auth.require_role(*MANAGE)
def house_update(house_id: int):
    house = house_or_404(house_id)
    form = request.form
    return run_action(
        lambda: services.update_house(house.id, actor(), floor_area=form.get("floor_area", ""),
                                      owner_phone=form.get("owner_phone", ""),
                                      owner_name=form.get("owner_name", ""),
                                      status=form.get("status", "")),
        success="已保存房屋信息（面积变更只影响今后生成的按面积计费账单）",
        redirect_to=url_for("admin.house_detail", house_id=house.id))


@bp.route("/houses/<int:house_id>/bindings/<int:binding_id>/unbind", methods=["POST"])
@auth.require_role(*WRITE)
def house_unbind(house_id: int, binding_id: int):
    house = house_or_404(house_id)
    if Binding.get_or_none(Binding.id == binding_id, Binding.house == house.id) is None:
        abort(404)
    return run_action(
        lambda: bindings.staff_unbind(binding_id, actor(), note=request.form.get("note", "").strip()),
        success="已解除绑定", redirect_to=url_for("admin.house_detail", house_id=house.id))


@bp.route("/houses/<int:house_id>/binding-codes", methods=["POST"])
@auth.require_role(*WRITE)
def binding_code_issue(house_id: int):
    house = house_or_404(house_id)
    role = request.form.get("role", "")
    if role not in ROLE_LABELS:
        flash("请选择绑定身份", "error")
        return redirect(url_for("admin.house_detail", house_id=house.id))
    code, row = bindings.issue_binding_code(house.id, role, actor())
    # Shown once, in this response (served with Cache-Control: no-store): only the hash
    # is stored, and the plain code must not travel in the signed-but-readable session cookie.
    return _print_page(house, row, code)


@bp.route("/houses/<int:house_id>/binding-codes/<int:code_id>/print")
@auth.require_role()
def binding_code_print(house_id: int, code_id: int):
    house = house_or_404(house_id)
    row = BindingCode.get_or_none(BindingCode.id == code_id, BindingCode.house == house.id)
    if row is None:
        abort(404)
    # Only the hash is stored: the code was shown once, in the response that issued it.
    return _print_page(house, row, None)


def _print_page(house, row: BindingCode, code: str | None):
    shown = " ".join((code[:5], code[5:])) if code else None
    return render_template("admin/property/binding_code_print.html", house=house, row=row,
                           code=shown, role_labels=ROLE_LABELS,
                           expires=local_time(row.expires_at))


@bp.route("/houses/<int:house_id>/binding-codes/<int:code_id>/revoke", methods=["POST"])
@auth.require_role(*WRITE)
def binding_code_revoke(house_id: int, code_id: int):
    house = house_or_404(house_id)
    if BindingCode.get_or_none(BindingCode.id == code_id, BindingCode.house == house.id) is None:
        abort(404)
    return run_action(lambda: bindings.staff_revoke_binding_code(code_id, actor()),
                      success="已作废绑定码", redirect_to=url_for("admin.house_detail", house_id=house.id))
