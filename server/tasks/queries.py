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
    "export_bills": "导出账单",
    "export_arrears": "导出欠费明细",
    "export_offline_payments": "导出线下收款",
    "export_orders": "导出支付订单",
    "export_refunds": "导出退款",
    "export_audit": "导出操作日志",
    "reconcile": "对账",
    "reminder_campaign": "催缴提醒活动",
}
STATUS_LABELS = {TaskStatus.QUEUED: "排队中", TaskStatus.RUNNING: "进行中",
                 TaskStatus.DONE: "已完成", TaskStatus.FAILED: "失败"}
EXPORTS_DIR = "exports"
# The keys handlers put in their results, in the staff's words (unknown keys show as they are).
RESULT_LABELS = {"run_id": "批次", "bills_created": "新建账单", "bills_existing": "已有账单",
                 "total_fen": "金额", "rows": "行数", "created": "新建", "updated": "更新", "skipped": "跳过",
                 "errors": "错误", "sent": "已发送", "failed": "失败", "queued": "排队", "bills": "账单数",
                 "owners": "业主数", "differences": "差异", "count": "数量", "format": "格式"}


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
    """The counts of a result as one line in Chinese (``file`` left out): ``新建 12，跳过 3``."""
    result = task.result or {}
    if not isinstance(result, dict):
        return str(result)
    return "，".join(f"{RESULT_LABELS.get(k, k)} {_value(k, v)}" for k, v in result.items()
                    if k != "file" and not isinstance(v, (dict, list)))


def _value(key: str, value) -> str:
    if key.endswith("_fen") and isinstance(value, int) and not isinstance(value, bool):
        from server.money import format_yuan

        return f"{format_yuan(value)} 元"
    return str(value)


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
