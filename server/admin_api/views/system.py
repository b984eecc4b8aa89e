"""``/tasks`` (long operations and their progress) and ``/audit`` (who changed what)."""
from __future__ import annotations

from server.admin_api import lists
from server.admin_api.blueprint import bp
from server.admin_api.contract import StaffContext, staff_operation
from server.admin_api.schemas.system import AuditQuery, AuditsOut, TaskOut, TaskQuery, TasksOut
from server.errors import ValidationError


@bp.get("/tasks")
@staff_operation("Background tasks (billing runs, imports, campaigns), newest last", tag="tasks",
                 query=TaskQuery, response=TasksOut)
def list_tasks(staff: StaffContext, query: TaskQuery):
    """As the /admin/tasks page: tasks of your communities, and of none (admins: all of
    them; others: those they started)."""
    everything = staff.all_communities and query.community_id is None
    return lists.tasks(staff.scope(query.community_id), all_communities=everything,
                       staff_id=staff.user.id, status=query.status or "", kind=query.kind or "",
                       limit=query.limit, after_id=query.after_id)


@bp.get("/tasks/<int:task_id>")
@staff_operation("One task: status, progress and result", tag="tasks", response=TaskOut)
def get_task(staff: StaffContext, task_id: int):
    return lists.task_in_scope(task_id, staff.community_ids, all_communities=staff.all_communities,
                               staff_id=staff.user.id)


@bp.get("/audit")
@staff_operation("The audit log: every change with its before and after", tag="audit",
                 query=AuditQuery, response=AuditsOut)
def list_audit(staff: StaffContext, query: AuditQuery):
    """Rows of your communities; rows of no community (sign-ins, staff accounts, tokens)
    only for admins."""
    for name in ("since", "until"):
        value = getattr(query, name)
        if value is not None and value.tzinfo is None:
            raise ValidationError(f"{name} 须带时区", details={name: "needs a UTC offset"})
    return lists.audit_rows(
        staff.scope(query.community_id), include_global=staff.all_communities and query.community_id is None,
        actor_id=query.actor_id or "", action_prefix=query.action or "", entity=query.entity or "",
        entity_id=query.entity_id or "", since=query.since, until=query.until, limit=query.limit,
        after_id=query.after_id)
