"""Late-fee accrual on stored bills: idempotent per day, capped, held by disputes."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.audit import AuditLog
from server.billing.latefees import accrue_late_fees, accrue_open_bills
from server.billing.models import BillStatus, LateFeeAccrual, Method
from tests import factories as f

DUE = dt.date(2026, 3, 15)


@pytest.fixture
def late_bill(database):
    """10,000 fen due 2026-03-15, 0.1 % a day after 5 grace days, capped at 5 %."""
    def make(amount_fen=10_000, daily_rate="0.001", grace_days=5, cap_ratio="0.05", **values):
        estate = f.estate(1, water=False, parking=False)
        std = f.standard(estate.items["WYF"], Method.PER_AREA, "1", daily_rate=daily_rate,
                         grace_days=grace_days, cap_ratio=cap_ratio, effective_from=dt.date(2019, 1, 1))
        return f.bill(estate.houses[0], estate.items["WYF"], period="2026-03", amount_fen=amount_fen,
                      std=std, **values)
    return make


def test_nothing_accrues_during_the_grace_days(late_bill):
    bill = late_bill()
    assert accrue_late_fees(bill.id, DUE + dt.timedelta(days=5)) == 0
    assert accrue_late_fees(bill.id, DUE + dt.timedelta(days=6)) == 10
    assert [a.accrual_date for a in LateFeeAccrual.select()] == [DUE + dt.timedelta(days=6)]


def test_accruing_the_same_day_twice_adds_nothing(late_bill):
    bill = late_bill()
    day = DUE + dt.timedelta(days=10)
    assert accrue_late_fees(bill.id, day) == 50
    assert accrue_late_fees(bill.id, day) == 0
    reloaded = f.reload(bill)
    assert reloaded.late_fee_fen == 50 == sum(a.amount_fen for a in LateFeeAccrual.select())
    assert AuditLog.select().where(AuditLog.action == "late_fee.accrue").count() == 1


def test_the_total_stops_at_the_cap(late_bill):
    bill = late_bill()
    assert accrue_late_fees(bill.id, DUE + dt.timedelta(days=200)) == 500  # 5 % of 10,000
    assert accrue_late_fees(bill.id, DUE + dt.timedelta(days=400)) == 0
    assert f.reload(bill).late_fee_fen == 500


def test_the_fee_is_on_outstanding_principal_only(late_bill):
    bill = late_bill(paid_fen=6_000, status=BillStatus.PARTIALLY_PAID)
    # 4,000 outstanding × 0.1 % = 4 fen a day; earlier late fees never earn a fee.
    assert accrue_late_fees(bill.id, DUE + dt.timedelta(days=8)) == 12
    assert accrue_late_fees(bill.id, DUE + dt.timedelta(days=9)) == 4


def test_days_under_an_open_dispute_are_never_charged(late_bill):
    bill = late_bill(on_hold=True)
    assert accrue_late_fees(bill.id, DUE + dt.timedelta(days=10)) == 0
    bill.on_hold = False
    bill.save()
    # The held days (6–10) are decided as zero; only day 11 is charged.
    assert accrue_late_fees(bill.id, DUE + dt.timedelta(days=11)) == 10
    assert f.reload(bill).late_fee_fen == 10


def test_paid_void_and_rate_free_bills_accrue_nothing(late_bill):
    later = DUE + dt.timedelta(days=30)
    assert accrue_late_fees(late_bill(status=BillStatus.PAID, paid_fen=10_000).id, later) == 0
    assert accrue_late_fees(late_bill(status=BillStatus.VOID).id, later) == 0
    assert accrue_late_fees(late_bill(daily_rate="0").id, later) == 0
    assert accrue_late_fees(late_bill(cap_ratio="0").id, later) == 0


def test_accrue_open_bills_walks_every_overdue_bill(late_bill):
    bills = [late_bill(), late_bill()]
    assert accrue_open_bills(DUE + dt.timedelta(days=7)) == (2, 40)
    assert accrue_open_bills(DUE + dt.timedelta(days=7)) == (0, 0)
    assert [f.reload(b).late_fee_fen for b in bills] == [20, 20]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(amount=st.integers(min_value=1, max_value=10**7),
       steps=st.lists(st.integers(min_value=0, max_value=90), min_size=1, max_size=5))
def test_accrued_late_fees_never_exceed_the_cap(late_bill, amount, steps):
    bill = late_bill(amount_fen=amount, daily_rate="0.005", grace_days=0, cap_ratio="0.1")
    day = DUE
    for step in steps:
        day += dt.timedelta(days=step)
        accrue_late_fees(bill.id, day)
    reloaded = f.reload(bill)
    assert reloaded.late_fee_fen <= (amount * 10 + 50) // 100  # half-up 10 %
    assert reloaded.late_fee_fen == sum(a.amount_fen for a in LateFeeAccrual.select()
                                        .where(LateFeeAccrual.bill == bill))
