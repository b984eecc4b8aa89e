"""A large house list is exported by a task (progress shown), then downloaded.

Up to ``EXPORT_INLINE_ROWS`` rows the list page answers the file itself.  Above
it the generic export task (``server.admin.exporting``, kind ``export_houses``)
streams the rows to ``<instance>/exports/houses-<task id>.<fmt>``.  This page's
own view of the task lets only the staff member who started it download the
file, and only while every community it covers is still theirs to see.
"""
from __future__ import annotations

from flask import abort, current_app, render_template, send_file, url_for

from server.admin import auth, exporting
from server.admin.common import permitted_community_ids, staff
from server.admin.views import bp
from server.property import services
from server.property.models import House, HouseStatus
from server.tasks import queries as task_queries
from server.tasks.models import AdminTask

EXPORT_INLINE_ROWS = 5000
CHUNK = 1000
HEADERS = ["小区", "楼栋", "单元", "房号", "面积(m²)", "状态", "登记业主", "登记手机号",
           "已绑定人数", "待审核"]
_STATUS = {HouseStatus.OCCUPIED: "已入住", HouseStatus.VACANT: "空置"}


def house_rows(houses) -> list[list]:
    """Export rows for a batch of houses (one grouped query for the binding counts)."""
    counts = services.binding_counts([h.id for h in houses])
    return [[h.community.name, h.building.name, h.unit, h.room_no, str(h.floor_area),
             _STATUS.get(h.status, h.status), h.owner_name, h.owner_phone,
             counts.get(h.id, {}).get("active", 0), counts.get(h.id, {}).get("pending", 0)]
            for h in houses]


def _query(params: dict):
    return services.search_houses(params["community_ids"], building_id=params.get("building_id"),
                                  room=params.get("room", ""), owner=params.get("owner", ""))


def _rows(params: dict):
    """The rows in batches of ``CHUNK`` houses (a binding-count query per batch)."""
    query = _query(params).order_by_extend(House.id)
    page = 1
    while batch := list(query.paginate(page, CHUNK)):
        yield from house_rows(batch)
        page += 1


HOUSES = exporting.register(exporting.ExportList(
    "houses", "房屋列表", HEADERS, count=lambda p: _query(p).count(), rows=_rows))


def start_export(community_ids: list[int], filters: dict, fmt: str) -> str:
    """Start the export task; the URL of its page."""
    task = exporting.start("houses", {"community_ids": community_ids, **filters}, fmt)
    return url_for("admin.house_export_task", task_id=task.id)


def _own_task(task_id: int) -> AdminTask:
    task = AdminTask.get_or_none(AdminTask.id == task_id, AdminTask.kind == HOUSES.kind)
    if task is None or task.staff_id != staff().id:
        abort(404)
    if not set(task.params["community_ids"]) <= set(permitted_community_ids()):
        abort(404)
    return task


@bp.route("/houses/exports/<int:task_id>")
@auth.require_role()
def house_export_task(task_id: int):
    return render_template("admin/property/export_task.html", task=_own_task(task_id))


@bp.route("/houses/exports/<int:task_id>/download")
@auth.require_role()
def house_export_download(task_id: int):
    task = _own_task(task_id)
    path = task_queries.export_file(task, current_app.instance_path)
    if path is None:
        abort(404, "导出文件尚未生成或已清理，请重新导出")
    return send_file(path, as_attachment=True, download_name=f"房屋列表.{task.params['fmt']}",
                     max_age=0)


exporting.tasks.register_module("server.admin.pages.property_export")
