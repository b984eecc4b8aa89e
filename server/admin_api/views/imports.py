"""``POST /imports/{kind}``: houses, meter readings or opening arrears from a CSV/XLSX file."""
from __future__ import annotations

import hashlib
import pathlib

from flask import current_app, request

from server import tasks
from server.admin_api import lists
from server.admin_api.blueprint import bp
from server.admin_api.contract import WRITE, StaffContext, staff_operation
from server.admin_api.schemas.system import ImportOut, ImportQuery
from server.errors import NotFound, ValidationError
from server.imports import IMPORTERS
from server.tasks.models import AdminTask

MULTIPART = {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream",
                            "description": "CSV (UTF-8) or XLSX, with the headers of the staff "
                                           "pages' import template"}}}}}


def _rejected(view: dict) -> ValidationError:
    details = {f"row.{r['row']}": "；".join(f"{m['field']}：{m['text']}" if m["field"] else m["text"]
                                           for m in r["messages"])
               for r in view["rows"] if r["status"] == "error"}
    details.update({f"file.{n}": text for n, text in enumerate(view["file_errors"])})
    return ValidationError("导入文件有误，整批未导入", code="IMPORT_REJECTED", details=details)


@bp.post("/imports/<kind>")
@staff_operation("Import a file: a dry run reports every row; a real run is all or nothing",
                 tag="imports", roles=WRITE, query=ImportQuery, response=ImportOut,
                 more_statuses=(202,))
def import_file(staff: StaffContext, kind: str, query: ImportQuery):
    """``kind``: ``houses``, ``readings`` or ``arrears``; the file in the multipart field
    ``file``.  A file with any bad row is refused whole: 422 ``IMPORT_REJECTED`` with
    ``details`` keyed ``row.<n>`` (and ``file.<n>``).  Importing the same file again creates
    nothing new.  A file over 256 KB runs as a task (202 with ``task``; its result is the report)."""
    from server.admin.pages.imports_page import INLINE_MAX_BYTES, KIND_LABELS, report_view

    if kind not in IMPORTERS:
        raise NotFound("导入类型不存在", details={"kind": f"one of {', '.join(IMPORTERS)}"})
    staff.check(query.community_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("请上传文件", details={"file": "a multipart file field named file"})
    filename = pathlib.PurePath(upload.filename).name[:100]
    data = upload.read()
    if len(data) > INLINE_MAX_BYTES:
        sha256 = hashlib.sha256(data).hexdigest()
        folder = pathlib.Path(current_app.instance_path) / "uploads" / "imports"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / sha256).write_bytes(data)
        label = f"{'检查' if query.dry_run else '导入'}{KIND_LABELS[kind]}：{filename}"
        task = tasks.start("import", {"kind": kind, "community_id": query.community_id, "sha256": sha256,
                                      "filename": filename, "dry_run": query.dry_run,
                                      "upload_dir": str(folder)},
                           staff.actor, community_id=query.community_id, label=label[:128])
        return {"report": None, "task": lists.task_dict(AdminTask.get_by_id(task.id))}, 202
    report = IMPORTERS[kind](data, query.community_id, staff.actor, dry_run=query.dry_run,
                             filename=filename)
    view = report_view(report)
    if report.has_errors:
        raise _rejected(view)
    return {"report": view, "task": None}

