"""Daily late-fee accrual (滞纳金), idempotent per bill and day.

Each day's fee is an append-only ``LateFeeAccrual`` row, unique per (bill,
day); the bill's ``late_fee_fen`` is their sum and moves in the same
transaction, with an audit record.  Accruing up to a date twice, or from two
workers at once, adds nothing the second time.  Days while a dispute holds the
bill are written as zero rows, so a later catch-up never charges them.
"""
from __future__ import annotations

import datetime as dt

import peewee

from server import audit
from server.billing.models import Bill, BillStatus, LateFeeAccrual
from server.billing.rules import (LateFeeRule, first_late_day, late_fee_cap_fen,
                                  late_fee_schedule, outstanding_principal_fen, principal_fen)
from server.billing.standards import standard_for
from server.db import for_update, transaction
from server.errors import NotFound
from server.timeutil import local_today

ONE_DAY = dt.timedelta(days=1)


def _as_date(value) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def _rule_for(bill: Bill) -> LateFeeRule | None:
    standard = bill.standard if bill.standard_id else standard_for(bill.fee_item_id, bill.due_date)
    return LateFeeRule.of(standard) if standard is not None else None


def accrue_late_fees(bill_id: int, as_of_date: dt.date | None = None,
                     actor: audit.Actor | None = None) -> int:
    """Accrue every day not yet accrued up to ``as_of_date`` (a Shanghai date,
    default today).  Returns the fen added.

    The fee is charged on the principal still outstanding now (amount +
    adjustments − paid), never on earlier late fees, and the total never
    exceeds the cap (principal × cap ratio).
    """
    as_of = as_of_date or local_today()
    actor = actor or audit.Actor.system("late_fees")
    try:
        with transaction():
            bill = for_update(Bill.select().where(Bill.id == bill_id)).first()
            if bill is None:
                raise NotFound(f"账单 {bill_id} 不存在")
            if bill.status not in BillStatus.OPEN:
                return 0
            rule = _rule_for(bill)
            if rule is None or not rule.active:
                return 0
            last = _as_date(LateFeeAccrual.select(peewee.fn.MAX(LateFeeAccrual.accrual_date))
                            .where(LateFeeAccrual.bill == bill.id).scalar())
            start = first_late_day(bill.due_date, rule)
            if last is not None:
                start = max(start, last + ONE_DAY)
            if start > as_of:
                return 0
            outstanding = outstanding_principal_fen(bill.amount_fen, bill.adjusted_fen, bill.paid_fen)
            cap = late_fee_cap_fen(principal_fen(bill.amount_fen, bill.adjusted_fen), rule)
            if outstanding <= 0 or bill.late_fee_fen >= cap:
                return 0
            if bill.on_hold:
                # Mark the held days as decided (zero) so they are never charged later.
                days = [(start + ONE_DAY * i, 0) for i in range((as_of - start).days + 1)]
            else:
                days = late_fee_schedule(start, as_of, due_date=bill.due_date, rule=rule,
                                         outstanding_fen=outstanding, cap_fen=cap,
                                         accrued_fen=bill.late_fee_fen)
            if not days:
                return 0
            LateFeeAccrual.insert_many(
                [(bill.id, day, fen) for day, fen in days],
                fields=(LateFeeAccrual.bill, LateFeeAccrual.accrual_date, LateFeeAccrual.amount_fen),
            ).as_rowcount().execute()
            added = sum(fen for _, fen in days)
            if added:
                Bill.update(late_fee_fen=Bill.late_fee_fen + added).where(Bill.id == bill.id).execute()
            audit.record(actor, "late_fee.accrue", "bill", bill.id, community_id=bill.community_id,
                         before={"late_fee_fen": bill.late_fee_fen},
                         after={"late_fee_fen": bill.late_fee_fen + added,
                                "from": days[0][0], "to": days[-1][0], "days": len(days),
                                "on_hold": bill.on_hold})
            return added
    except peewee.IntegrityError:
        return 0  # another worker accrued these days first


def accrue_open_bills(as_of_date: dt.date | None = None, community_id: int | None = None,
                      actor: audit.Actor | None = None) -> tuple[int, int]:
    """Accrue every open bill past its due date; one transaction per bill.
    Returns (bills that gained a fee, fen added).  For the daily job."""
    as_of = as_of_date or local_today()
    query = (Bill.select(Bill.id)
             .where(Bill.status.in_(BillStatus.OPEN), Bill.due_date < as_of)
             .order_by(Bill.id))
    if community_id is not None:
        query = query.where(Bill.community == community_id)
    bills = fen = 0
    last_id = 0
    while True:
        ids = [row[0] for row in query.where(Bill.id > last_id).limit(1000).tuples()]
        if not ids:
            return bills, fen
        for bill_id in ids:
            added = accrue_late_fees(bill_id, as_of, actor)
            bills += added > 0
            fen += added
        last_id = ids[-1]
