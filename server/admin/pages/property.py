"""Staff pages: communities and buildings.  Houses, bindings, fee standards and
imports live in the sibling modules imported at the bottom."""
from __future__ import annotations

from flask import abort, render_template, request, url_for

from server.admin import auth
from server.admin.common import (ADMIN_ONLY, MANAGE, actor, check_community, chosen_community_ids,
                                 export_response, paginate, permitted_communities, run_action,
                                 safe_next, wants_export)
from server.admin.views import bp
from server.property import services
from server.property.models import Building, Community


@bp.route("/communities")
@auth.require_role()
def communities():
    ids = chosen_community_ids()
    query = Community.select().where(Community.id.in_(ids)).order_by(Community.code)
    fmt = wants_export()
    if fmt:
        rows = list(query)
        counts = services.community_counts([c.id for c in rows])
        return export_response("小区列表", ["编码", "名称", "地址", "楼栋数", "房屋数"],
                               ([c.code, c.name, c.address, *counts[c.id]] for c in rows), fmt)
    page = paginate(query)
    counts = services.community_counts([c.id for c in page.items])
    return render_template("admin/property/communities.html", page=page, counts=counts,
                           communities=list(permitted_communities()),
                           selected=request.args.get("community", ""))


@bp.route("/communities", methods=["POST"])
@auth.require_role(*ADMIN_ONLY)
def community_create():
    form = request.form
    return run_action(
        lambda: services.create_community(form.get("name"), form.get("code"), form.get("address"),
                                          actor()),
        success="已创建小区：{r.name}", redirect_to=url_for("admin.communities"))


@bp.route("/communities/<int:community_id>")
@auth.require_role()
def community_detail(community_id: int):
    check_community(community_id)
    community = Community.get_by_id(community_id)
    buildings = list(Building.select().where(Building.community == community_id)
                     .order_by(Building.name))
    fmt = wants_export()
    counts = services.building_house_counts(community_id)
    if fmt:
        return export_response(f"{community.name}-楼栋", ["楼栋", "房屋数"],
                               ([b.name, counts.get(b.id, 0)] for b in buildings), fmt)
    return render_template("admin/property/community.html", community=community,
                           buildings=buildings, counts=counts)


@bp.route("/communities/<int:community_id>/edit", methods=["POST"])
@auth.require_role(*MANAGE)
def community_update(community_id: int):
    check_community(community_id)
    here = url_for("admin.community_detail", community_id=community_id)
    return run_action(
        lambda: services.update_community(community_id, request.form.get("name"),
                                          request.form.get("address"), actor()),
        success="已保存小区信息", redirect_to=here)


@bp.route("/communities/<int:community_id>/buildings", methods=["POST"])
@auth.require_role(*MANAGE)
def building_create(community_id: int):
    check_community(community_id)
    here = url_for("admin.community_detail", community_id=community_id)
    return run_action(
        lambda: services.create_building(community_id, request.form.get("name"), actor()),
        success="已添加楼栋：{r.name}", redirect_to=here)


def house_or_404(house_id: int):
    from server.property.models import House

    house = (House.select(House, Building, Community)
             .join(Building, on=(House.building == Building.id))
             .switch(House).join(Community, on=(House.community == Community.id))
             .where(House.id == house_id).first())
    if house is None:
        abort(404)
    check_community(house.community_id)
    return house


def back_to(default: str) -> str:
    """A same-site /admin path from the form's ``next`` field, else ``default``."""
    return safe_next(request.form.get("next"), default)


from server.admin.pages import (fees, imports_page, property_bindings,  # noqa: E402,F401
                                property_export, property_houses)
