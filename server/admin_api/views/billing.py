"""``/billing-runs``: preview, issue, look at a run."""
from __future__ import annotations

from server.admin_api import actions, queries
from server.admin_api.blueprint import bp
from server.admin_api.contract import MANAGE, WRITE, StaffContext, staff_operation
from server.admin_api.schemas.bills import PreviewOut, RunBody, RunOut
from server.billing import runs


@bp.post("/billing-runs/preview")
@staff_operation("Preview a billing run: what issuing would bill", tag="billing-runs", roles=WRITE,
                 body=RunBody, response=PreviewOut, status=201)
def preview_run(staff: StaffContext, body: RunBody):
    """Bills nobody; the preview is kept as a ``previewed`` run."""
    staff.check(body.community_id)
    return actions.preview_dict(runs.preview_run(body.community_id, body.period, staff.actor)), 201


@bp.post("/billing-runs")
@staff_operation("Issue the period's bills for a community", tag="billing-runs", roles=MANAGE,
                 body=RunBody, response=RunOut, status=201, errors=(409,))
def issue_run(staff: StaffContext, body: RunBody):
    """Idempotent by community and period: issuing again bills nobody twice (the new run
    reports ``bills_created`` 0 and the existing bills in ``bills_existing``), so a retry
    needs no Idempotency-Key."""
    staff.check(body.community_id)
    return actions.issue_run(body.community_id, body.period, staff.actor), 201


@bp.get("/billing-runs/<int:run_id>")
@staff_operation("One billing run (preview or issue) with its counts and problems",
                 tag="billing-runs", response=RunOut)
def get_run(staff: StaffContext, run_id: int):
    return queries.billing_run(run_id, staff.community_ids)
