"""Per-community snapshots of the dashboard figures of finished dates: the answer
assembled from them equals the live computation (fixture, random data), they are
stored only for dates that are over, refreshed when a late fee dated on or before
the date is recorded later, and filled by the nightly job idempotently."""
from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs import reports as report_jobs
from jobs.schedule import entry
from server.billing.models import (Adjustment, AdjustmentKind, AdjustmentStatus, LateFeeAccrual)
from server.ledger.models import Allocation, Payment, Refund, RefundStatus
from server.reports import collection, snapshots
from server.reports.asof import bills_as_of
from server.reports.models import ReportSnapshot
from server.reports.rates import Rate
from server.timeutil import add_months, local_midnight_utc, local_today, period_of, utcnow
from tests import factories as f
from tests.admin import fixtures
from tests.admin.conftest import login, make_staff
from tests.admin.fixtures import AS_OF, PERIOD, sh
from tests.admin.test_reports import EXPECTED, _figures

_seq = itertools.count()


def _live(ids, period, as_of):
    """The figures computed from scratch, no snapshot read or written."""
    report = collection.assemble_collection(collection._collection_raw(ids, period, as_of),
                                            period, as_of)
    ages = collection._arrears_raw(ids, as_of)
    trend = collection._trend_raw(ids, collection.trend_periods(period), as_of)
    return _shape(report, ages, trend, period)


def _shape(report, ages_raw, trend_raw, period):
    rows = [(s.label, s.due_fen, s.paid_fen, s.houses, s.houses_paid)
            for s in [report.total, *report.by_community, *report.by_fee_item]]
    ages = [[sum(r[i][k] for r in ages_raw.values()) for k in range(3)] for i in range(4)]
    trend = {p: [sum(r.get(p, [0, 0])[k] for r in trend_raw.values()) for k in range(2)]
             for p in collection.trend_periods(period)}
    return rows, ages, [(p, Rate(v[1], v[0]).percent()) for p, v in trend.items()]


def _assembled(ids, period, as_of):
    report = collection.collection_rate(ids, period, as_of)
    rows = [(s.label, s.due_fen, s.paid_fen, s.houses, s.houses_paid)
            for s in [report.total, *report.by_community, *report.by_fee_item]]
    ages = [[a.bills, a.houses, a.balance_fen] for a in collection.arrears_by_age(ids, as_of)]
    trend = [(p, r.percent()) for p, r in collection.trend(ids, period, as_of)]
    return rows, ages, trend


def test_fixture_figures_come_from_per_community_snapshots_and_equal_the_hand_computed_ones(
        database, monkeypatch):
    fx = fixtures.build()
    ids = [fx.a.id, fx.b.id]
    assert _figures(ids) == EXPECTED
    stored = list(ReportSnapshot.select().where(ReportSnapshot.as_of == AS_OF))
    assert sorted((s.community_id, s.kind, s.period) for s in stored) == sorted(
        (c, k, p) for c in ids for k, p in (("collection", PERIOD), ("arrears", ""),
                                            ("trend12", PERIOD)))
    first = collection.snapshot_time(ids, PERIOD, AS_OF)
    assert first is not None
    fixtures.after_d(fx)
    assert _figures(ids) == EXPECTED == _figures_live(ids, monkeypatch)
    assert collection.snapshot_time(ids, PERIOD, AS_OF) == first  # read, not recomputed
    assert ReportSnapshot.select().count() == len(stored)


