"""List exports that grow into background tasks.

A list page hands its export to ``respond(name, params, fmt)``: up to
``EXPORT_INLINE_ROWS`` rows (config) the file is answered in the request as
before; above it a task ``export_<name>`` is started and the staff member is
sent to its page (``/admin/tasks/<id>``), where the progress shows and the file
is downloadable when done.

The task streams the rows into ``<instance>/exports/<name>-<task id>.<fmt>``
with progress.  ``params`` (JSON-able) always carry ``community_ids``: the
communities chosen in the request, recorded at start and checked again in the
handler against the starting staff member's permissions as they are *then*,
so the file never holds a row of a community they may not see.  Rows are the
same as the in-request export's (same row builder, same cell conversion), so
a file's totals equal the list's.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from flask import current_app, flash, redirect, url_for

from server import tasks
from server.errors import DomainError

DEFAULT_INLINE_ROWS = 5000


@dataclass(frozen=True)
class ExportList:
    """One exportable list: its file title, headers and, from ``params``, how many
    rows it has and the rows themselves (streamed; no request context needed)."""

    name: str
    title: str
    headers: Sequence[str]
    count: Callable[[dict], int]
    rows: Callable[[dict], Iterable[Sequence]]
    # Optional extra re-check in the task: (params, starting staff member) -> params,
    # e.g. rows without a community only while the starter is still an admin.
    scope: Callable[[dict, object], dict] | None = None

    @property
    def kind(self) -> str:
        return f"export_{self.name}"


LISTS: dict[str, ExportList] = {}


def register(export_list: ExportList) -> ExportList:
    """Make ``export_list`` exportable and its task kind known (call at import time)."""
    LISTS[export_list.name] = export_list
    tasks.handler(export_list.kind)(_handler_for(export_list.name))
    return export_list


def inline_limit() -> int:
    return int(current_app.config.get("EXPORT_INLINE_ROWS", DEFAULT_INLINE_ROWS))


def exports_dir() -> pathlib.Path:
    from server.tasks.queries import EXPORTS_DIR

    return pathlib.Path(current_app.instance_path) / EXPORTS_DIR


def respond(name: str, params: dict, fmt: str, *, limit: int | None = None):
    """The export of list ``name``: the file now, or a task and a redirect to it."""
    from server.admin.common import export_response

    export_list = LISTS[name]
    if export_list.count(params) <= (inline_limit() if limit is None else limit):
        return export_response(export_list.title, export_list.headers, export_list.rows(params), fmt,
                               sheet_title=export_list.title)
    task = start(name, params, fmt)
    flash(f"数据较多，已转为后台任务导出（#{task.id}），完成后可在本页下载。", "ok")
    return redirect(url_for("admin.task_detail", task_id=task.id))


def start(name: str, params: dict, fmt: str):
    """Start the export task of list ``name`` for the signed-in staff member."""
    from server.admin.common import actor

    export_list = LISTS[name]
    ids = [int(i) for i in params["community_ids"]]
    full = {**params, "community_ids": ids, "fmt": fmt, "out_dir": str(exports_dir())}
    return tasks.start(export_list.kind, full, actor(),
                       community_id=ids[0] if len(ids) == 1 else None,
                       label=f"导出{export_list.title}（{fmt.upper()}）")


def cell(value):
    """A value as the in-request export writes it (``common.cell``)."""
    from server.admin.common import cell as common_cell

    return common_cell(value)


def check_scope(task) -> list[int]:
    """The task's communities, if its starter may still see every one of them;
    else the export is refused (fail closed)."""
    from server.admin.auth import staff_communities
    from server.staff.models import StaffUser

    user = StaffUser.get_or_none(StaffUser.id == task.staff_id) if task.staff_id else None
    if user is None or not user.active:
        raise DomainError("发起导出的员工账号已停用，导出已取消", code="FORBIDDEN", status=403)
    asked = [int(i) for i in task.params.get("community_ids") or []]
    allowed = {c.id for c in staff_communities(user)}
    if not asked or not set(asked) <= allowed:
        raise DomainError("发起人已无权查看所选小区，导出已取消", code="FORBIDDEN", status=403)
    return asked


def _handler_for(name: str):
    def export_task(task, progress) -> dict:
        from server.imports.writers import table_writer

        export_list = LISTS[name]
        params = {**task.params, "community_ids": check_scope(task)}
        if export_list.scope is not None:
            from server.staff.models import StaffUser

            params = export_list.scope(params, StaffUser.get_by_id(task.staff_id))
        fmt = params["fmt"]
        if fmt not in ("csv", "xlsx"):
            raise DomainError("导出格式应为 csv 或 xlsx", code="VALIDATION_ERROR", status=422)
        progress.total(export_list.count(params))
        out = pathlib.Path(params["out_dir"])
        out.mkdir(parents=True, exist_ok=True)
        filename = f"{name}-{task.id}.{fmt}"
        partial = out / f".{filename}.part"
        rows = 0
        try:
            with table_writer(partial, fmt, list(export_list.headers),
                              sheet_title=export_list.title[:31]) as sink:
                for row in export_list.rows(params):
                    sink.write([cell(v) for v in row])
                    rows += 1
                    progress.advance()
            partial.replace(out / filename)  # a half-written file is never served
        finally:
            partial.unlink(missing_ok=True)
        progress.total(rows)
        progress.flush()
        return {"rows": rows, "file": filename}

    export_task.__name__ = f"export_{name}_task"
    return export_task
