"""Staff pages: imports of houses, meter readings and opening arrears (CSV/XLSX).

Always a dry run first: the row report is shown and nothing is written.  A file
with any bad row is refused whole; a clean one can then be imported (all or
nothing, and importing it again creates nothing new — ``server.imports``).

Small files (≤ ``INLINE_MAX_BYTES``) run in the request: the dry-run page
carries the file itself (base64) in its confirm form, so nothing is kept on the
server between the two steps.  Bigger files run as a task (``server.tasks``)
with progress; the upload is kept under ``<instance>/uploads/imports/`` by its
SHA-256 (workers on other machines need that directory shared).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import pathlib
import re

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from server import tasks
from server.admin import auth
from server.admin.common import (WRITE, actor, check_community, export_response,
                                 permitted_communities)
from server.admin.views import bp
from server.audit import Actor
from server.errors import DomainError
from server.imports import IMPORTERS
from server.imports.fields import LABELS
from server.imports.report import RowStatus
from server.tasks.models import AdminTask

# Inline files travel back base64-encoded in a form field: 256 KB → ~350 KB, under
# Flask's MAX_FORM_MEMORY_SIZE (500 KB) for non-file fields.
INLINE_MAX_BYTES = 256 * 1024
REPORT_ROWS = 500  # rows kept in a task's stored report (errors first)
KIND_LABELS = {"houses": "房屋与业主", "readings": "抄表读数", "arrears": "期初欠费"}
TEMPLATE_FIELDS = {
    "houses": ("building", "unit", "room", "area", "owner_name", "phone", "status"),
    "readings": ("building", "unit", "room", "fee_item", "period", "previous", "current", "read_on"),
    "arrears": ("building", "unit", "room", "fee_item", "period", "amount", "due_date"),
}
_EXTENSIONS = (".csv", ".txt", ".xlsx", ".xlsm")


def report_view(report, limit: int | None = None) -> dict:
    """The report as plain data for the template (and a task's stored result)."""
    ordered = report.errors() + [r for r in report.rows if r.status != RowStatus.ERROR]
    rows = [{"row": r.row, "status": r.status, "label": RowStatus.LABELS[r.status], "key": r.key,
             "messages": [{"field": LABELS.get(m.field, m.field or ""), "text": m.text, "code": m.code}
                          for m in r.messages]} for r in ordered[:limit]]
    return {"kind": report.kind, "filename": report.filename, "sha256": report.sha256,
            "dry_run": report.dry_run, "committed": report.committed,
            "has_errors": report.has_errors, "counts": report.counts, "summary": report.summary(),
            "file_errors": [m.text for m in report.file_errors], "notes": list(report.notes),
            "rows": rows, "rows_omitted": max(0, len(ordered) - len(rows))}


def _upload_dir() -> pathlib.Path:
    path = pathlib.Path(current_app.instance_path) / "uploads" / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _choice():
    kind = request.form.get("kind", "")
    if kind not in IMPORTERS:
        raise DomainError("请选择导入类型", code="VALIDATION_ERROR", status=422)
    raw = request.form.get("community", "")
    community_id = int(raw) if raw.isdigit() else None
    check_community(community_id)
    return kind, community_id


@bp.route("/imports")
@auth.require_role()
def imports():
    recent = list(AdminTask.select().where(AdminTask.kind == "import",
                                           AdminTask.community_id.in_(
                                               [c.id for c in permitted_communities()]))
                  .order_by(AdminTask.id.desc()).limit(10))
    return render_template("admin/imports/index.html", communities=list(permitted_communities()),
                           kinds=KIND_LABELS, recent=recent, max_inline=INLINE_MAX_BYTES)


@bp.route("/imports/template/<kind>.<any(csv, xlsx):fmt>")
@auth.require_role()
def import_template(kind: str, fmt: str):
    if kind not in TEMPLATE_FIELDS:
        abort(404)
    headers = [LABELS[f] for f in TEMPLATE_FIELDS[kind]]
    return export_response(f"导入模板-{KIND_LABELS[kind]}", headers, [], fmt)


@bp.route("/imports", methods=["POST"])
@auth.require_role(*WRITE)
def import_upload():
    """Step 1: a dry run of the uploaded file (inline, or a task for a big file)."""
    try:
        kind, community_id = _choice()
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.imports"))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash("请选择要导入的文件", "error")
        return redirect(url_for("admin.imports"))
    filename = pathlib.PurePath(upload.filename).name
    if not filename.lower().endswith(_EXTENSIONS):
        flash("只支持 CSV 或 Excel（.xlsx）文件", "error")
        return redirect(url_for("admin.imports"))
    data = upload.read()
    if len(data) > INLINE_MAX_BYTES:
        return _start_task(kind, community_id, data, filename, dry_run=True)
    return _run_inline(kind, community_id, data, filename, dry_run=True)


@bp.route("/imports/commit", methods=["POST"])
@auth.require_role(*WRITE)
def import_commit():
    """Step 2: import the file that passed its dry run (validated again, all or nothing)."""
    try:
        kind, community_id = _choice()
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("admin.imports"))
    filename = pathlib.PurePath(request.form.get("filename") or "import.csv").name
    sha256 = request.form.get("sha256", "")
    if request.form.get("content"):
        try:
            data = base64.b64decode(request.form["content"], validate=True)
        except (binascii.Error, ValueError):
            abort(400, "文件内容无效，请重新上传")
        if hashlib.sha256(data).hexdigest() != sha256:
            abort(400, "文件内容与检查时不一致，请重新上传")
        return _run_inline(kind, community_id, data, filename, dry_run=False)
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        abort(400, "缺少文件，请重新上传")
    path = _upload_dir() / sha256
    if not path.exists():
        flash("上传的文件已不在服务器上，请重新上传", "error")
        return redirect(url_for("admin.imports"))
    return _start_task(kind, community_id, None, filename, dry_run=False, sha256=sha256)


