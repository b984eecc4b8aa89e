"""An owner's bills, itemized: every line shows how its amount came about.

``house_bills`` lists a bound house's bills grouped by period with totals, in
one query whatever the number of bills.  ``bill_detail`` adds a bill's history:
approved adjustments, payments applied to it, refunds, late-fee days and the
owner's disputes.  Totals are sums of the stored integer fen, never recomputed.
"""
from __future__ import annotations

import datetime as dt
from collections import OrderedDict

import peewee as pw

from payments.models import OrderBill, PaymentOrder
from server.billing.models import (Adjustment, AdjustmentStatus, Bill, BillStatus, FeeItem,
                                   FeeStandard, LateFeeAccrual)
from server.disputes.models import Dispute
from server.errors import NotFound
from server.ledger.models import Allocation, Payment, Refund, RefundStatus
from server.owners.houses import bound_house
from server.property.models import Binding, BindingStatus
from server.timeutil import local_today

OPEN_FILTER = "open"
MONEY_KEYS = ("amount_fen", "adjusted_fen", "late_fee_fen", "paid_fen", "balance_fen")
REFUNDS_SHOWN = (RefundStatus.PROCESSING, RefundStatus.SUCCESS, RefundStatus.ABNORMAL,
                 RefundStatus.CLOSED)


def _as_date(value):
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _bill_query():
    """Bills with fee item, standard and the open order holding them: one SELECT."""
    open_order = (PaymentOrder.select(PaymentOrder.out_trade_no)
                  .join(OrderBill, on=(OrderBill.order == PaymentOrder.id))
                  .where(OrderBill.open_bill == Bill.id))
    return (Bill.select(Bill, FeeItem, FeeStandard, open_order.alias("open_order_no"))
            .join(FeeItem, on=(Bill.fee_item == FeeItem.id))
            .switch(Bill).join(FeeStandard, pw.JOIN.LEFT_OUTER, on=(Bill.standard == FeeStandard.id)))


def line(bill: Bill, today: dt.date) -> dict:
    due = _as_date(bill.due_date)
    balance = bill.balance_fen
    is_open = bill.status in BillStatus.OPEN and balance > 0
    std = bill.standard if bill.standard_id else None
    return {
        "id": bill.id, "house_id": bill.house_id, "period": bill.period,
        "period_start": _as_date(bill.period_start), "period_end": _as_date(bill.period_end),
        "fee_item": {"id": bill.fee_item.id, "code": bill.fee_item.code, "name": bill.fee_item.name},
        "basis": {"method": bill.method, "quantity": bill.quantity, "unit": bill.unit,
                  "unit_price": bill.unit_price, "months": bill.months,
                  "previous_reading": bill.previous_reading, "current_reading": bill.current_reading},
        "standard": None if std is None else {
            "id": std.id, "version": std.version, "unit_price": std.unit_price, "unit": std.unit,
            "effective_from": _as_date(std.effective_from), "effective_to": _as_date(std.effective_to)},
        "amount_fen": bill.amount_fen, "adjusted_fen": bill.adjusted_fen,
        "late_fee_fen": bill.late_fee_fen, "paid_fen": bill.paid_fen, "balance_fen": balance,
        "due_date": due, "status": bill.status,
        "overdue_days": max((today - due).days, 0) if is_open else 0,
        "on_hold": bool(bill.on_hold),
        "open_order": getattr(bill, "open_order_no", None),
    }


def _totals(lines: list[dict]) -> dict:
    return {key: sum(item[key] for item in lines) for key in MONEY_KEYS}


def house_bills(owner_id: int, house_id: int, *, status: str | None = None,
                period: str | None = None, today: dt.date | None = None) -> dict:
    """A bound house's bills, newest period first, grouped with per-period totals."""
    today = today or local_today()
    house = bound_house(owner_id, house_id)
    query = _bill_query().where(Bill.house == house_id)
    if status == OPEN_FILTER:
        query = query.where(Bill.status.in_(BillStatus.OPEN))
    elif status:
        query = query.where(Bill.status == status)
    if period:
        query = query.where(Bill.period == period)
    query = query.order_by(Bill.period.desc(), FeeItem.code, Bill.id)
    groups: OrderedDict[str, list[dict]] = OrderedDict()
    for bill in query:
        groups.setdefault(bill.period, []).append(line(bill, today))
    periods = [{"period": p, "totals": _totals(items), "bills": items} for p, items in groups.items()]
    all_lines = [item for items in groups.values() for item in items]
    return {"house": house, "as_of": today, "totals": _totals(all_lines), "periods": periods}


def owner_bill(owner_id: int, bill_id: int) -> Bill:
    """The bill if it belongs to a house the owner is bound to, else 404."""
    bill = (_bill_query()
            .join_from(Bill, Binding, on=((Binding.house == Bill.house)
                                          & (Binding.owner == owner_id)
                                          & (Binding.status == BindingStatus.ACTIVE)))
            .where(Bill.id == bill_id).first())
    if bill is None:
        raise NotFound("账单不存在", code="BILL_NOT_FOUND")
    return bill


def bill_detail(owner_id: int, bill_id: int, today: dt.date | None = None) -> dict:
    """One bill with its history.  A fixed six queries."""
    today = today or local_today()
    bill = owner_bill(owner_id, bill_id)
    result = line(bill, today)
    result["adjustments"] = [
        {"id": a.id, "kind": a.kind, "amount_fen": a.amount_fen, "reason": a.reason,
         "approved_at": a.decided_at or a.created_at}
        for a in Adjustment.select().where(Adjustment.bill == bill.id,
                                           Adjustment.status == AdjustmentStatus.APPROVED)
        .order_by(Adjustment.decided_at, Adjustment.id)]
    result["payments"] = [
        {"payment_id": a.payment.id, "amount_fen": a.amount_fen, "channel": a.payment.channel,
         "received_at": a.payment.received_at, "receipt_no": a.payment.receipt_no,
         "out_trade_no": a.payment.order.out_trade_no if a.payment.order_id else None}
        for a in Allocation.select(Allocation, Payment, PaymentOrder).join(Payment)
        .join(PaymentOrder, pw.JOIN.LEFT_OUTER, on=(Payment.order == PaymentOrder.id))
        .where(Allocation.bill == bill.id).order_by(Payment.received_at, Allocation.id)]
    result["refunds"] = [
        {"id": r.id, "amount_fen": r.amount_fen, "status": r.status, "reason": r.reason,
         "created_at": r.created_at, "succeeded_at": r.succeeded_at}
        for r in Refund.select().where(Refund.bill == bill.id, Refund.status.in_(REFUNDS_SHOWN))
        .order_by(Refund.created_at, Refund.id)]
    accrual = LateFeeAccrual
    days, first, last, total = (
        accrual.select(pw.fn.COUNT(accrual.id), pw.fn.MIN(accrual.accrual_date),
                       pw.fn.MAX(accrual.accrual_date), pw.fn.SUM(accrual.amount_fen))
        .where(accrual.bill == bill.id, accrual.amount_fen != 0).tuples().get())
    result["late_fee_days"] = {"days": int(days or 0), "first": _as_date(first),
                               "last": _as_date(last), "total_fen": int(total or 0)}
    result["disputes"] = [
        {"id": d.id, "status": d.status, "reason": d.reason, "created_at": d.created_at,
         "closed_at": d.closed_at}
        for d in Dispute.select().where(Dispute.bill == bill.id, Dispute.owner == owner_id)
        .order_by(Dispute.created_at, Dispute.id)]
    result["reminders"] = []  # ReminderLog arrives with the reminder job
    return result
