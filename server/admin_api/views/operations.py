"""``/reconciliation``, ``/disputes``, ``/alerts`` and ``/reports``."""
from __future__ import annotations

from server.admin_api import worklists
from server.admin_api.blueprint import bp
from server.admin_api.contract import MANAGE, WRITE, StaffContext, staff_operation
from server.admin_api.schemas.common import ListQuery, Note
from server.admin_api.schemas.operations import (AlertOut, AlertQuery, AlertsOut, CollectionOut,
                                                 CollectionQuery, DisputeOut, DisputeQuery, DisputesOut,
                                                 ReconItemOut, ReconItemQuery, ReconItemsOut,
                                                 ReconRunsOut, ReplyBody, ResolveBody,
                                                 ResolveDisputeBody)
from server.alerts import acknowledge_alert
from server.disputes import services as disputes
from server.reconciliation.service import resolve_item
from server.reports.collection import collection_rate
from server.timeutil import local_today


@bp.get("/reconciliation/runs")
@staff_operation("Daily reconciliations with WeChat Pay's trade bill (staff who see every community)",
                 tag="reconciliation", query=ListQuery, response=ReconRunsOut)
def list_recon_runs(staff: StaffContext, query: ListQuery):
    return worklists.recon_runs(all_communities=staff.all_communities, limit=query.limit,
                                after_id=query.after_id)


@bp.get("/reconciliation/items")
@staff_operation("Differences found by reconciliation", tag="reconciliation", query=ReconItemQuery,
                 response=ReconItemsOut)
def list_recon_items(staff: StaffContext, query: ReconItemQuery):
    """Staff limited to some communities see the differences of their communities' orders."""
    return worklists.recon_items(staff.community_ids, all_communities=staff.all_communities,
                                 run_id=query.run_id, kind=query.kind, resolved=query.resolved,
                                 limit=query.limit, after_id=query.after_id)


@bp.post("/reconciliation/items/<int:item_id>/resolve")
@staff_operation("Resolve a difference with a note", tag="reconciliation", roles=MANAGE,
                 body=ResolveBody, response=ReconItemOut)
def resolve_recon_item(staff: StaffContext, item_id: int, body: ResolveBody):
    """Idempotent: a resolved difference stays as it was."""
    worklists.recon_item_in_scope(item_id, staff.community_ids, staff.all_communities)
    resolve_item(item_id, staff.actor, body.note)
    return worklists.recon_item_in_scope(item_id, staff.community_ids, staff.all_communities)


@bp.get("/disputes")
@staff_operation("Owners' questions on bills (费用异议)", tag="disputes", query=DisputeQuery,
                 response=DisputesOut)
def list_disputes(staff: StaffContext, query: DisputeQuery):
    return worklists.disputes(staff.scope(query.community_id), status=query.status, limit=query.limit,
                              after_id=query.after_id)


@bp.post("/disputes/<int:dispute_id>/reply")
@staff_operation("Answer a dispute", tag="disputes", roles=WRITE, body=ReplyBody, response=DisputeOut,
                 errors=(409,))
def reply_dispute(staff: StaffContext, dispute_id: int, body: ReplyBody):
    worklists.dispute_detail(dispute_id, staff.community_ids)
    disputes.reply_to_dispute(dispute_id, staff.actor, body.text)
    return worklists.dispute_detail(dispute_id, staff.community_ids)


@bp.post("/disputes/<int:dispute_id>/resolve")
@staff_operation("Close a dispute, optionally naming the adjustment that settled it", tag="disputes",
                 roles=MANAGE, body=ResolveDisputeBody, response=DisputeOut, errors=(409,))
def resolve_dispute(staff: StaffContext, dispute_id: int, body: ResolveDisputeBody):
    worklists.dispute_detail(dispute_id, staff.community_ids)
    disputes.resolve_dispute(dispute_id, staff.actor, body.resolution, adjustment_id=body.adjustment_id)
    return worklists.dispute_detail(dispute_id, staff.community_ids)


@bp.get("/alerts")
@staff_operation("Alerts", tag="alerts", query=AlertQuery, response=AlertsOut)
def list_alerts(staff: StaffContext, query: AlertQuery):
    """Alerts without a community are listed only to staff who see every community."""
    return worklists.alerts(staff.community_ids, all_communities=staff.all_communities,
                            acknowledged=query.acknowledged, limit=query.limit, after_id=query.after_id)


@bp.post("/alerts/<int:alert_id>/acknowledge")
@staff_operation("Acknowledge an alert (idempotent)", tag="alerts", roles=WRITE, body=Note,
                 response=AlertOut)
def acknowledge(staff: StaffContext, alert_id: int, body: Note):
    worklists.alert_in_scope(alert_id, staff.community_ids, staff.all_communities)
    return worklists.alert_dict(acknowledge_alert(alert_id, staff.actor, note=body.note))


def _slice(c) -> dict:
    return {"label": c.label, "due_fen": c.due_fen, "paid_fen": c.paid_fen,
            "outstanding_fen": c.outstanding_fen, "houses": c.houses, "houses_paid": c.houses_paid,
            "rate_by_amount_bp": c.by_amount.basis_points,
            "rate_by_household_bp": c.by_household.basis_points}


@bp.get("/reports/collection")
@staff_operation("收缴率 of a period as of a date", tag="reports", query=CollectionQuery,
                 response=CollectionOut)
def collection_report(staff: StaffContext, query: CollectionQuery):
    """By amount: Σ paid ÷ Σ due as of the date over the period's bills issued by then; by
    household: houses whose every bill of the period is paid ÷ houses billed.  The same
    date asked again later gives the same figures."""
    report = collection_rate(staff.scope(query.community_id), query.period,
                             query.as_of or local_today())
    return {"period": report.period, "as_of": report.as_of, "total": _slice(report.total),
            "by_community": [_slice(c) for c in report.by_community],
            "by_fee_item": [_slice(c) for c in report.by_fee_item]}
