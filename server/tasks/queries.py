"""Reading task rows for the staff pages: names in Chinese, scope, the produced file.

A handler that writes a file (an export) returns ``{"file": "<name>", ...}``
where the name is relative to ``<instance>/exports/`` (an absolute path inside
that folder is accepted too).  ``export_file`` resolves it and refuses anything
outside the folder, so a task result can never serve another file.
"""
from __future__ import annotations

from pathlib import Path

from server.tasks.models import AdminTask, TaskStatus

# The kinds the other modules register, in the staff's words; unknown kinds show
# the task's own label.
KIND_LABELS = {    # every kind registered with @tasks.handler (see jobs/tasks.py)
    "billing_issue": "计费开账",
    "import": "导入",
    "export_houses": "导出房屋",
    "reconcile": "对账",
    "reminder_campaign": "催缴提醒活动",
}
STATUS_LABELS = {TaskStatus.QUEUED: "排队中", TaskStatus.RUNNING: "进行中",
                 TaskStatus.DONE: "已完成", TaskStatus.FAILED: "失败"}
EXPORTS_DIR = "exports"


def kind_label(task: AdminTask) -> str:
    return KIND_LABELS.get(task.kind) or task.label or task.kind


def visible(community_ids, *, include_global: bool = False, staff_id: int | None = None,
            status: str = "", kind: str = ""):
    """Tasks of ``community_ids``, newest first, plus those of no community: all of
    them for admins (``include_global``), else the ones ``staff_id`` started."""
    scope = AdminTask.community_id.in_(list(community_ids) or [-1])
    if include_global:
        scope = scope | AdminTask.community_id.is_null()
    elif staff_id is not None:
        scope = scope | (AdminTask.community_id.is_null() & (AdminTask.staff_id == staff_id))
    query = AdminTask.select().where(scope)
    if status:
        query = query.where(AdminTask.status == status)
    if kind:
        query = query.where(AdminTask.kind == kind)
    return query.order_by(AdminTask.created_at.desc(), AdminTask.id.desc())


def result_summary(task: AdminTask) -> str:
    """The counts of a result as one line (``file`` left out): ``created=12, skipped=3``."""
    result = task.result or {}
    if not isinstance(result, dict):
        return str(result)
    return ", ".join(f"{k}={v}" for k, v in result.items()
                     if k != "file" and not isinstance(v, (dict, list)))


def export_file(task: AdminTask, instance_path: str | Path) -> Path | None:
    """The file a finished task produced, if it is an existing file under
    ``<instance>/exports/``; else None."""
    if task.status != TaskStatus.DONE or not isinstance(task.result, dict):
        return None
    name = task.result.get("file")
    if not isinstance(name, str) or not name or "\x00" in name:
        return None
    root = (Path(instance_path) / EXPORTS_DIR).resolve()
    candidate = Path(name)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        path = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not path.is_relative_to(root) or path == root or not path.is_file():
        return None
    return path
