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


# Up to this many communities the per-bill sums are index lookups; above, hash aggregates.
SMALL_SCOPE = 20


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


def _sum(column):
    # SUM of a BIGINT is NUMERIC on PostgreSQL: back to BIGINT, so the arithmetic on
    # millions of bills stays integer (fen sums fit easily).
    return pw.fn.SUM(column).cast("BIGINT")


def balances(as_of: dt.date, community_ids: list[int], *, periods: list[str] | None = None,
             due_before: dt.date | None = None):
    """The same figures as :func:`bills_as_of`, as one SELECT for the database to aggregate:
    columns ``bill_id, house_id, community_id, fee_item_id, period, due_date, due, paid``
    (``due_before``: only bills due before that day).  The database sums the adjustments,
    late fees, allocations and refunds of each bill: no row per bill leaves it."""
    end = cutoff(as_of)
    scope = [Bill.community.in_(community_ids or [0]), Bill.issued_at < end]
    if periods is not None:
        scope.append(Bill.period.in_(periods))
    if due_before is not None:
        scope.append(Bill.due_date < due_before)

    kinds = ((Adjustment, (Adjustment.status == AdjustmentStatus.APPROVED, Adjustment.decided_at < end)),
             (LateFeeAccrual, (LateFeeAccrual.accrual_date <= as_of,)),
             (Allocation, (Allocation.created_at < end,)),
             (Refund, (Refund.status == RefundStatus.SUCCESS, Refund.succeeded_at < end)))
    zero = pw.Value(0)
    if len(community_ids) <= SMALL_SCOPE:
        # A few communities: each sum is an index lookup by bill (bill_id indexes).
        adj, late, alloc, ref = (
            pw.fn.COALESCE(model.select(_sum(model.amount_fen))
                           .where(model.bill == Bill.id, *where), zero)
            for model, where in kinds)
        query = Bill.select()
    else:
        # Many: each side table summed per bill once (hash aggregate) and joined;
        # the outer scope keeps only the bills asked for.
        query, sums = Bill.select(), []
        for n, (model, where) in enumerate(kinds):
            sub = (model.select(model.bill.alias("bill_id"), _sum(model.amount_fen).alias("s"))
                   .where(*where).group_by(model.bill).alias(f"s{n}"))
            query = query.switch(Bill).join(sub, pw.JOIN.LEFT_OUTER, on=(sub.c.bill_id == Bill.id))
            sums.append(pw.fn.COALESCE(sub.c.s, zero))
        adj, late, alloc, ref = sums
    due = Bill.amount_fen + adj + late
    paid = alloc - ref
    return query.select(Bill.id.alias("bill_id"), Bill.house.alias("house_id"),
                        Bill.community.alias("community_id"), Bill.fee_item.alias("fee_item_id"),
                        Bill.period.alias("period"), Bill.due_date.alias("due_date"),
                        due.alias("due"), paid.alias("paid")).where(*scope)


def aggregate(source, columns, *, where=None, group_by=()):
    """Run ``SELECT columns FROM (source) [WHERE …] GROUP BY …``; returns tuples."""
    query = pw.Select(from_list=[source], columns=columns)
    if where is not None:
        query = query.where(where)
    if group_by:
        query = query.group_by(*group_by)
    return list(query.bind(Bill._meta.database).tuples())


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
