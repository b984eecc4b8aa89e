"""Staff pages: operations — reconciliation, disputes, reminders and campaigns, alerts.

The routes live in ``operations_recon``, ``operations_disputes``,
``operations_reminders`` and ``operations_alerts``; the long operations they
start (a reconciliation run, a reminder campaign) are the task handlers of
``operations_tasks``.  What they share is here: Chinese labels and the
translation of the domain's refusals into the message staff read.

Who sees merchant-wide records: reconciliation days and alerts of no community
belong to the whole WeChat Pay merchant, so their figures are shown to admins
only; other staff see the differences and alerts of their own communities
(see ``server.reconciliation.queries``).
"""
from __future__ import annotations

from typing import Callable

from server import tasks
from server.admin import common
from server.errors import DomainError
from server.staff.models import StaffRole

tasks.register_module("server.admin.pages.operations_tasks")

# Refusals whose domain message is English or too terse, by code.
MESSAGES = {
    "BALANCE_NEGATIVE": "调整后账单余额不能小于零",
    "BILL_VOID": "账单已作废，不能调整",
    "BILL_HAS_PAYMENTS": "账单已有收款，不能作废；请先退款",
    "DISPUTE_CLOSED": "该异议已结束，不能再回复或处理",
    "DISPUTE_NOT_FOUND": "异议不存在",
    "ALREADY_DECIDED": "该调整已审批过",
}
VALIDATION_FIELDS = {"amount_fen": "金额", "reason": "原因", "note": "处理说明", "text": "内容",
                     "kind": "调整类型"}


def chinese(exc: DomainError) -> DomainError:
    """The refusal with a message staff can read (the code and details are kept)."""
    message = MESSAGES.get(exc.code)
    if message is None and exc.code == "VALIDATION_ERROR" and not _has_cjk(exc.message):
        fields = "、".join(VALIDATION_FIELDS.get(k, k) for k in exc.details) or "输入"
        message = f"{fields}不正确：{exc.message}"
    if message is None:
        return exc
    return DomainError(message, code=exc.code, status=exc.status, details=exc.details)


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def act(fn: Callable, *, success: str, redirect_to: str):
    """``common.run_action`` with the refusal's message in Chinese."""
    def call():
        try:
            return fn()
        except DomainError as exc:
            raise chinese(exc) from exc

    return common.run_action(call, success=success, redirect_to=redirect_to)


def is_admin() -> bool:
    return common.staff().role == StaffRole.ADMIN


def scope_ids() -> list[int] | None:
    """None for admins (everything, including records of no community), else the
    permitted communities."""
    return None if is_admin() else common.permitted_community_ids()


def check_scope(community_id: int | None) -> None:
    """404 unless the record's community is visible (admins see records of none too)."""
    if community_id is None and is_admin():
        return
    common.check_community(community_id)


def start_task(kind: str, params: dict, *, label: str, community_id: int | None = None):
    """Start a task.  When the job runs inline (development, tests) and fails, the task row
    holds the error and the page shows it instead of an error page."""
    from server.tasks.models import AdminTask

    actor = common.actor()
    last = AdminTask.select(AdminTask.id).order_by(AdminTask.id.desc()).scalar() or 0
    try:
        return tasks.start(kind, params, actor, label=label, community_id=community_id)
    except Exception:
        task = (AdminTask.select().where(AdminTask.id > last, AdminTask.kind == kind,
                                         AdminTask.staff_id == actor.staff_id)
                .order_by(AdminTask.id.desc()).first())
        if task is None:
            raise
        return task


from server.admin.pages import (operations_alerts, operations_disputes,  # noqa: E402,F401
                                operations_recon, operations_reminders)
