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
from dataclasses import dataclass, field

import peewee as pw

from server.billing.models import FeeItem
from server.property.models import Community
from server.reports.asof import aggregate, balances
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


@dataclass
class CollectionReport:
    period: str
    as_of: dt.date
    total: Collection
    by_community: list[Collection] = field(default_factory=list)
    by_fee_item: list[Collection] = field(default_factory=list)


def _fully_paid(b):
    return pw.Case(None, [(b.c.paid >= b.c.due, 1)], 0)


def collection_rate(community_ids: list[int], period: str, as_of: dt.date) -> CollectionReport:
    """收缴率 of ``period`` as of ``as_of``: in total, per community, per (community, fee item).

    Two grouped queries over the period's balances as of D: money and bills per
    (community, fee item) — a house has one bill per item and period (unique), so its
    households are its bills — and households per community (every bill paid)."""
    per_item: dict[tuple[int, int], Collection] = {}
    b = balances(as_of, community_ids, periods=[period]).alias("b")
    s = pw.fn.SUM
    for comm, item, due, paid, houses, houses_paid in aggregate(
            b, [b.c.community_id, b.c.fee_item_id, s(b.c.due), s(b.c.paid), pw.fn.COUNT(b.c.bill_id),
                s(_fully_paid(b))], group_by=(b.c.community_id, b.c.fee_item_id)):
        per_item[(comm, item)] = Collection("", int(due or 0), int(paid or 0), int(houses),
                                            int(houses_paid or 0))
    b = balances(as_of, community_ids, periods=[period]).alias("b")
    house = (pw.Select(from_list=[b], columns=[b.c.community_id.alias("community_id"),
                                               pw.fn.MIN(_fully_paid(b)).alias("ok")])
             .group_by(b.c.community_id, b.c.house_id).alias("h"))
    per_comm_houses = {comm: (int(n), int(ok or 0)) for comm, n, ok in aggregate(
        house, [house.c.community_id, pw.fn.COUNT(pw.SQL("*")), s(house.c.ok)],
        group_by=(house.c.community_id,))}
    names = {c.id: c.name for c in Community.select().where(Community.id.in_(community_ids))}
    item_ids = {i for _, i in per_item}
    items = {i.id: i for i in FeeItem.select().where(FeeItem.id.in_(item_ids))} if item_ids else {}

    def combined(label: str, slices, houses: tuple[int, int]) -> Collection:
        result = Collection(label, houses=houses[0], houses_paid=houses[1])
        for c in slices:
            result.due_fen += c.due_fen
            result.paid_fen += c.paid_fen
        return result

    comms = sorted(per_comm_houses, key=lambda c: names[c])
    report = CollectionReport(period, as_of, combined(
        "合计", per_item.values(), tuple(map(sum, zip(*per_comm_houses.values()))) or (0, 0)))
    report.by_community = [combined(names[c], [v for (k, _), v in per_item.items() if k == c],
                                    per_comm_houses[c]) for c in comms]

    def item_label(item_id: int) -> str:
        item = items[item_id]
        return f"{names[item.community_id]} · {item.name}"

    for (_, item), c in per_item.items():
        c.label = item_label(item)
    report.by_fee_item = sorted(per_item.values(), key=lambda c: c.label)
    return report


@dataclass
class AgeBucket:
    label: str
    bills: int = 0
    houses: int = 0
    balance_fen: int = 0


def arrears_by_age(community_ids: list[int], as_of: dt.date) -> list[AgeBucket]:
    """欠费 by days past due as of D, from balances as of D (later payments do not count)."""
    b = balances(as_of, community_ids, due_before=as_of).alias("b")
    # Days past due = D − due date: bucket i holds due dates from D − high to D − low.
    whens = [(b.c.due_date >= (as_of - dt.timedelta(days=high)).isoformat(), i)
             for i, (_, _, high) in enumerate(AGE_BUCKETS) if high is not None]
    bucket = pw.Case(None, whens, len(AGE_BUCKETS) - 1)
    balance = b.c.due - b.c.paid
    rows = aggregate(b, [bucket, pw.fn.COUNT(b.c.bill_id), pw.fn.COUNT(b.c.house_id.distinct()),
                         pw.fn.SUM(balance)], where=(balance > 0), group_by=(bucket,))
    buckets = [AgeBucket(label) for label, _, _ in AGE_BUCKETS]
    for i, bills, houses, fen in rows:
        buckets[int(i)] = AgeBucket(buckets[int(i)].label, int(bills), int(houses), int(fen or 0))
    return buckets


def trend(community_ids: list[int], last_period: str, as_of: dt.date, months: int = 12
          ) -> list[tuple[str, Rate]]:
    """收缴率（按金额） of each of the ``months`` periods ending at ``last_period``, as of D."""
    periods = [add_months(last_period, -k) for k in range(months - 1, -1, -1)]
    b = balances(as_of, community_ids, periods=periods).alias("b")
    sums = {p: Rate(int(paid or 0), int(due or 0)) for p, due, paid in aggregate(
        b, [b.c.period, pw.fn.SUM(b.c.due), pw.fn.SUM(b.c.paid)], group_by=(b.c.period,))}
    return [(p, sums.get(p, Rate(0, 0))) for p in periods]
