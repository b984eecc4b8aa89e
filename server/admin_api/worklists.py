"""Reconciliation differences, disputes and alerts as the staff API lists them
(plain functions, no Flask; a fixed number of queries per list).

Scope: a reconciliation item belongs to the community of our order with its
``out_trade_no``; items without one, the daily runs (merchant-wide totals) and
alerts without a community are seen only by staff who see every community.
"""
from __future__ import annotations

import peewee as pw

from payments.models import PaymentOrder
from server.admin_api.queries import keyset
from server.alerts import Alert
from server.billing.models import Bill
from server.disputes.models import Dispute, DisputeMessage
from server.errors import Forbidden, NotFound
from server.property.models import Building, House
from server.reconciliation.models import ReconciliationItem, ReconciliationRun


def recon_runs(*, all_communities: bool, limit: int, after_id: int | None) -> dict:
    if not all_communities:
        raise Forbidden("对账批次涵盖所有小区，仅限可查看全部小区的管理员", code="FORBIDDEN")
    rows, next_id = keyset(ReconciliationRun.select(), ReconciliationRun, limit, after_id)
    fields = ("id", "bill_date", "status", "remote_payments", "remote_payment_fen", "remote_refunds",
              "remote_refund_fen", "local_payments", "local_payment_fen", "local_refunds",
              "local_refund_fen", "differences", "error", "started_at", "finished_at")
    return {"items": [{f: getattr(r, f) for f in fields} for r in rows], "next_after_id": next_id}


def _item_query():
    order = PaymentOrder.alias()
    return (ReconciliationItem.select(ReconciliationItem, order.community.alias("order_community"))
            .join(order, pw.JOIN.LEFT_OUTER,
                  on=((order.out_trade_no == ReconciliationItem.out_trade_no)
                      & (ReconciliationItem.out_trade_no != ""))).objects(), order)


def _scoped(query, order, community_ids: list[int], all_communities: bool):
    return query if all_communities else query.where(order.community.in_(community_ids))


def item_dict(i: ReconciliationItem) -> dict:
    return {"id": i.id, "run_id": i.run_id, "kind": i.kind, "reference": i.reference,
            "out_trade_no": i.out_trade_no, "community_id": getattr(i, "order_community", None),
            "remote_fen": i.remote_fen, "local_fen": i.local_fen, "remote_status": i.remote_status,
            "local_status": i.local_status, "created_at": i.created_at, "resolved_at": i.resolved_at,
            "resolved_by": i.resolved_by, "note": i.note}


def recon_items(community_ids: list[int], *, all_communities: bool, run_id: int | None,
                kind: str | None, resolved: bool | None, limit: int, after_id: int | None) -> dict:
    query, order = _item_query()
    query = _scoped(query, order, community_ids, all_communities)
    if run_id is not None:
        query = query.where(ReconciliationItem.run == run_id)
    if kind is not None:
        query = query.where(ReconciliationItem.kind == kind)
    if resolved is not None:
        query = query.where(ReconciliationItem.resolved_at.is_null(not resolved))
    rows, next_id = keyset(query, ReconciliationItem, limit, after_id)
    return {"items": [item_dict(i) for i in rows], "next_after_id": next_id}


def recon_item_in_scope(item_id: int, community_ids: list[int], all_communities: bool) -> dict:
    query, order = _item_query()
    item = _scoped(query, order, community_ids, all_communities).where(
        ReconciliationItem.id == item_id).first()
    if item is None:
        raise NotFound("对账差异不存在")
    return item_dict(item)


# --- disputes ---------------------------------------------------------------------------

def _dispute_query():
    return Dispute.select(Dispute, Bill, House, Building).join(Bill).join(House).join(Building)


def _dispute_dicts(rows: list[Dispute]) -> list[dict]:
    messages: dict[int, list] = {}
    ids = [d.id for d in rows] or [0]
    for m in DisputeMessage.select().where(DisputeMessage.dispute.in_(ids)).order_by(DisputeMessage.id):
        messages.setdefault(m.dispute_id, []).append(
            {"author": m.author, "text": m.text, "created_at": m.created_at})
    return [{"id": d.id, "bill_id": d.bill_id, "community_id": d.bill.community_id,
             "house_label": d.bill.house.label, "reason": d.reason, "text": d.text, "status": d.status,
             "created_at": d.created_at, "updated_at": d.updated_at, "closed_at": d.closed_at,
             "resolution": d.resolution, "adjustment_id": d.adjustment_id,
             "messages": messages.get(d.id, [])} for d in rows]


def disputes(community_ids: list[int], *, status: str | None, limit: int, after_id: int | None) -> dict:
    query = _dispute_query().where(Bill.community.in_(community_ids))
    if status is not None:
        query = query.where(Dispute.status == status)
    rows, next_id = keyset(query, Dispute, limit, after_id)
    return {"items": _dispute_dicts(rows), "next_after_id": next_id}


def dispute_detail(dispute_id: int, community_ids: list[int]) -> dict:
    row = _dispute_query().where(Dispute.id == dispute_id, Bill.community.in_(community_ids)).first()
    if row is None:
        raise NotFound("异议不存在")
    return _dispute_dicts([row])[0]


# --- alerts -----------------------------------------------------------------------------

def _alert_query(community_ids: list[int], all_communities: bool):
    query = Alert.select()
    return query if all_communities else query.where(Alert.community_id.in_(community_ids))


def alert_dict(a: Alert) -> dict:
    return {"id": a.id, "kind": a.kind, "severity": a.severity, "message": a.message, "count": a.count,
            "community_id": a.community_id, "created_at": a.created_at, "last_seen_at": a.last_seen_at,
            "acknowledged_at": a.acknowledged_at, "acknowledged_by": a.acknowledged_by}


def alerts(community_ids: list[int], *, all_communities: bool, acknowledged: bool | None, limit: int,
           after_id: int | None) -> dict:
    query = _alert_query(community_ids, all_communities)
    if acknowledged is not None:
        query = query.where(Alert.acknowledged_at.is_null(not acknowledged))
    rows, next_id = keyset(query, Alert, limit, after_id)
    return {"items": [alert_dict(a) for a in rows], "next_after_id": next_id}


def alert_in_scope(alert_id: int, community_ids: list[int], all_communities: bool) -> None:
    if not _alert_query(community_ids, all_communities).where(Alert.id == alert_id).exists():
        raise NotFound("告警不存在")
