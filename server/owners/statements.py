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
from server.owners import prepared
from server.owners.houses import bound_house
from server.property.models import Binding, BindingStatus
from server.timeutil import local_today

OPEN_FILTER = "open"
MONEY_KEYS = ("amount_fen", "adjusted_fen", "late_fee_fen", "paid_fen", "balance_fen")
REFUNDS_SHOWN = (RefundStatus.PROCESSING, RefundStatus.SUCCESS, RefundStatus.ABNORMAL,
                 RefundStatus.CLOSED)


def _as_date(value):
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _line_query():
    """Bills as flat rows of what a line shows, with fee item, standard and the open
    order holding them: one SELECT, no model objects (a list's rows are only read)."""
    open_order = (PaymentOrder.select(PaymentOrder.out_trade_no)
                  .join(OrderBill, on=(OrderBill.order == PaymentOrder.id))
                  .where(OrderBill.open_bill == Bill.id))
    return (Bill.select(Bill.id, Bill.house.alias("house_id"), Bill.period, Bill.period_start,
                        Bill.period_end, Bill.method, Bill.quantity, Bill.unit, Bill.unit_price,
                        Bill.months, Bill.previous_reading, Bill.current_reading, Bill.amount_fen,
                        Bill.adjusted_fen, Bill.late_fee_fen, Bill.paid_fen, Bill.due_date,
                        Bill.status, Bill.on_hold, FeeItem.id.alias("item_id"),
                        FeeItem.code.alias("item_code"), FeeItem.name.alias("item_name"),
                        FeeStandard.id.alias("std_id"), FeeStandard.version.alias("std_version"),
                        FeeStandard.unit_price.alias("std_unit_price"),
                        FeeStandard.unit.alias("std_unit"),
                        FeeStandard.effective_from.alias("std_from"),
                        FeeStandard.effective_to.alias("std_to"), open_order.alias("open_order_no"))
            .join(FeeItem, on=(Bill.fee_item == FeeItem.id))
            .switch(Bill).join(FeeStandard, pw.JOIN.LEFT_OUTER, on=(Bill.standard == FeeStandard.id))
            .dicts())


def line(row: dict, today: dt.date) -> dict:
    """One bill line from a row of :func:`_line_query`."""
    due = _as_date(row["due_date"])
    balance = row["amount_fen"] + row["adjusted_fen"] + row["late_fee_fen"] - row["paid_fen"]
    is_open = row["status"] in BillStatus.OPEN and balance > 0
    return {
        "id": row["id"], "house_id": row["house_id"], "period": row["period"],
        "period_start": _as_date(row["period_start"]), "period_end": _as_date(row["period_end"]),
        "fee_item": {"id": row["item_id"], "code": row["item_code"], "name": row["item_name"]},
        "basis": {"method": row["method"], "quantity": row["quantity"], "unit": row["unit"],
                  "unit_price": row["unit_price"], "months": row["months"],
                  "previous_reading": row["previous_reading"],
                  "current_reading": row["current_reading"]},
        "standard": None if row["std_id"] is None else {
            "id": row["std_id"], "version": row["std_version"], "unit_price": row["std_unit_price"],
            "unit": row["std_unit"], "effective_from": _as_date(row["std_from"]),
            "effective_to": _as_date(row["std_to"])},
        "amount_fen": row["amount_fen"], "adjusted_fen": row["adjusted_fen"],
        "late_fee_fen": row["late_fee_fen"], "paid_fen": row["paid_fen"], "balance_fen": balance,
        "due_date": due, "status": row["status"],
        "overdue_days": max((today - due).days, 0) if is_open else 0,
        "on_hold": bool(row["on_hold"]),
        "open_order": row["open_order_no"],
    }


def _totals(lines: list[dict]) -> dict:
    return {key: sum(item[key] for item in lines) for key in MONEY_KEYS}


def _house_bills_query(house_id, status=None, period=None):
    query = _line_query().where(Bill.house == house_id)
    if status is not None:
        query = query.where(Bill.status == status)
    if period is not None:
        query = query.where(Bill.period == period)
    return query.order_by(Bill.period.desc(), FeeItem.code, Bill.id)


def _open_house_bills_query(house_id, period=None):
    return _house_bills_query(house_id, period=period).where(Bill.status.in_(BillStatus.OPEN))


