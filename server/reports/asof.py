"""Each bill's amount due and amount paid as of the end of a Shanghai date.

Definitions (shown on the dashboard too):

* cut-off: the end of D in Shanghai (00:00 of D+1, Asia/Shanghai);
* a bill counts from its ``issued_at`` ≤ cut-off;
* due as of D = issued amount + approved adjustments decided ≤ cut-off
  + late-fee accruals dated ≤ D;
* paid as of D = allocations created ≤ cut-off − refunds that succeeded ≤ cut-off;
* balance as of D = due − paid.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import peewee as pw

from server.billing.models import Adjustment, AdjustmentStatus, Bill, LateFeeAccrual
from server.ledger.models import Allocation, Refund, RefundStatus
from server.timeutil import local_midnight_utc


def cutoff(as_of: dt.date) -> dt.datetime:
    """The first UTC instant after Shanghai date ``as_of`` (exclusive bound)."""
    return local_midnight_utc(as_of + dt.timedelta(days=1))


@dataclass(frozen=True)
class BillAsOf:
    bill_id: int
    house_id: int
    community_id: int
    fee_item_id: int
    period: str
    due_date: dt.date
    due_fen: int
    paid_fen: int

    @property
    def balance_fen(self) -> int:
        return self.due_fen - self.paid_fen


def _sums(query, key, amount) -> dict[int, int]:
    rows = query.select(key.alias("k"), pw.fn.SUM(amount).alias("s")).group_by(key).tuples()
    return {k: int(s or 0) for k, s in rows}


def bills_as_of(as_of: dt.date, community_ids: list[int], *, periods: list[str] | None = None
                ) -> list[BillAsOf]:
    """The bills of ``community_ids`` (optionally only ``periods``) issued by the end of D."""
    end = cutoff(as_of)
    scope = [Bill.community.in_(community_ids), Bill.issued_at < end]
    if periods is not None:
        scope.append(Bill.period.in_(periods))
    bills = list(Bill.select(Bill.id, Bill.house, Bill.community, Bill.fee_item, Bill.period,
                             Bill.due_date, Bill.amount_fen).where(*scope).order_by(Bill.id))
    if not bills:
        return []
    adjusted = _sums(Adjustment.select().join(Bill).where(
        *scope, Adjustment.status == AdjustmentStatus.APPROVED, Adjustment.decided_at < end),
        Adjustment.bill, Adjustment.amount_fen)
    late = _sums(LateFeeAccrual.select().join(Bill).where(
        *scope, LateFeeAccrual.accrual_date <= as_of), LateFeeAccrual.bill, LateFeeAccrual.amount_fen)
    allocated = _sums(Allocation.select().join(Bill).where(*scope, Allocation.created_at < end),
                      Allocation.bill, Allocation.amount_fen)
    refunded = _sums(Refund.select().join(Bill).where(
        *scope, Refund.status == RefundStatus.SUCCESS, Refund.succeeded_at < end),
        Refund.bill, Refund.amount_fen)
    return [
        BillAsOf(bill_id=b.id, house_id=b.house_id, community_id=b.community_id,
                 fee_item_id=b.fee_item_id, period=b.period, due_date=b.due_date,
                 due_fen=b.amount_fen + adjusted.get(b.id, 0) + late.get(b.id, 0),
                 paid_fen=allocated.get(b.id, 0) - refunded.get(b.id, 0))
        for b in bills
    ]
