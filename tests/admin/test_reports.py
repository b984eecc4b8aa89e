"""Dashboard figures on the hand-computed fixture (see ``tests.admin.fixtures``)."""
from __future__ import annotations

import datetime as dt

from server.reports import activity, collection
from server.reports.rates import Rate
from tests.admin import fixtures
from tests.admin.fixtures import AS_OF, PERIOD


def _figures(ids):
    report = collection.collection_rate(ids, PERIOD, AS_OF)
    rows = lambda slices: [(s.label, s.due_fen, s.paid_fen, s.by_amount.percent(),  # noqa: E731
                            s.houses_paid, s.houses) for s in slices]
    return {
        "total": rows([report.total])[0],
        "communities": rows(report.by_community),
        "items": rows(report.by_fee_item),
        "ages": [(a.label, a.bills, a.houses, a.balance_fen)
                 for a in collection.arrears_by_age(ids, AS_OF)],
        "channels_nov": [(c.channel, c.payments, c.amount_fen) for c in
                         activity.channel_mix(ids, *activity.period_range("2026-11", AS_OF))],
        "channels_oct": [(c.channel, c.payments, c.amount_fen) for c in
                         activity.channel_mix(ids, *activity.period_range(PERIOD, AS_OF))],
        "trend": [(p, r.percent()) for p, r in collection.trend(ids, PERIOD, AS_OF)],
    }


EXPECTED = {
    "total": ("合计", 120100, 90000, "74.94%", 2, 4),
    "communities": [("翠湖苑", 20000, 20000, "100.00%", 1, 1),
                    ("阳光小区", 100100, 70000, "69.93%", 1, 3)],
    "items": [("翠湖苑 · 物业费", 20000, 20000, "100.00%", 1, 1),
              ("阳光小区 · 停车费", 25000, 15000, "60.00%", 1, 2),
              ("阳光小区 · 物业费", 75100, 55000, "73.24%", 2, 3)],
    "ages": [("0–30天", 1, 1, 25000), ("31–90天", 3, 2, 55100),
             ("91–180天", 1, 1, 20000), (">180天", 1, 1, 25000)],
    "channels_nov": [("wechat", 2, 30000), ("cash", 1, 25000)],
    "channels_oct": [("wechat", 1, 40000)],
    "trend": [("2025-11", "—"), ("2025-12", "—"), ("2026-01", "—"), ("2026-02", "—"),
              ("2026-03", "—"), ("2026-04", "0.00%"), ("2026-05", "—"), ("2026-06", "—"),
              ("2026-07", "0.00%"), ("2026-08", "—"), ("2026-09", "0.00%"),
              ("2026-10", "74.94%")],
}


def test_dashboard_figures_equal_the_hand_computed_ones(database):
    fx = fixtures.build()
    assert _figures([fx.a.id, fx.b.id]) == EXPECTED


def test_figures_for_a_date_do_not_move_when_money_arrives_after_it(database):
    fx = fixtures.build()
    before = _figures([fx.a.id, fx.b.id])
    fixtures.after_d(fx)
    assert _figures([fx.a.id, fx.b.id]) == before == EXPECTED
    # ... while the next day's report does see the new money.
    later = collection.collection_rate([fx.a.id, fx.b.id], PERIOD, AS_OF + dt.timedelta(days=1))
    assert later.total.paid_fen > before["total"][2]


def test_household_rate_and_scope_of_one_community(database):
    fx = fixtures.build()
    report = collection.collection_rate([fx.a.id], PERIOD, AS_OF)
    assert (report.total.due_fen, report.total.paid_fen) == (100100, 70000)
    assert report.total.by_household.percent() == "33.33%"
    assert [a.balance_fen for a in collection.arrears_by_age([fx.b.id], AS_OF)] == [0, 0, 20000, 0]


def test_open_work_counts_alerts_disputes_and_reconciliation_items(database):
    fx = fixtures.build()
    everything = activity.open_work([fx.a.id, fx.b.id], all_communities=True)
    assert (everything.alerts, everything.disputes, everything.reconciliation_items) == (2, 1, 1)
    only_a = activity.open_work([fx.a.id], all_communities=False)
    assert (only_a.alerts, only_a.disputes, only_a.reconciliation_items) == (1, 1, None)


def test_rates_round_half_up_in_basis_points_without_floats():
    assert Rate(90000, 120100).percent() == "74.94%"
    assert Rate(1, 3).percent() == "33.33%"
    assert Rate(2, 3).percent() == "66.67%"
    assert Rate(1, 8).basis_points == 1250
    assert Rate(0, 0).percent() == "—"
