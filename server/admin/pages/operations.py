"""Staff pages: operations — reconciliation, disputes, reminders and campaigns, alerts.

The routes live in ``operations_recon``, ``operations_disputes``,
``operations_reminders`` and ``operations_alerts``; the long operations they
start (a reconciliation run, a reminder campaign) are the task handlers of
``operations_tasks``.  What they share is here.

Who sees merchant-wide records: reconciliation days and alerts of no community
belong to the whole WeChat Pay merchant, so their figures are shown to admins
only; other staff see the differences and alerts of their own communities
(see ``server.reconciliation.queries``).
"""
from __future__ import annotations

from typing import Callable

from server import tasks
from server.admin import common
from server.staff.models import StaffRole

tasks.register_module("server.admin.pages.operations_tasks")


def act(fn: Callable, *, success: str, redirect_to: str):
    """``common.run_action`` (the domain says its refusals in Chinese)."""
    return common.run_action(fn, success=success, redirect_to=redirect_to)


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