def _figures_live(ids, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(snapshots, "storable", lambda as_of, now=None: False)
        return _figures(ids)


def test_one_community_snapshot_serves_the_many_community_answer_by_exact_sums(database):
    fx = fixtures.build()
    b_only = collection.collection_rate([fx.b.id], PERIOD, AS_OF)
    assert b_only.computed_at is not None and b_only.total.by_amount.percent() == "100.00%"
    both = collection.collection_rate([fx.a.id, fx.b.id], PERIOD, AS_OF)
    # 90000 / 120100, not the mean of 100.00 % and 69.93 %.
    assert (both.total.paid_fen, both.total.due_fen, both.total.by_amount.percent()) == (
        90000, 120100, "74.94%")
    assert (both.total.houses_paid, both.total.houses) == (2, 4)


def test_a_late_fee_dated_on_or_before_the_date_recorded_later_refreshes_the_snapshot(database):
    fx = fixtures.build()
    ids = [fx.a.id, fx.b.id]
    assert collection.collection_rate(ids, PERIOD, AS_OF).total.due_fen == 120100
    # The accrual job catching up a day it missed (scheduler outage): dated D, written now.
    LateFeeAccrual.create(bill=fx.bills["h2_tcf"], accrual_date=AS_OF, amount_fen=7)
    LateFeeAccrual.create(bill=fx.bills["h4_wyf"], accrual_date=AS_OF + dt.timedelta(days=1),
                          amount_fen=9)  # after D: no change for D
    report = collection.collection_rate(ids, PERIOD, AS_OF)
    assert report.total.due_fen == 120107
    assert [s.due_fen for s in report.by_community] == [20000, 100107]
    assert _assembled(ids, PERIOD, AS_OF) == _live(ids, PERIOD, AS_OF)


def test_today_is_kept_five_minutes_and_never_taken_for_the_final_figures(database):
    fx = fixtures.build()
    today = local_today()
    ids = [fx.a.id, fx.b.id]
    report = collection.collection_rate(ids, period_of(today), today)
    assert report.computed_at is not None and not snapshots.storable(today)
    first = {s.id for s in ReportSnapshot.select()}
    assert first
    again = collection.collection_rate(ids, period_of(today), today)
    assert again.computed_at == report.computed_at                 # served from the snapshot
    assert {s.id for s in ReportSnapshot.select()} == first
    later = utcnow() + snapshots.TODAY_TTL + dt.timedelta(seconds=1)
    found, at = snapshots.figures("collection", ids, period_of(today), today,
                                  lambda c: {i: {"recomputed": True} for i in c}, now=later)
    assert at > report.computed_at and all(v == {"recomputed": True} for v in found.values())
    # Once the day is over, a snapshot taken during it is recomputed, however fresh.
    after_midnight = local_midnight_utc(today + dt.timedelta(days=1)) + snapshots.SETTLE
    found, _ = snapshots.figures("collection", ids, period_of(today), today,
                                 lambda c: {i: {"final": True} for i in c}, now=after_midnight)
    assert all(v == {"final": True} for v in found.values())
    # Yesterday is over only once the settling minutes after midnight have passed.
    midnight = local_midnight_utc(today)
    assert not snapshots.storable(today - dt.timedelta(days=1), midnight + dt.timedelta(minutes=5))
    assert snapshots.storable(today - dt.timedelta(days=1), midnight + dt.timedelta(minutes=11))


def test_the_warming_job_keeps_todays_figures_ready(database):
    fx = fixtures.build()
    result = report_jobs.warm_dashboard(utcnow().isoformat())
    assert result["stored"] > 0
    today = local_today()
    kinds = {s.kind for s in ReportSnapshot.select().where(ReportSnapshot.as_of == today)}
    assert kinds >= {"collection", "arrears"}
    assert entry("reports.dashboard_today").job == "reports.warm_dashboard"
    assert collection.collection_rate([fx.a.id, fx.b.id], period_of(today), today).computed_at


def test_nightly_job_stores_yesterday_for_every_community_once(database):
    fx = fixtures.build()
    c = f.community("空小区", "E")  # no bills: stored too, so it is never recomputed
    fire = sh(2026, 11, 21, 2, 0).isoformat()
    assert entry("reports.dashboard").job == "reports.precompute_dashboard"
    result = report_jobs.precompute_dashboard(fire)
    assert result == {"as_of": AS_OF.isoformat(), "periods": ["2026-11"], "stored": 9}
    rows = {(s.community_id, s.kind, s.period): (s.figures, s.computed_at)
            for s in ReportSnapshot.select()}
    assert {k[0] for k in rows} == {fx.a.id, fx.b.id, c.id}
    assert report_jobs.precompute_dashboard(fire)["stored"] == 0
    assert {(s.community_id, s.kind, s.period): (s.figures, s.computed_at)
            for s in ReportSnapshot.select()} == rows
    ids = [fx.a.id, fx.b.id, c.id]
    assert _assembled(ids, "2026-11", AS_OF) == _live(ids, "2026-11", AS_OF)


def test_dashboard_says_when_stored_figures_were_computed(client):
    fixtures.build()
    make_staff("boss")
    login(client, "boss")
    page = client.get("/admin/?period=2026-10&as_of=2026-11-20").get_data(as_text=True)
    assert "数据计算于" in page and "74.94%" in page
    assert "数据实时计算" in client.get("/admin/").get_data(as_text=True)


# ----------------------------------------------------------------------------- random data
D = dt.date(2026, 11, 10)
PERIODS = [add_months("2026-11", -k) for k in range(4)]
_moments = st.integers(min_value=-40, max_value=5).map(
    lambda days: local_midnight_utc(D) + dt.timedelta(days=days, hours=13))
_bill = st.fixed_dictionaries({
    "period": st.sampled_from(PERIODS), "amount": st.integers(0, 30000),
    "due_day": st.integers(1, 28), "issued": _moments,
    "pays": st.lists(st.tuples(st.integers(1, 30000), _moments), max_size=2),
    "refund": st.one_of(st.none(), st.tuples(st.integers(1, 5000), _moments)),
    "adjust": st.one_of(st.none(), st.tuples(st.integers(-5000, 5000), _moments)),
    "late": st.lists(st.integers(-60, 3), max_size=2, unique=True),
})
_community = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 1), _bill), max_size=6)


