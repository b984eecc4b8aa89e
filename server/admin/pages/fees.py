"""Staff pages: fee items and their versioned standards (draft → publish)."""
from __future__ import annotations

import datetime as dt
import re

from flask import abort, render_template, request, url_for

from server.admin import auth
from server.admin.common import (MANAGE, WRITE, actor, check_community, chosen_community_ids,
                                 export_response, paginate, permitted_communities, run_action,
                                 wants_export)
from server.admin.views import bp
from server.billing import standards
from server.billing.models import Cycle, FeeItem, FeeStandard, Method, StandardStatus
from server.errors import DomainError
from server.property.models import Community
from server.timeutil import local_today

METHOD_LABELS = {Method.FIXED: "固定（每户每月）", Method.PER_AREA: "按面积（每m²每月）",
                 Method.METERED: "按用量（抄表）"}
CYCLE_LABELS = {Cycle.MONTHLY: "按月", Cycle.QUARTERLY: "按季", Cycle.YEARLY: "按年"}
STATUS_LABELS = {StandardStatus.DRAFT: "草稿", StandardStatus.PUBLISHED: "已发布"}
FIELD_LABELS = standards.FIELD_LABELS


def chinese(exc: DomainError) -> DomainError:
    """The refusal as it is: the domain says it in Chinese.  (Kept for
    ``server.admin_api.views.fees``, which can drop its wrapper.)"""
    return exc


def _form_values() -> dict:
    form = request.form

    def integer(name, default):
        raw = (form.get(name) or "").strip()
        if not raw:
            return default
        if not re.fullmatch(r"-?\d+", raw):
            raise DomainError(f"{FIELD_LABELS[name]}应为整数", code="VALIDATION_ERROR", status=422)
        return int(raw)

    def date(name, required):
        raw = (form.get(name) or "").strip()
        if not raw:
            if required:
                raise DomainError(f"请填写{FIELD_LABELS[name]}", code="VALIDATION_ERROR", status=422)
            return None
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            raise DomainError(f"{FIELD_LABELS[name]}格式应为 YYYY-MM-DD", code="VALIDATION_ERROR",
                              status=422) from None

    # Decimals stay text here: the domain turns them into Decimal exactly (no float).
    return {
        "method": form.get("method", ""), "unit_price": (form.get("unit_price") or "").strip(),
        "unit": form.get("unit", ""), "cycle": form.get("cycle", Cycle.MONTHLY),
        "due_day": integer("due_day", 15),
        "late_fee_daily_rate": (form.get("late_fee_daily_rate") or "0").strip(),
        "late_fee_grace_days": integer("late_fee_grace_days", 0),
        "late_fee_cap_ratio": (form.get("late_fee_cap_ratio") or "0").strip(),
        "effective_from": date("effective_from", True), "effective_to": date("effective_to", False),
        "note": form.get("note", ""),
    }


def _item_or_404(item_id: int) -> FeeItem:
    item = FeeItem.get_or_none(FeeItem.id == item_id)
    if item is None:
        abort(404)
    check_community(item.community_id)
    return item


def _standard_or_404(standard_id: int) -> FeeStandard:
    standard = FeeStandard.get_or_none(FeeStandard.id == standard_id)
    if standard is None:
        abort(404)
    _item_or_404(standard.fee_item_id)
    return standard


def _in_force(versions: list[FeeStandard], today: dt.date) -> tuple:
    """(current, upcoming) among one item's versions, as ``standard_for`` decides."""
    published = sorted((s for s in versions if s.status == StandardStatus.PUBLISHED),
                       key=lambda s: (s.effective_from, s.version))
    current = None
    for s in published:
        if s.effective_from <= today:
            current = s
    if current is not None and current.effective_to and current.effective_to < today:
        current = None
    upcoming = [s for s in published if s.effective_from > today]
    return current, (upcoming[0] if upcoming else None)


