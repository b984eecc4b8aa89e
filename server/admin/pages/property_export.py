"""A large house list is exported by a task (progress shown), then downloaded.

Up to ``EXPORT_INLINE_ROWS`` rows the list page answers the file itself.  The
task writes the file under ``<instance>/exports/`` named by the task id; only
the staff member who started it may download it, and only while every
community it covers is still theirs to see.
"""
from __future__ import annotations

import pathlib

from flask import abort, current_app, render_template, send_file, url_for

from server import tasks
from server.admin import auth
from server.admin.common import actor, permitted_community_ids, staff
from server.admin.views import bp
from server.property import services
from server.property.models import HouseStatus
from server.tasks.models import AdminTask, TaskStatus

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


def start_export(community_ids: list[int], filters: dict, fmt: str):
    params = {"community_ids": community_ids, "fmt": fmt, **filters,
              "out_dir": str(pathlib.Path(current_app.instance_path) / "exports")}
    task = tasks.start("export_houses", params, actor(),
                       community_id=community_ids[0] if len(community_ids) == 1 else None,
                       label=f"导出房屋列表（{fmt.upper()}）")
    return url_for("admin.house_export_task", task_id=task.id)


def _own_task(task_id: int) -> AdminTask:
    task = AdminTask.get_or_none(AdminTask.id == task_id, AdminTask.kind == "export_houses")
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
    if task.status != TaskStatus.DONE:
        abort(404)
    path = pathlib.Path(task.params["out_dir"]) / f"houses-{task.id}.{task.params['fmt']}"
    if not path.exists():
        abort(404, "导出文件已不存在，请重新导出")
    return send_file(path, as_attachment=True, download_name=f"房屋列表.{task.params['fmt']}")


@tasks.handler("export_houses")
def _export_task(task, progress) -> dict:
    from server.admin.common import export_response

    p = task.params
    query = services.search_houses(p["community_ids"], building_id=p.get("building_id"),
                                   room=p.get("room", ""), owner=p.get("owner", ""))
    total = query.count()
    progress.total(total)
    rows: list[list] = []
    for page in range(1, total // CHUNK + 2):
        batch = list(query.paginate(page, CHUNK))
        rows.extend(house_rows(batch))
        progress.advance(len(batch))
    progress.flush()
    body = export_response("房屋列表", HEADERS, rows, p["fmt"]).get_data()
    out = pathlib.Path(p["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    (out / f"houses-{task.id}.{p['fmt']}").write_bytes(body)
    return {"rows": total}


tasks.register_module("server.admin.pages.property_export")