def house_bills(owner_id: int, house_id: int, *, status: str | None = None,
                period: str | None = None, today: dt.date | None = None) -> dict:
    """A bound house's bills, newest period first, grouped with per-period totals.
    Two queries, whose SQL is generated once (:mod:`server.owners.prepared`)."""
    today = today or local_today()
    house = bound_house(owner_id, house_id)
    values = {"house_id": house_id}
    if period:
        values["period"] = period
    if status == OPEN_FILTER:
        rows = prepared.run(("house_bills_open",), _open_house_bills_query, **values)
    else:
        if status:
            values["status"] = status
        rows = prepared.run(("house_bills",), _house_bills_query, **values)
    groups: OrderedDict[str, list[dict]] = OrderedDict()
    for row in rows:
        groups.setdefault(row["period"], []).append(line(row, today))
    periods = [{"period": p, "totals": _totals(items), "bills": items} for p, items in groups.items()]
    all_lines = [item for items in groups.values() for item in items]
    return {"house": house, "as_of": today, "totals": _totals(all_lines), "periods": periods}


def owner_bill(owner_id: int, bill_id: int) -> dict:
    """The bill's row (:func:`_line_query`) if it belongs to a house the owner is bound
    to, else 404."""
    row = (_line_query()
           .join_from(Bill, Binding, on=((Binding.house == Bill.house)
                                         & (Binding.owner == owner_id)
                                         & (Binding.status == BindingStatus.ACTIVE)))
           .where(Bill.id == bill_id).first())
    if row is None:
        raise NotFound("账单不存在", code="BILL_NOT_FOUND")
    return row


def bill_detail(owner_id: int, bill_id: int, today: dt.date | None = None) -> dict:
    """One bill with its history.  A fixed six queries."""
    today = today or local_today()
    bill = owner_bill(owner_id, bill_id)
    result = line(bill, today)
    bill_id = bill["id"]
    result["adjustments"] = [
        {"id": a.id, "kind": a.kind, "amount_fen": a.amount_fen, "reason": a.reason,
         "approved_at": a.decided_at or a.created_at}
        for a in Adjustment.select().where(Adjustment.bill == bill_id,
                                           Adjustment.status == AdjustmentStatus.APPROVED)
        .order_by(Adjustment.decided_at, Adjustment.id)]
    result["payments"] = [
        {"payment_id": a.payment.id, "amount_fen": a.amount_fen, "channel": a.payment.channel,
         "received_at": a.payment.received_at, "receipt_no": a.payment.receipt_no,
         "out_trade_no": a.payment.order.out_trade_no if a.payment.order_id else None}
        for a in Allocation.select(Allocation, Payment, PaymentOrder).join(Payment)
        .join(PaymentOrder, pw.JOIN.LEFT_OUTER, on=(Payment.order == PaymentOrder.id))
        .where(Allocation.bill == bill_id).order_by(Payment.received_at, Allocation.id)]
    result["refunds"] = [
        {"id": r.id, "amount_fen": r.amount_fen, "status": r.status, "reason": r.reason,
         "created_at": r.created_at, "succeeded_at": r.succeeded_at}
        for r in Refund.select().where(Refund.bill == bill_id, Refund.status.in_(REFUNDS_SHOWN))
        .order_by(Refund.created_at, Refund.id)]
    accrual = LateFeeAccrual
    days, first, last, total = (
        accrual.select(pw.fn.COUNT(accrual.id), pw.fn.MIN(accrual.accrual_date),
                       pw.fn.MAX(accrual.accrual_date), pw.fn.SUM(accrual.amount_fen))
        .where(accrual.bill == bill_id, accrual.amount_fen != 0).tuples().get())
    result["late_fee_days"] = {"days": int(days or 0), "first": _as_date(first),
                               "last": _as_date(last), "total_fen": int(total or 0)}
    result["disputes"] = [
        {"id": d.id, "status": d.status, "reason": d.reason, "created_at": d.created_at,
         "closed_at": d.closed_at}
        for d in Dispute.select().where(Dispute.bill == bill_id, Dispute.owner == owner_id)
        .order_by(Dispute.created_at, Dispute.id)]
    result["reminders"] = []  # ReminderLog arrives with the reminder job
    return result
