"""``/bills``, ``/meter-readings`` and ``/adjustments``."""
from __future__ import annotations

from flask import current_app

from server.admin_api import actions, queries
from server.admin_api.blueprint import bp
from server.admin_api.contract import MANAGE, WRITE, StaffContext, staff_operation
from server.admin_api.schemas.bills import (AdjustmentBody, AdjustmentOut, BillDetailOut, BillQuery,
                                            BillsOut, ReadingsBody, ReadingsOut)
from server.admin_api.schemas.common import Decision
from server.billing import adjustments
from server.timeutil import local_today


@bp.get("/bills")
@staff_operation("Bills, filtered by community, house, period and status", tag="bills",
                 query=BillQuery, response=BillsOut)
def list_bills(staff: StaffContext, query: BillQuery):
    return queries.bills(staff.scope(query.community_id), house_id=query.house_id, period=query.period,
                         status=query.status, limit=query.limit, after_id=query.after_id)


@bp.get("/bills/<int:bill_id>")
@staff_operation("One bill with its basis and history", tag="bills", response=BillDetailOut)
def get_bill(staff: StaffContext, bill_id: int):
    """The basis (quantity × unit price × months, standard version, readings), adjustments,
    payments applied, refunds, late fees and the bill's audit trail."""
    return queries.bill_detail(bill_id, staff.community_ids)


@bp.post("/meter-readings")
@staff_operation("Record a batch of meter readings, all or nothing", tag="bills", roles=WRITE,
                 body=ReadingsBody, response=ReadingsOut, status=201, errors=(409,))
def record_readings(staff: StaffContext, body: ReadingsBody):
    """A refused row refuses the whole batch (422 ``READINGS_REJECTED``, ``details`` keyed
    ``readings.<index>``).  The same reading again is accepted and changes nothing."""
    saved = actions.record_readings([r.model_dump() for r in body.readings], staff.actor,
                                    staff.community_ids, local_today())
    return {"items": [{"id": r.id, "house_id": r.house_id, "fee_item_id": r.fee_item_id,
                       "period": r.period, "previous": r.previous, "current": r.current,
                       "usage": r.usage, "read_on": r.read_on} for r in saved]}, 201


def _adjustment(adj) -> dict:
    return queries.adjustment_dict(adj)


@bp.post("/adjustments")
@staff_operation("Request an adjustment of a bill", tag="bills", roles=WRITE, body=AdjustmentBody,
                 response=AdjustmentOut, status=201, errors=(409,))
def request_adjustment(staff: StaffContext, body: AdjustmentBody):
    """Below the approval threshold it is approved at once; at or above it waits for a manager."""
    queries.bill_community(body.bill_id, staff.community_ids)
    threshold = current_app.extensions["wuyepay_config"].ADJUSTMENT_APPROVAL_THRESHOLD_FEN
    return _adjustment(adjustments.request_adjustment(body.bill_id, body.kind, body.amount_fen,
                                                      body.reason, staff.actor, threshold)), 201


@bp.post("/adjustments/<int:adjustment_id>/approve")
@staff_operation("Approve a pending adjustment (not your own)", tag="bills", roles=MANAGE,
                 body=Decision, response=AdjustmentOut, errors=(409,))
def approve_adjustment(staff: StaffContext, adjustment_id: int, body: Decision):
    queries.adjustment_community(adjustment_id, staff.community_ids)
    return _adjustment(adjustments.approve_adjustment(adjustment_id, staff.actor, body.note))


@bp.post("/adjustments/<int:adjustment_id>/reject")
@staff_operation("Reject a pending adjustment", tag="bills", roles=MANAGE, body=Decision,
                 response=AdjustmentOut, errors=(409,))
def reject_adjustment(staff: StaffContext, adjustment_id: int, body: Decision):
    queries.adjustment_community(adjustment_id, staff.community_ids)
    return _adjustment(adjustments.reject_adjustment(adjustment_id, staff.actor, body.note))
