"""抄表: the entry grid per community, metered fee item and period; recorded readings."""
from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, render_template, request, url_for

from server.admin import auth, common
from server.admin.pages import billing_common as bc
from server.admin.views import bp
from server.billing import meters, queries
from server.billing.models import FeeItem
from server.errors import DomainError
from server.property.models import Building, House
from server.timeutil import current_period, local_today

GRID_PAGE = 100
RECENT = 20
READING_HEADERS = ["小区", "楼栋", "单元", "房号", "收费项目", "账期", "上期读数", "本期读数", "用量",
                   "抄表日期", "来源", "录入人", "录入时间"]


def _chosen_item(item_id: int | None) -> FeeItem | None:
    if item_id is None:
        return None
    item = FeeItem.get_or_none(FeeItem.id == item_id)
    if item is None:
        abort(404)
    common.check_community(item.community_id)
    return item


def _grid(item: FeeItem | None, period: str, building_id: int | None):
    if item is None:
        return None, []
    page = common.paginate(queries.grid_meters(item.community_id, item.id, building_id), GRID_PAGE)
    factor = bc.config().METER_ANOMALY_FACTOR
    return page, queries.reading_grid(page.items, item.id, period, factor)


def _render(item, period, building_id, *, errors=None, values=None, read_on=None, status=200):
    ids = common.chosen_community_ids() if item is None else [item.community_id]
    page, rows = _grid(item, period, building_id)
    recent = list(queries.readings(ids, item.id if item else None).limit(RECENT))
    buildings = (Building.select().where(Building.community == item.community_id)
                 .order_by(Building.name) if item else [])
    body = render_template(
        "admin/billing/meter_readings.html", items=list(queries.metered_items(ids)), item=item,
        period=period, building_id=building_id, buildings=buildings, page=page, rows=rows,
        recent=recent, errors=errors or {}, values=values or {},
        read_on=read_on or local_today(), factor=bc.config().METER_ANOMALY_FACTOR, **bc.labels())
    return body, status


def _reading_rows(query):
    names = {c.id: c.name for c in common.permitted_communities()}
    for r in query.iterator():
        yield [names.get(r.house.community_id, ""), r.house.building.name, r.house.unit,
               r.house.room_no, r.fee_item.name, r.period, bc.r2(r.previous), bc.r2(r.current),
               bc.r2(r.usage), r.read_on, r.source, r.created_by.username if r.created_by_id else "",
               common.local_time(r.created_at)]


@bp.route("/meter-readings")
@auth.require_role()
def meter_readings():
    item = _chosen_item(bc.arg_int("fee_item"))
    period = bc.arg_period(default=current_period())
    if fmt := common.wants_export():
        ids = [item.community_id] if item else common.chosen_community_ids()
        query = queries.readings(ids, item.id if item else None, bc.arg_period())
        return common.export_response("抄表记录", READING_HEADERS, _reading_rows(query), fmt,
                                      sheet_title="抄表记录")
    return _render(item, period, bc.arg_int("building"))


@bp.route("/meter-readings/list")
@auth.require_role()
def meter_reading_list():
    item = _chosen_item(bc.arg_int("fee_item"))
    ids = [item.community_id] if item else common.chosen_community_ids()
    query = queries.readings(ids, item.id if item else None, bc.arg_period())
    if fmt := common.wants_export():
        return common.export_response("抄表记录", READING_HEADERS, _reading_rows(query), fmt,
                                      sheet_title="抄表记录")
    return render_template("admin/billing/reading_list.html", page=common.paginate(query),
                           items=list(queries.metered_items(common.chosen_community_ids())),
                           item=item, period=request.args.get("period", ""), **bc.labels())