@bp.route("/fee-items")
@auth.require_role()
def fee_items():
    ids = chosen_community_ids()
    query = (FeeItem.select(FeeItem, Community).join(Community)
             .where(FeeItem.community.in_(ids)).order_by(Community.code, FeeItem.code))
    fmt = wants_export()
    items = list(query) if fmt else None
    page = None if fmt else paginate(query)
    items = items if fmt else page.items
    versions: dict[int, list[FeeStandard]] = {}
    for s in (FeeStandard.select().where(FeeStandard.fee_item.in_([i.id for i in items]))
              .order_by(FeeStandard.version)):
        versions.setdefault(s.fee_item_id, []).append(s)
    today = local_today()
    if fmt:
        return export_response(
            "收费标准", ["小区", "项目编码", "项目名称", "版本", "状态", "计费方式", "单价", "单位",
                     "周期", "缴费日", "生效日期", "截止日期"],
            ([i.community.name, i.code, i.name, s.version, STATUS_LABELS[s.status],
              METHOD_LABELS.get(s.method, s.method), str(s.unit_price), s.unit,
              CYCLE_LABELS.get(s.cycle, s.cycle), s.due_day, s.effective_from, s.effective_to]
             for i in items for s in versions.get(i.id, [])), fmt)
    in_force = {i.id: _in_force(versions.get(i.id, []), today) for i in items}
    drafts = {i.id: sum(s.status == StandardStatus.DRAFT for s in versions.get(i.id, []))
              for i in items}
    return render_template("admin/fees/items.html", page=page, in_force=in_force, drafts=drafts,
                           communities=list(permitted_communities()),
                           selected=request.args.get("community", ""), today=today,
                           method_labels=METHOD_LABELS, cycle_labels=CYCLE_LABELS)


@bp.route("/fee-items", methods=["POST"])
@auth.require_role(*WRITE)
def fee_item_create():
    raw = request.form.get("community", "")
    community_id = int(raw) if raw.isdigit() else None
    check_community(community_id)
    create = standards.create_fee_item
    return run_action(
        lambda: create(community_id, request.form.get("code"), request.form.get("name"), actor()),
        success="已创建收费项目：{r.name}", redirect_to=url_for("admin.fee_items"))


@bp.route("/fee-items/<int:item_id>")
@auth.require_role()
def fee_item_detail(item_id: int):
    item = _item_or_404(item_id)
    versions = list(FeeStandard.select().where(FeeStandard.fee_item == item.id)
                    .order_by(FeeStandard.version.desc()))
    today = local_today()
    current, upcoming = _in_force(versions, today)
    return render_template("admin/fees/item.html", item=item, versions=versions, current=current,
                           upcoming=upcoming, today=today, template=versions[0] if versions else None,
                           method_labels=METHOD_LABELS, cycle_labels=CYCLE_LABELS,
                           status_labels=STATUS_LABELS)


@bp.route("/fee-items/<int:item_id>/standards", methods=["POST"])
@auth.require_role(*WRITE)
def fee_standard_create(item_id: int):
    item = _item_or_404(item_id)
    here = url_for("admin.fee_item_detail", item_id=item.id)
    create = standards.create_standard
    return run_action(lambda: create(item.id, actor(), **_form_values()),
                      success="已创建草稿版本 v{r.version}", redirect_to=here)


@bp.route("/fee-standards/<int:standard_id>/edit")
@auth.require_role()
def fee_standard_edit(standard_id: int):
    standard = _standard_or_404(standard_id)
    return render_template("admin/fees/standard_edit.html", standard=standard,
                           item=standard.fee_item, method_labels=METHOD_LABELS,
                           cycle_labels=CYCLE_LABELS, status_labels=STATUS_LABELS)


@bp.route("/fee-standards/<int:standard_id>/edit", methods=["POST"])
@auth.require_role(*WRITE)
def fee_standard_update(standard_id: int):
    standard = _standard_or_404(standard_id)
    update = standards.update_draft
    return run_action(lambda: update(standard.id, actor(), **_form_values()),
                      success="已保存草稿 v{r.version}",
                      redirect_to=url_for("admin.fee_item_detail", item_id=standard.fee_item_id),
                      error_redirect=url_for("admin.fee_standard_edit", standard_id=standard.id))


@bp.route("/fee-standards/<int:standard_id>/publish", methods=["POST"])
@auth.require_role(*MANAGE)
def fee_standard_publish(standard_id: int):
    standard = _standard_or_404(standard_id)
    publish = standards.publish_standard
    return run_action(lambda: publish(standard.id, actor()),
                      success="已发布 v{r.version}，自 {r.effective_from} 起生效",
                      redirect_to=url_for("admin.fee_item_detail", item_id=standard.fee_item_id))
