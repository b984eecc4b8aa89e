"""``/billing-runs``: list, preview, issue, look at a run."""
from __future__ import annotations

from server.admin_api import actions, lists, queries
from server.admin_api.blueprint import bp
from server.admin_api.contract import MANAGE, WRITE, StaffContext, staff_operation
from server.admin_api.schemas.bills import PreviewOut, RunBody, RunOut, RunQuery, RunsOut
from server.admin_api.schemas.system import TaskOut
from server.billing import runs
from server.property.models import Community
from server.tasks.models import AdminTask


@bp.get("/billing-runs")
@staff_operation("Billing runs (previews and issues), filtered by community, period and status",
                 tag="billing-runs", query=RunQuery, response=RunsOut)
def list_runs(staff: StaffContext, query: RunQuery):
    return queries.billing_runs(staff.scope(query.community_id), period=query.period,
                                status=query.status, limit=query.limit, after_id=query.after_id)


@bp.post("/billing-runs/preview")
@staff_operation("Preview a billing run: what issuing would bill", tag="billing-runs", roles=WRITE,
                 body=RunBody, response=PreviewOut, status=201)
def preview_run(staff: StaffContext, body: RunBody):
    """Bills nobody; the preview is kept as a ``previewed`` run."""
    staff.check(body.community_id)
    return actions.preview_dict(runs.preview_run(body.community_id, body.period, staff.actor)), 201


@bp.post("/billing-runs")
@staff_operation("Issue the period's bills for a community, as a task", tag="billing-runs",
                 roles=MANAGE, body=RunBody, response=TaskOut, status=202)
def issue_run(staff: StaffContext, body: RunBody):
    """Issuing runs as a background task, as on the staff pages: follow ``GET /tasks/{id}``
    until ``done``; its ``result`` has ``run_id``, ``bills_created`` and ``bills_existing``.
    Idempotent by community and period: issuing again bills nobody twice (the new run
    reports ``bills_created`` 0), so a retry needs no Idempotency-Key."""
    staff.check(body.community_id)
    name = Community.get_by_id(body.community_id).name
    task = actions.start_issue(body.community_id, body.period, staff.actor, f"出账 {name} {body.period}")
    return lists.task_dict(AdminTask.get_by_id(task.id)), 202


@bp.get("/billing-runs/<int:run_id>")
@staff_operation("One billing run (preview or issue) with its counts and problems",
                 tag="billing-runs", response=RunOut)
def get_run(staff: StaffContext, run_id: int):
    return queries.billing_run(run_id, staff.community_ids)
