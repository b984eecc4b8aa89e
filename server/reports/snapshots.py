"""Per-community snapshots of the dashboard figures of a finished Shanghai date.

The figures of a date D are computed from rows recorded by the end of D
(``server.reports.asof``): bills by ``issued_at``, adjustments by ``decided_at``,
allocations by ``created_at``, refunds by ``succeeded_at`` — all set to the clock
when the row is written, so nothing written later counts for D.  One input is a
business date instead: late-fee accruals count by ``accrual_date`` ≤ D, and the
accrual job catches up days not yet accrued (after a scheduler outage, for a bill
issued after the day's 00:30 run with a past due date, or reopened by a refund).
So a snapshot is kept with the highest accrual id it saw (``accrual_mark``) and is
recomputed when an accrual dated ≤ D with a higher id exists.  Payments by channel
count by ``received_at`` (the WeChat success time, the date of an offline receipt
booked later): that figure is not snapshotted, it stays live (an index range scan).

Snapshots are final only when D is over by ``SETTLE`` (a transaction begun before
midnight has committed).  Today's figures are kept for ``TODAY_TTL`` (the dashboard
says when they were computed) and warmed by a job, so a company-wide dashboard is
not recomputed for every look; a snapshot taken before D was over is never final.  Each community's
figures are stored separately and the answer for many communities is assembled
from them by exact sums (fen, households), never by averaging rates.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

import peewee as pw

from server.billing.models import Bill, LateFeeAccrual
from server.db import transaction
from server.reports.asof import cutoff
from server.reports.models import ReportSnapshot
from server.timeutil import utcnow

SETTLE = dt.timedelta(minutes=10)
TODAY_TTL = dt.timedelta(minutes=5)

Compute = Callable[[list[int]], dict[int, object]]


def storable(as_of: dt.date, now: dt.datetime | None = None) -> bool:
    """Whether the figures of ``as_of`` can be stored: the day ended ``SETTLE`` ago."""
    return (now or utcnow()) >= cutoff(as_of) + SETTLE


def _accrual_mark() -> int:
    return int(LateFeeAccrual.select(pw.fn.MAX(LateFeeAccrual.id)).scalar() or 0)


def _stale(found: dict[int, ReportSnapshot], as_of: dt.date, now: dt.datetime) -> set[int]:
    """Communities whose snapshot is out of date: taken before ``as_of`` was over and now
    older than ``TODAY_TTL`` (or ``as_of`` is over since), or missing an accrual dated ≤
    ``as_of`` recorded after it."""
    if not found:
        return set()
    final_from = cutoff(as_of) + SETTLE
    over = now >= final_from
    provisional = {c for c, s in found.items() if s.computed_at < final_from
                   and (over or s.computed_at < now - TODAY_TTL)}
    if provisional:
        return provisional | _stale({c: s for c, s in found.items() if c not in provisional},
                                    as_of, now)
    low = min(s.accrual_mark for s in found.values())
    rows = (LateFeeAccrual.select(Bill.community, pw.fn.MAX(LateFeeAccrual.id))
            .join(Bill, on=(LateFeeAccrual.bill == Bill.id))
            .where(LateFeeAccrual.id > low, LateFeeAccrual.accrual_date <= as_of,
                   Bill.community.in_(list(found)))
            .group_by(Bill.community).tuples())
    return {c for c, top in rows if top > found[c].accrual_mark}


def figures(kind: str, community_ids: list[int], period: str, as_of: dt.date, compute: Compute,
            *, now: dt.datetime | None = None) -> tuple[dict[int, object], dt.datetime | None]:
    """``{community_id: figures}`` of ``kind`` and the earliest time they were computed.
    Missing or stale snapshots are computed together by ``compute(ids)`` (JSON-able
    figures per community, every id present) and stored (for a date not yet over:
    for ``TODAY_TTL``)."""
    ids = sorted(set(community_ids))
    if not ids:
        return compute(ids), None
    now = now or utcnow()
    found = {s.community_id: s for s in ReportSnapshot.select().where(
        ReportSnapshot.community.in_(ids), ReportSnapshot.kind == kind,
        ReportSnapshot.period == period, ReportSnapshot.as_of == as_of)}
    stale = _stale(found, as_of, now)
    result = {c: s.figures for c, s in found.items() if c not in stale}
    times = [s.computed_at for c, s in found.items() if c not in stale]
    missing = [c for c in ids if c not in result]
    if missing:
        mark = _accrual_mark()  # read first: an accrual written meanwhile makes it stale
        fresh = compute(missing)
        at = utcnow()
        with transaction():
            if stale:
                ReportSnapshot.delete().where(
                    ReportSnapshot.community.in_(sorted(stale)), ReportSnapshot.kind == kind,
                    ReportSnapshot.period == period, ReportSnapshot.as_of == as_of).execute()
            rows = [{"community": c, "kind": kind, "period": period, "as_of": as_of,
                     "figures": fresh[c], "accrual_mark": mark, "computed_at": at} for c in missing]
            for start in range(0, len(rows), 500):
                ReportSnapshot.insert_many(rows[start:start + 500]).on_conflict_ignore().execute()
        result.update(fresh)
        times.append(at)
    return {c: result[c] for c in ids}, min(times)


def computed_at(community_ids: list[int], as_of: dt.date, kinds: dict[str, str]
                ) -> dt.datetime | None:
    """The earliest ``computed_at`` of the snapshots of ``kinds`` ({kind: period}) for
    ``community_ids`` as of ``as_of`` (None when there are none: live figures)."""
    if not community_ids:
        return None
    where = None
    for kind, period in kinds.items():
        one = (ReportSnapshot.kind == kind) & (ReportSnapshot.period == period)
        where = one if where is None else (where | one)
    first = (ReportSnapshot.select(ReportSnapshot.computed_at)
             .where(ReportSnapshot.community.in_(community_ids), ReportSnapshot.as_of == as_of, where)
             .order_by(ReportSnapshot.computed_at).first())
    return first.computed_at if first else None


def precompute(as_of: dt.date, periods: list[str], community_ids: list[int] | None = None) -> int:
    """Store every missing or stale dashboard figure of ``as_of`` for every community
    (collection and 12-month trend of each of ``periods``, arrears).  Returns how many
    snapshots were added (0 on a re-run of a finished date).  For the nightly job and,
    for today, the job that keeps the dashboard warm."""
    from server.property.models import Community
    from server.reports import collection

    ids = community_ids
    if ids is None:
        ids = [c for (c,) in Community.select(Community.id).order_by(Community.id).tuples()]
    before = ReportSnapshot.select().where(ReportSnapshot.as_of == as_of).count()
    for period in periods:
        collection.collection_rate(ids, period, as_of)
        collection.trend(ids, period, as_of)
    collection.arrears_by_age(ids, as_of)
    return ReportSnapshot.select().where(ReportSnapshot.as_of == as_of).count() - before