def _run_inline(kind: str, community_id: int, data: bytes, filename: str, *, dry_run: bool):
    report = IMPORTERS[kind](data, community_id, actor(), dry_run=dry_run, filename=filename)
    view = report_view(report)
    if report.committed:
        flash(f"导入完成：{report.summary()}", "ok")
        return redirect(url_for("admin.imports"))
    content = base64.b64encode(data).decode() if dry_run and not report.has_errors else ""
    status = 422 if report.has_errors else 200
    return render_template("admin/imports/report.html", report=view, kind=kind,
                           kind_label=KIND_LABELS[kind], community_id=community_id,
                           content=content, task=None), status


def _start_task(kind: str, community_id: int, data: bytes | None, filename: str, *,
                dry_run: bool, sha256: str | None = None):
    if data is not None:
        sha256 = hashlib.sha256(data).hexdigest()
        (_upload_dir() / sha256).write_bytes(data)
    label = f"{'检查' if dry_run else '导入'}{KIND_LABELS[kind]}：{filename}"
    task = tasks.start("import", {"kind": kind, "community_id": community_id, "sha256": sha256,
                                  "filename": filename, "dry_run": dry_run,
                                  "upload_dir": str(_upload_dir())},
                       actor(), community_id=community_id, label=label[:128])
    return redirect(url_for("admin.import_task", task_id=task.id))


@bp.route("/imports/tasks/<int:task_id>")
@auth.require_role()
def import_task(task_id: int):
    task = AdminTask.get_or_none(AdminTask.id == task_id, AdminTask.kind == "import")
    if task is None:
        abort(404)
    check_community(task.community_id)
    kind = task.params["kind"]
    return render_template("admin/imports/report.html", report=task.result or None, kind=kind,
                           kind_label=KIND_LABELS[kind], community_id=task.community_id,
                           content="", task=task)


def _specs() -> dict:
    """The import pipelines by kind (``IMPORTERS`` minus their wrappers, so the task
    can pass a progress hook to ``run_import``)."""
    from server.imports import arrears, houses, readings

    return {"houses": houses.SPEC, "readings": readings.SPEC, "arrears": arrears.SPEC}


@tasks.handler("import")
def _import_task(task, progress) -> dict:
    """Run one import (dry run or real) of a stored upload; the report is the result.
    Progress counts the data rows validated (done/total on the task page)."""
    from server.imports.common import run_import

    params = task.params
    path = pathlib.Path(params["upload_dir"]) / params["sha256"]
    if not path.exists():
        raise DomainError("上传的文件已被清理，请重新上传", code="NOT_FOUND", status=404)
    who = Actor("staff", task.created_by, task.staff_id)

    def on_row(done: int, total: int) -> None:
        if done == 0:
            progress.total(total)
        elif done > progress.done:
            progress.advance(done - progress.done)

    report = run_import(_specs()[params["kind"]], path.read_bytes(), params["community_id"], who,
                        dry_run=params["dry_run"], filename=params["filename"], progress=on_row)
    progress.flush()
    return report_view(report, limit=REPORT_ROWS)


tasks.register_module("server.admin.pages.imports_page")