@bp.route("/meter-readings", methods=["POST"])
@auth.require_role(*common.WRITE)
def save_meter_readings():
    item = _chosen_item(common.form_int("fee_item"))
    period = (request.form.get("period") or "").strip()
    building_id = request.form.get("building", type=int)
    back = url_for("admin.meter_readings", fee_item=item.id, period=period,
                   building=building_id or None, page=request.form.get("page") or None)
    values = {}
    for key, raw in request.form.items():
        if key.startswith("reading-") and raw.strip():
            try:
                values[int(key.removeprefix("reading-"))] = raw.strip()
            except ValueError:
                abort(400, "读数字段无效")
    try:
        read_on = dt.date.fromisoformat(request.form.get("read_on") or local_today().isoformat())
    except ValueError:
        flash("抄表日期格式应为 YYYY-MM-DD", "error")
        return redirect(back)
    try:
        saved = meters.record_readings(item.id, period, list(values.items()), read_on,
                                       common.actor())
    except DomainError as exc:
        rows = (exc.details or {}).get("rows")
        if not rows:
            flash(bc.zh(exc), "error")
            return redirect(back)
        errors = {int(house_id): bc.zh(_as_error(e)) for house_id, e in rows.items()}
        flash(f"有 {len(errors)} 行读数有误，本次没有保存任何读数，请修改后重新提交。", "error")
        return _render(item, period, building_id, errors=errors, values=values, read_on=read_on,
                       status=422)
    flash(f"已保存 {len(saved)} 条读数（{period}）。", "ok")
    return redirect(back)


def _as_error(row: dict) -> DomainError:
    return DomainError(row.get("message", ""), code=row.get("code"), details=row.get("details"))


# --- 换表/装表: one house's meter for one metered item ----------------------------------

def _meter_target() -> tuple[House, FeeItem]:
    """The house and item of ``?house=&fee_item=`` (404 when missing, unknown or not visible)."""
    try:
        house_id, item_id = (int(request.values.get(k) or "") for k in ("house", "fee_item"))
    except ValueError:
        abort(404)
    house = (House.select(House, Building).join(Building, on=(House.building == Building.id))
             .where(House.id == house_id).first())
    if house is None:
        abort(404)
    common.check_community(house.community_id)
    item = FeeItem.get_or_none(FeeItem.id == item_id)
    if item is None or item.community_id != house.community_id:
        abort(404)
    return house, item


def _render_meter(house, item, back, *, values=None, status=200):
    meter, last = meters.meter_state(house.id, item.id)
    body = render_template("admin/billing/meter_change.html", house=house, item=item, meter=meter,
                           last=last, back=back, values=values or {}, today=local_today(),
                           **bc.labels())
    return body, status


def _back(item: FeeItem, raw: str | None) -> str:
    return common.safe_next(raw, url_for("admin.meter_readings", fee_item=item.id))


@bp.route("/meter-readings/meter")
@auth.require_role()
def meter_change():
    house, item = _meter_target()
    return _render_meter(house, item, _back(item, request.args.get("next")))


@bp.route("/meter-readings/meter", methods=["POST"])
@auth.require_role(*common.WRITE)
def save_meter_change():
    house, item = _meter_target()
    back = _back(item, request.form.get("next"))
    values = {k: (request.form.get(k) or "").strip() for k in
              ("mode", "serial", "on", "start_reading", "old_final_reading", "new_start_reading")}
    if values["mode"] not in ("install", "replace"):
        abort(400, "操作类型无效")
    try:
        on = dt.date.fromisoformat(values["on"] or local_today().isoformat())
    except ValueError:
        flash("日期格式应为 YYYY-MM-DD", "error")
        return _render_meter(house, item, back, values=values, status=422)
    try:
        if values["mode"] == "install":
            meters.install_meter(house.id, item.id, values["start_reading"], on,
                                 serial=values["serial"], actor=common.actor())
            done = f"已为 {bc.house_label(house)} 安装{item.name}表，起始读数 {values['start_reading']}。"
        else:
            meters.replace_meter(house.id, item.id, values["old_final_reading"],
                                 values["new_start_reading"], on, serial=values["serial"],
                                 actor=common.actor())
            done = (f"已为 {bc.house_label(house)} 登记换表：旧表最终读数 {values['old_final_reading']}，"
                    f"新表起始读数 {values['new_start_reading']}。")
    except DomainError as exc:
        flash(bc.zh(exc), "error")
        return _render_meter(house, item, back, values=values, status=422)
    flash(done, "ok")
    return redirect(back)