def _build(spec):
    comm = f.community()
    items = [f.fee_item(comm, f"I{n}") for n in range(2)]
    houses = [f.house(comm) for _ in range(3)]
    seen = set()
    for h, i, b in spec:
        if (h, i, b["period"]) in seen:
            continue  # one bill per house, item and period
        seen.add((h, i, b["period"]))
        bill = f.bill(houses[h], items[i], period=b["period"], amount_fen=b["amount"],
                      due_day=b["due_day"], issued_at=b["issued"])
        for amount, at in b["pays"]:
            p = Payment.create(community=comm, channel="cash", amount_fen=amount, received_at=at,
                               created_at=at)
            Allocation.create(payment=p, bill=bill, amount_fen=amount, created_at=at)
            if b["refund"]:
                Refund.create(payment=p, bill=bill, out_refund_no=f"R{next(_seq)}",
                              amount_fen=b["refund"][0], reason="退", status=RefundStatus.SUCCESS,
                              created_at=at, succeeded_at=max(at, b["refund"][1]))
        if b["adjust"]:
            Adjustment.create(bill=bill, kind=AdjustmentKind.CORRECTION, amount_fen=b["adjust"][0],
                              reason="调", status=AdjustmentStatus.APPROVED, decided_at=b["adjust"][1])
        for days in b["late"]:
            LateFeeAccrual.create(bill=bill, accrual_date=D + dt.timedelta(days=days), amount_fen=11)
    return comm.id


def _oracle(ids, period, as_of):
    """Straight from the per-bill figures of ``bills_as_of``, in Python."""
    bills = bills_as_of(as_of, ids)
    mine = [b for b in bills if b.period == period]
    houses = {}
    for b in mine:
        houses.setdefault(b.house_id, []).append(b.paid_fen >= b.due_fen)
    ages = [[0, set(), 0] for _ in range(4)]
    for b in bills:
        if b.due_date < as_of and b.balance_fen > 0:
            days = (as_of - b.due_date).days
            i = 0 if days <= 30 else 1 if days <= 90 else 2 if days <= 180 else 3
            ages[i][0] += 1
            ages[i][1].add(b.house_id)
            ages[i][2] += b.balance_fen
    trend = [(p, Rate(sum(b.paid_fen for b in bills if b.period == p),
                      sum(b.due_fen for b in bills if b.period == p)).percent())
             for p in collection.trend_periods(period)]
    total = (sum(b.due_fen for b in mine), sum(b.paid_fen for b in mine), len(houses),
             sum(all(v) for v in houses.values()))
    return total, [[n, len(h), fen] for n, h, fen in ages], trend


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(_community, min_size=1, max_size=3), period=st.sampled_from(PERIODS),
       first=st.integers(0, 2))
def test_snapshot_assembled_figures_equal_live_and_per_bill_figures_on_random_data(
        database, specs, period, first):
    ids = [_build(spec) for spec in specs]
    _assembled(ids[:first], period, D)            # some communities stored beforehand
    for _ in range(2):                            # a mix of stored and new, then all stored
        rows, ages, trend = _assembled(ids, period, D)
        assert (rows, ages, trend) == _live(ids, period, D)
        assert (rows[0][1:], ages, trend) == _oracle(ids, period, D)
