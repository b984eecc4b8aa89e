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
from server.reports import snapshots
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
    computed_at: dt.datetime | None = None  # when the figures were stored; None: live


def _fully_paid(b):
    return pw.Case(None, [(b.c.paid >= b.c.due, 1)], 0)


def _collection_raw(community_ids: list[int], period: str, as_of: dt.date) -> dict[int, dict]:
    """Per community: ``items`` [[fee item, due, paid, bills, bills paid]] and ``houses``
    [houses with a bill of the period, houses with all of them paid].

    Two grouped queries over the period's balances as of D: money and bills per
    (community, fee item) — a house has one bill per item and period (unique), so its
    households are its bills — and households per community (every bill paid)."""
    raw = {c: {"items": [], "houses": [0, 0]} for c in community_ids}
    b = balances(as_of, community_ids, periods=[period]).alias("b")
    s = pw.fn.SUM
    for comm, item, due, paid, houses, houses_paid in aggregate(
            b, [b.c.community_id, b.c.fee_item_id, s(b.c.due), s(b.c.paid), pw.fn.COUNT(b.c.bill_id),
                s(_fully_paid(b))], group_by=(b.c.community_id, b.c.fee_item_id)):
        raw[comm]["items"].append([item, int(due or 0), int(paid or 0), int(houses),
                                   int(houses_paid or 0)])
    b = balances(as_of, community_ids, periods=[period]).alias("b")
    house = (pw.Select(from_list=[b], columns=[b.c.community_id.alias("community_id"),
                                               pw.fn.MIN(_fully_paid(b)).alias("ok")])
             .group_by(b.c.community_id, b.c.house_id).alias("h"))
    for comm, n, ok in aggregate(house, [house.c.community_id, pw.fn.COUNT(pw.SQL("*")), s(house.c.ok)],
                                 group_by=(house.c.community_id,)):
        raw[comm]["houses"] = [int(n), int(ok or 0)]
    return raw


def collection_rate(community_ids: list[int], period: str, as_of: dt.date) -> CollectionReport:
    """收缴率 of ``period`` as of ``as_of``: in total, per community, per (community, fee item).

    Assembled from each community's figures (stored once D is over, see
    ``server.reports.snapshots``) by exact sums of fen and households."""
    raw, computed = snapshots.figures("collection", community_ids, period, as_of,
                                      lambda ids: _collection_raw(ids, period, as_of))
    report = assemble_collection(raw, period, as_of)
    report.computed_at = computed
    return report


def assemble_collection(raw: dict[int, dict], period: str, as_of: dt.date) -> CollectionReport:
    """The report of several communities from their figures (``_collection_raw``)."""
    per_item: dict[tuple[int, int], Collection] = {}
    per_comm_houses: dict[int, tuple[int, int]] = {}
    for comm, figures in raw.items():
        for item, due, paid, houses, houses_paid in figures["items"]:
            per_item[(comm, item)] = Collection("", due, paid, houses, houses_paid)
        if figures["houses"][0]:
            per_comm_houses[comm] = tuple(figures["houses"])
    community_ids = list(raw)
    names = ({c.id: c.name for c in Community.select().where(Community.id.in_(community_ids))}
             if per_comm_houses else {})
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


def _arrears_raw(community_ids: list[int], as_of: dt.date) -> dict[int, list[list[int]]]:
    """Per community, per age bucket: [bills, houses, balance fen]."""
    raw = {c: [[0, 0, 0] for _ in AGE_BUCKETS] for c in community_ids}
    b = balances(as_of, community_ids, due_before=as_of).alias("b")
    # Days past due = D − due date: bucket i holds due dates from D − high to D − low.
    whens = [(b.c.due_date >= (as_of - dt.timedelta(days=high)).isoformat(), i)
             for i, (_, _, high) in enumerate(AGE_BUCKETS) if high is not None]
    bucket = pw.Case(None, whens, len(AGE_BUCKETS) - 1)
    balance = b.c.due - b.c.paid
    rows = aggregate(b, [b.c.community_id, bucket, pw.fn.COUNT(b.c.bill_id),
                         pw.fn.COUNT(b.c.house_id.distinct()), pw.fn.SUM(balance)],
                     where=(balance > 0), group_by=(b.c.community_id, bucket))
    for comm, i, bills, houses, fen in rows:
        raw[comm][int(i)] = [int(bills), int(houses), int(fen or 0)]
    return raw


def arrears_by_age(community_ids: list[int], as_of: dt.date) -> list[AgeBucket]:
    """欠费 by days past due as of D, from balances as of D (later payments do not count).
    A house is in one community, so houses per bucket add up across communities."""
    raw, _ = snapshots.figures("arrears", community_ids, "", as_of,
                               lambda ids: _arrears_raw(ids, as_of))
    buckets = [AgeBucket(label) for label, _, _ in AGE_BUCKETS]
    for figures in raw.values():
        for bucket, (bills, houses, fen) in zip(buckets, figures):
            bucket.bills += bills
            bucket.houses += houses
            bucket.balance_fen += fen
    return buckets


def trend_periods(last_period: str, months: int = 12) -> list[str]:
    return [add_months(last_period, -k) for k in range(months - 1, -1, -1)]


def _trend_raw(community_ids: list[int], periods: list[str], as_of: dt.date
               ) -> dict[int, dict[str, list[int]]]:
    """Per community, per period: [due, paid]."""
    raw: dict[int, dict[str, list[int]]] = {c: {} for c in community_ids}
    b = balances(as_of, community_ids, periods=periods).alias("b")
    for comm, p, due, paid in aggregate(
            b, [b.c.community_id, b.c.period, pw.fn.SUM(b.c.due), pw.fn.SUM(b.c.paid)],
            group_by=(b.c.community_id, b.c.period)):
        raw[comm][p] = [int(due or 0), int(paid or 0)]
    return raw


def trend(community_ids: list[int], last_period: str, as_of: dt.date, months: int = 12
          ) -> list[tuple[str, Rate]]:
    """收缴率（按金额） of each of the ``months`` periods ending at ``last_period``, as of D."""
    periods = trend_periods(last_period, months)
    raw, _ = snapshots.figures(f"trend{months}", community_ids, last_period, as_of,
                               lambda ids: _trend_raw(ids, periods, as_of))
    sums = {p: [0, 0] for p in periods}
    for figures in raw.values():
        for p, (due, paid) in figures.items():
            sums[p][0] += due
            sums[p][1] += paid
    return [(p, Rate(paid, due)) for p, (due, paid) in sums.items()]


def snapshot_time(community_ids: list[int], period: str, as_of: dt.date, months: int = 12
                  ) -> dt.datetime | None:
    """When the stored figures of the dashboard (collection, arrears, trend) were computed,
    the earliest of them; None when they are computed live (``as_of`` is not over)."""
    return snapshots.computed_at(community_ids, as_of, {"collection": period, "arrears": "",
                                                        f"trend{months}": period})
