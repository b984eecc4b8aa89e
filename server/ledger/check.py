"""``wuyepay check-ledger``: recompute every bill's totals from the append-only
rows and report where the stored running totals drifted.

For each bill: paid = Σ allocations − Σ successful refunds, adjusted = Σ
approved adjustments, late_fee = Σ accruals, the status those numbers give,
and 0 ≤ paid ≤ total due.  For each payment: Σ allocations ≤ its amount.
Bills are read in id ranges with one aggregate query per range, so 800k bills
take a few dozen queries and little memory.
"""
from __future__ import annotations

from dataclasses import dataclass

import peewee
from peewee import JOIN, fn

from server.billing.models import Adjustment, AdjustmentKind, AdjustmentStatus, Bill, LateFeeAccrual
from server.ledger.models import Allocation, Payment, Refund, RefundStatus
from server.ledger.posting import status_for

ID_RANGE = 20_000


@dataclass(frozen=True)
class Drift:
    entity: str       # bill | payment
    entity_id: int
    field: str        # paid_fen | adjusted_fen | late_fee_fen | status | paid_le_total | allocated_le_amount
    stored: object
    expected: object

    def __str__(self) -> str:
        return f"{self.entity} {self.entity_id}: {self.field} is {self.stored}, expected {self.expected}"


def _sums(model, lo: int, hi: int, *where, voided=False):
    columns = [model.bill.alias("bill_id"), fn.SUM(model.amount_fen).alias("total")]
    if voided:
        is_void = peewee.Case(None, [(model.kind == AdjustmentKind.VOID, 1)], 0)
        columns.append(fn.MAX(is_void).alias("voided"))
    return (model.select(*columns)
            .where(model.bill.between(lo, hi), *where)
            .group_by(model.bill))


def _bill_range(lo: int, hi: int):
    alloc = _sums(Allocation, lo, hi).alias("a")
    refund = _sums(Refund, lo, hi, Refund.status == RefundStatus.SUCCESS).alias("r")
    adj = _sums(Adjustment, lo, hi, Adjustment.status == AdjustmentStatus.APPROVED, voided=True).alias("j")
    late = _sums(LateFeeAccrual, lo, hi).alias("l")
    return (Bill
            .select(Bill.id, Bill.amount_fen, Bill.adjusted_fen, Bill.late_fee_fen, Bill.paid_fen,
                    Bill.status, fn.COALESCE(alloc.c.total, 0), fn.COALESCE(refund.c.total, 0),
                    fn.COALESCE(adj.c.total, 0), fn.COALESCE(adj.c.voided, 0),
                    fn.COALESCE(late.c.total, 0))
            .join(alloc, JOIN.LEFT_OUTER, on=(alloc.c.bill_id == Bill.id))
            .join(refund, JOIN.LEFT_OUTER, on=(refund.c.bill_id == Bill.id))
            .join(adj, JOIN.LEFT_OUTER, on=(adj.c.bill_id == Bill.id))
            .join(late, JOIN.LEFT_OUTER, on=(late.c.bill_id == Bill.id))
            .where(Bill.id.between(lo, hi))
            .order_by(Bill.id)
            .tuples())


def _check_bill(row) -> list[Drift]:
    (bill_id, amount, adjusted, late_fee, paid, status,
     allocated, refunded, adjusted_sum, voided, accrued) = row
    expected = {"paid_fen": int(allocated) - int(refunded), "adjusted_fen": int(adjusted_sum),
                "late_fee_fen": int(accrued)}
    stored = {"paid_fen": paid, "adjusted_fen": adjusted, "late_fee_fen": late_fee}
    drifts = [Drift("bill", bill_id, name, stored[name], value)
              for name, value in expected.items() if stored[name] != value]
    want_status = status_for(amount, expected["adjusted_fen"], expected["late_fee_fen"],
                             expected["paid_fen"], bool(int(voided)))
    if status != want_status:
        drifts.append(Drift("bill", bill_id, "status", status, want_status))
    total_due = amount + adjusted + late_fee
    if not 0 <= paid <= total_due:
        drifts.append(Drift("bill", bill_id, "paid_le_total", paid, f"0…{total_due}"))
    return drifts


def iter_bill_drift(id_range: int = ID_RANGE):
    bounds = Bill.select(fn.MIN(Bill.id), fn.MAX(Bill.id)).tuples().get()
    if bounds[0] is None:
        return
    lo, last = bounds
    while lo <= last:
        hi = lo + id_range - 1
        for row in _bill_range(lo, hi):
            yield from _check_bill(row)
        lo = hi + 1


def iter_payment_drift():
    allocated = fn.SUM(Allocation.amount_fen)
    query = (Payment.select(Payment.id, Payment.amount_fen, allocated)
             .join(Allocation)
             .group_by(Payment.id, Payment.amount_fen)
             .having(allocated > Payment.amount_fen)
             .tuples())
    for payment_id, amount, total in query:
        yield Drift("payment", payment_id, "allocated_le_amount", int(total), f"≤ {amount}")


def check_ledger(id_range: int = ID_RANGE) -> list[Drift]:
    """Every drift found, bills first.  An empty list means the ledger agrees."""
    return [*iter_bill_drift(id_range), *iter_payment_drift()]
