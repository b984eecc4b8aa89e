"""What the staff API reads: plain functions of ids and values (no Flask), each
list a fixed number of queries whatever its length, every record limited to
``community_ids`` (a record outside them is "not found", like one that does
not exist).  Lists are keyset-paginated in ascending id order.
"""
from __future__ import annotations

import datetime as dt

import peewee as pw

from server.audit import AuditLog
from server.billing import queries as billing_queries
from server.billing.models import (Adjustment, Bill, BillingRun, BillStatus, FeeItem, LateFeeAccrual)
from server.errors import NotFound
from server.ledger.models import Allocation, Payment, Refund, RefundStatus
from server.property.models import Binding, BindingStatus, Building, Community, House


def keyset(query, model, limit: int, after_id: int | None) -> tuple[list, int | None]:
    """One page of ``query`` by ascending id, and the id to continue after (None at the end)."""
    if after_id:
        query = query.where(model.id > after_id)
    rows = list(query.order_by(model.id).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def _in_scope(record, community_ids: list[int], what: str):
    if record is None or record.community_id not in community_ids:
        raise NotFound(f"{what}不存在")
    return record


# --- communities and houses --------------------------------------------------------------

def communities(community_ids: list[int]) -> list[dict]:
    query = Community.select().where(Community.id.in_(community_ids)).order_by(Community.code)
    return [{"id": c.id, "code": c.code, "name": c.name, "address": c.address} for c in query]


def house_dict(h: House) -> dict:
    return {"id": h.id, "community_id": h.community_id, "building": h.building.name, "unit": h.unit,
            "room_no": h.room_no, "label": h.label, "floor_area": h.floor_area, "status": h.status,
            "owner_name": h.owner_name, "owner_phone": h.owner_phone, "created_at": h.created_at}


def houses(community_ids: list[int], *, search: str | None, limit: int, after_id: int | None):
    query = (House.select(House, Building).join(Building)
             .where(House.community.in_(community_ids)))
    if search:
        text = search.strip()
        query = query.where(House.room_no.contains(text) | House.owner_name.contains(text)
                            | House.owner_phone.contains(text))
    rows, next_id = keyset(query, House, limit, after_id)
    return {"items": [house_dict(h) for h in rows], "next_after_id": next_id}


def house_detail(house_id: int, community_ids: list[int]) -> dict:
    house = _in_scope(House.select(House, Building).join(Building).where(House.id == house_id).first(),
                      community_ids, "房屋")
    open_bills = Bill.select().where(Bill.house == house_id, Bill.status.in_(BillStatus.OPEN))
    outstanding = open_bills.select(pw.fn.SUM(Bill.amount_fen + Bill.adjusted_fen + Bill.late_fee_fen
                                              - Bill.paid_fen)).scalar() or 0
    bindings = Binding.select().where(Binding.house == house_id, Binding.status == BindingStatus.ACTIVE)
    return dict(house_dict(house), open_bills=open_bills.count(), outstanding_fen=int(outstanding),
                active_bindings=bindings.count())


# --- bills ------------------------------------------------------------------------------

def _bill_query():
    return (Bill.select(Bill, House, Building, FeeItem).join(House).join(Building)
            .switch(Bill).join(FeeItem))


def bill_dict(b: Bill) -> dict:
    return {"id": b.id, "community_id": b.community_id, "house_id": b.house_id,
            "house_label": b.house.label, "fee_item_id": b.fee_item_id,
            "fee_item_code": b.fee_item.code, "fee_item_name": b.fee_item.name, "period": b.period,
            "due_date": b.due_date, "amount_fen": b.amount_fen, "adjusted_fen": b.adjusted_fen,
            "late_fee_fen": b.late_fee_fen, "paid_fen": b.paid_fen, "balance_fen": b.balance_fen,
            "status": b.status, "on_hold": b.on_hold, "issued_at": b.issued_at}


def bills(community_ids: list[int], *, house_id: int | None, period: str | None, status: str | None,
          limit: int, after_id: int | None) -> dict:
    query = _bill_query().where(Bill.community.in_(community_ids))
    if house_id is not None:
        query = query.where(Bill.house == house_id)
    if period is not None:
        query = query.where(Bill.period == period)
    if status is not None:
        query = query.where(Bill.status == status)
    rows, next_id = keyset(query, Bill, limit, after_id)
    return {"items": [bill_dict(b) for b in rows], "next_after_id": next_id}


def adjustment_dict(a: Adjustment) -> dict:
    return {"id": a.id, "bill_id": a.bill_id, "kind": a.kind, "amount_fen": a.amount_fen,
            "reason": a.reason, "status": a.status, "requested_by": a.requested_by_id,
            "decided_by": a.decided_by_id, "decided_at": a.decided_at,
            "decision_note": a.decision_note, "created_at": a.created_at}


def bill_detail(bill_id: int, community_ids: list[int]) -> dict:
    """A bill with its basis and history: adjustments, payments applied, refunds,
    late fees, and its audit trail."""
    bill = _in_scope(_bill_query().where(Bill.id == bill_id).first(), community_ids, "账单")
    basis = {"method": bill.method, "quantity": bill.quantity, "unit": bill.unit,
             "unit_price": bill.unit_price, "months": bill.months, "period_start": bill.period_start,
             "period_end": bill.period_end, "standard_id": bill.standard_id,
             "standard_version": bill.standard_version, "previous_reading": bill.previous_reading,
             "current_reading": bill.current_reading, "meter_reading_id": bill.meter_reading_id}
    allocations = (Allocation.select(Allocation, Payment).join(Payment)
                   .where(Allocation.bill == bill_id).order_by(Allocation.id))
    refunds = Refund.select().where(Refund.bill == bill_id).order_by(Refund.id)
    fees = LateFeeAccrual.select().where(LateFeeAccrual.bill == bill_id).order_by(LateFeeAccrual.accrual_date)
    history = (AuditLog.select().where(AuditLog.entity == "bill", AuditLog.entity_id == str(bill_id))
               .order_by(AuditLog.id))
    return dict(
        bill_dict(bill), basis=basis,
        adjustments=[adjustment_dict(a) for a in bill.adjustments.order_by(Adjustment.id)],
        payments=[{"payment_id": a.payment_id, "amount_fen": a.amount_fen, "channel": a.payment.channel,
                   "received_at": a.payment.received_at, "receipt_no": a.payment.receipt_no}
                  for a in allocations],
        refunds=[{"id": r.id, "payment_id": r.payment_id, "amount_fen": r.amount_fen,
                  "status": r.status, "created_at": r.created_at} for r in refunds],
        late_fees=[{"accrual_date": f.accrual_date, "amount_fen": f.amount_fen} for f in fees],
        history=[{"at": h.at, "actor_type": h.actor_type, "actor_id": h.actor_id, "action": h.action,
                  "before": h.before, "after": h.after, "note": h.note} for h in history])


def bill_community(bill_id: int, community_ids: list[int]) -> int:
    """The bill's community, or NotFound when it is not one of ``community_ids``."""
    return _in_scope(Bill.select(Bill.id, Bill.community).where(Bill.id == bill_id).first(),
                     community_ids, "账单").community_id


def run_dict(run: BillingRun) -> dict:
    return {"id": run.id, "community_id": run.community_id, "period": run.period,
            "status": run.status, "houses": run.houses, "bills_created": run.bills_created,
            "bills_existing": run.bills_existing, "total_fen": run.total_fen,
            "totals_by_item": run.totals_by_item or {}, "problems": run.problems or [],
            "error": run.error, "created_by": run.created_by_id, "started_at": run.started_at,
            "finished_at": run.finished_at}


def billing_run(run_id: int, community_ids: list[int]) -> dict:
    run = BillingRun.get_or_none(BillingRun.id == run_id)
    return run_dict(_in_scope(run, community_ids, "账单批次"))


def billing_runs(community_ids: list[int], *, period: str | None, status: str | None, limit: int,
                 after_id: int | None) -> dict:
    """The staff page's run list (``server.billing.queries.runs``), keyset by id."""
    query = billing_queries.runs(community_ids, status)
    if period is not None:
        query = query.where(BillingRun.period == period)
    rows, next_id = keyset(query, BillingRun, limit, after_id)
    return {"items": [run_dict(r) for r in rows], "next_after_id": next_id}


def adjustment_community(adj_id: int, community_ids: list[int]) -> int:
    row = (Adjustment.select(Adjustment.id, Bill.community).join(Bill)
           .where(Adjustment.id == adj_id).first())
    if row is None or row.bill.community_id not in community_ids:
        raise NotFound("调整不存在")
    return row.bill.community_id


# --- payments and refunds ---------------------------------------------------------------

def _payment_dicts(payments: list[Payment]) -> list[dict]:
    ids = [p.id for p in payments] or [0]
    allocations: dict[int, list] = {}
    for a in Allocation.select().where(Allocation.payment.in_(ids)).order_by(Allocation.id):
        allocations.setdefault(a.payment_id, []).append({"bill_id": a.bill_id, "amount_fen": a.amount_fen})
    refunds: dict[int, list] = {}
    for r in Refund.select().where(Refund.payment.in_(ids)).order_by(Refund.id):
        refunds.setdefault(r.payment_id, []).append(r)
    result = []
    for p in payments:
        mine = refunds.get(p.id, [])
        result.append({
            "id": p.id, "community_id": p.community_id, "channel": p.channel,
            "amount_fen": p.amount_fen,
            "refunded_fen": sum(r.amount_fen for r in mine if r.status == RefundStatus.SUCCESS),
            "received_at": p.received_at, "created_at": p.created_at,
            "updated_at": max([p.created_at] + [r.updated_at for r in mine]),
            "receipt_no": p.receipt_no, "voucher_no": p.voucher_no, "transaction_id": p.transaction_id,
            "payer_name": p.payer_name, "operator_id": p.operator_id, "order_id": p.order_id,
            "needs_review": p.needs_review, "allocations": allocations.get(p.id, []),
            "refunds": [{"id": r.id, "bill_id": r.bill_id, "amount_fen": r.amount_fen, "status": r.status,
                         "out_refund_no": r.out_refund_no, "updated_at": r.updated_at} for r in mine]})
    return result


def payments(community_ids: list[int], *, channel: str | None, updated_since: dt.datetime | None,
             limit: int, after_id: int | None, now: dt.datetime) -> dict:
    """Payments, for an ERP's sync: ``updated_since`` keeps those created, or whose
    refunds changed, at or after it; ``server_time`` is where the next sync starts."""
    query = Payment.select().where(Payment.community.in_(community_ids))
    if channel is not None:
        query = query.where(Payment.channel == channel)
    if updated_since is not None:
        # A UNION of two index range scans (payment.created_at, refund.updated_at), not an
        # OR that makes the database read every payment of the scope.
        created = Payment.select(Payment.id).where(Payment.created_at >= updated_since)
        changed = Refund.select(Refund.payment).where(Refund.updated_at >= updated_since)
        query = query.where(Payment.id.in_(created | changed))
    rows, next_id = keyset(query, Payment, limit, after_id)
    return {"items": _payment_dicts(rows), "next_after_id": next_id, "server_time": now}


def payment_detail(payment_id: int, community_ids: list[int]) -> dict:
    payment = _in_scope(Payment.get_or_none(Payment.id == payment_id), community_ids, "收款记录")
    return _payment_dicts([payment])[0]


def refund_dict(r: Refund) -> dict:
    return {"id": r.id, "payment_id": r.payment_id, "bill_id": r.bill_id,
            "community_id": r.payment.community_id, "out_refund_no": r.out_refund_no,
            "amount_fen": r.amount_fen, "reason": r.reason, "status": r.status,
            "requested_by": r.requested_by_id, "approved_by": r.approved_by_id,
            "created_at": r.created_at, "updated_at": r.updated_at, "succeeded_at": r.succeeded_at}


def refund_in_scope(refund_id: int, community_ids: list[int]) -> Refund:
    refund = Refund.select(Refund, Payment).join(Payment).where(Refund.id == refund_id).first()
    if refund is None or refund.payment.community_id not in community_ids:
        raise NotFound("退款不存在", code="REFUND_NOT_FOUND")
    return refund


def refund_detail(refund_id: int, community_ids: list[int]) -> dict:
    return refund_dict(refund_in_scope(refund_id, community_ids))
