"""收缴率 and 欠费: the collection figures of the staff dashboard.

Definitions (the dashboard prints them):

* 收缴率（按金额） for period P as of D = Σ paid as of D ÷ Σ due as of D, over
  the bills of period P issued by the end of D (see ``server.reports.asof``).
* 收缴率（按户） = houses whose every bill of P is fully paid as of D ÷ houses
  with at least one bill of P.  A bill is fully paid when paid ≥ due.
* 欠费账龄: every bill (any period) with a balance as of D > 0 and a due date
  before D, by days past due = D − due date: 1–30, 31–90, 91–180, >180.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from server.billing.models import FeeItem
from server.property.models import Community
from server.reports.asof import BillAsOf, bills_as_of
from server.reports.rates import Rate
from server.timeutil import add_months

AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0–30天", 1, 30),
    ("31–90天", 31, 90),
    ("91–180天", 91, 180),
    (">180天", 181, None),
)


@dataclass
class Collection:
    """Money and households of one slice (all, one community, one fee item)."""

    label: str
    due_fen: int = 0
    paid_fen: int = 0
    houses: int = 0
    houses_paid: int = 0

    @property
    def by_amount(self) -> Rate:
        return Rate(self.paid_fen, self.due_fen)

    @property
    def by_household(self) -> Rate:
        return Rate(self.houses_paid, self.houses)

    @property
    def outstanding_fen(self) -> int:
        return self.due_fen - self.paid_fen


def _collect(label: str, bills: list[BillAsOf]) -> Collection:
    result = Collection(label)
    fully_paid: dict[int, bool] = {}
    for b in bills:
        result.due_fen += b.due_fen
        result.paid_fen += b.paid_fen
        fully_paid[b.house_id] = fully_paid.get(b.house_id, True) and b.paid_fen >= b.due_fen
    result.houses = len(fully_paid)
    result.houses_paid = sum(1 for ok in fully_paid.values() if ok)
    return result


@dataclass
class CollectionReport:
    period: str
    as_of: dt.date
    total: Collection
    by_community: list[Collection] = field(default_factory=list)
    by_fee_item: list[Collection] = field(default_factory=list)


def collection_rate(community_ids: list[int], period: str, as_of: dt.date) -> CollectionReport:
    """收缴率 of ``period`` as of ``as_of``: in total, per community, per (community, fee item)."""
    bills = bills_as_of(as_of, community_ids, periods=[period])
    names = {c.id: c.name for c in Community.select().where(Community.id.in_(community_ids))}
    item_ids = {b.fee_item_id for b in bills}
    items = {i.id: i for i in FeeItem.select().where(FeeItem.id.in_(item_ids))} if item_ids else {}
    per_comm: dict[int, list[BillAsOf]] = defaultdict(list)
    per_item: dict[int, list[BillAsOf]] = defaultdict(list)
    for b in bills:
        per_comm[b.community_id].append(b)
        per_item[b.fee_item_id].append(b)
    report = CollectionReport(period, as_of, _collect("合计", bills))
    report.by_community = [_collect(names[cid], per_comm[cid])
                           for cid in sorted(per_comm, key=lambda c: names[c])]

    def item_label(item_id: int) -> str:
        item = items[item_id]
        return f"{names[item.community_id]} · {item.name}"

    report.by_fee_item = [_collect(item_label(i), per_item[i])
                          for i in sorted(per_item, key=item_label)]
    return report


@dataclass
class AgeBucket:
    label: str
    bills: int = 0
    houses: int = 0
    balance_fen: int = 0


def arrears_by_age(community_ids: list[int], as_of: dt.date) -> list[AgeBucket]:
    """欠费 by days past due as of D, from balances as of D (later payments do not count)."""
    buckets = [AgeBucket(label) for label, _, _ in AGE_BUCKETS]
    houses: list[set[int]] = [set() for _ in AGE_BUCKETS]
    for b in bills_as_of(as_of, community_ids):
        days = (as_of - b.due_date).days
        if b.balance_fen <= 0 or days < 1:
            continue
        for i, (_, low, high) in enumerate(AGE_BUCKETS):
            if days >= low and (high is None or days <= high):
                buckets[i].bills += 1
                buckets[i].balance_fen += b.balance_fen
                houses[i].add(b.house_id)
                break
    for bucket, seen in zip(buckets, houses):
        bucket.houses = len(seen)
    return buckets


def trend(community_ids: list[int], last_period: str, as_of: dt.date, months: int = 12
          ) -> list[tuple[str, Rate]]:
    """收缴率（按金额） of each of the ``months`` periods ending at ``last_period``, as of D."""
    periods = [add_months(last_period, -k) for k in range(months - 1, -1, -1)]
    per_period: dict[str, list[BillAsOf]] = defaultdict(list)
    for b in bills_as_of(as_of, community_ids, periods=periods):
        per_period[b.period].append(b)
    return [(p, _collect(p, per_period[p]).by_amount) for p in periods]
