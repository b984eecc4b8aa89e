"""The schedule on the Shanghai calendar, time-travelled across a month end and a
three-day outage (R11)."""
from __future__ import annotations

import datetime as dt
import os
import time
from decimal import Decimal

import pytest
import time_machine

from jobs.schedule import SCHEDULE, Daily, Every, entry
from jobs.scheduler import Scheduler
from server.audit import Actor
from server.billing.models import Bill, BillingRun, LateFeeAccrual, RunStatus
from server.billing.runs import issue_run
from server.schedule_state import ScheduleState, last_fire, record_fire
from tests import factories as f

UTC = dt.timezone.utc
CST = dt.timezone(dt.timedelta(hours=8))


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


class AlwaysHeld:
    def acquire(self):
        return True

    def release(self):
        pass


def scheduler(backend, *ids):
    return Scheduler(backend, AlwaysHeld(), schedule=tuple(entry(i) for i in ids), relay=False)


@pytest.mark.parametrize("now, expected", [
    ("2026-01-31T16:29:59", "2026-01-30T16:30:00"),   # Jan 31 00:29:59 in Shanghai
    ("2026-01-31T16:30:00", "2026-01-31T16:30:00"),   # Feb 1 00:30 in Shanghai
    ("2026-02-28T16:30:00", "2026-02-28T16:30:00"),   # Mar 1 00:30
    ("2026-12-31T16:29:00", "2026-12-30T16:30:00"),
])
def test_daily_fire_times_are_shanghai_wall_times(now, expected):
    assert Daily(0, 30).latest(utc(now)) == utc(expected)


def test_every_n_minutes_is_aligned_to_shanghai_midnight():
    assert Every(5).latest(utc("2026-01-31T16:04:59")) == utc("2026-01-31T16:00:00")
    assert Every(1).latest(utc("2026-01-31T16:04:59.9")) == utc("2026-01-31T16:04:00")
    assert entry("reconciliation.daily").latest(utc("2026-02-01T02:29:00")) == utc("2026-01-31T02:30:00")
    with pytest.raises(ValueError):
        Every(7)


def test_the_server_timezone_changes_no_fire_time():
    now = utc("2026-01-31T16:30:00")
    results = []
    original = os.environ.get("TZ")
    try:
        for zone in ("UTC", "Asia/Shanghai", "America/New_York"):
            os.environ["TZ"] = zone
            time.tzset()
            results.append([e.latest(now) for e in SCHEDULE])
    finally:
        if original is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = original
        time.tzset()
    assert results[0] == results[1] == results[2]
    assert all(t.tzinfo is not None for t in results[0])


def test_the_scheduler_fires_each_time_once_and_records_it(database, inline_jobs):
    with time_machine.travel(utc("2026-01-31T16:30:00"), tick=False):
        first = scheduler(inline_jobs, "late_fees.daily").fire_due()
        again = scheduler(inline_jobs, "late_fees.daily").fire_due()
    assert first == ["billing-late_fees--2026-01-31T16_30_00_00_00"] and again == []
    assert last_fire("late_fees.daily") == utc("2026-01-31T16:30:00")
    assert not record_fire("late_fees.daily", utc("2026-01-30T16:30:00"), "older")   # never moves back
    assert ScheduleState.select().count() == 1


@pytest.fixture
def january(database):
    """A community billed for January 2026 (due Jan 15), late fees 0.1 %/day, no grace."""
    estate = f.estate(2, water=False, area="100.00")
    for item in estate.items.values():
        std = item.standards.get()
        std.late_fee_daily_rate = Decimal("0.001")
        std.late_fee_cap_ratio = Decimal("0.5")
        std.save()
    with time_machine.travel(utc("2026-01-01T02:00:00"), tick=False):
        issue_run(estate.community.id, "2026-01", f.staff_actor())
    return estate


def _periods(community_id):
    return sorted({b.period for b in Bill.select().where(Bill.community == community_id)})


def test_late_fees_at_0030_on_the_first_of_february_accrue_up_to_february_first(january, inline_jobs):
    late = scheduler(inline_jobs, "late_fees.daily")
    with time_machine.travel(utc("2026-01-31T16:29:00"), tick=False):   # Jan 31 00:29 CST
        record_fire("late_fees.daily", utc("2026-01-29T16:30:00"), "earlier")
        late.fire_due()
    assert max(a.accrual_date for a in LateFeeAccrual.select()) == dt.date(2026, 1, 31)
    with time_machine.travel(utc("2026-01-31T16:30:00"), tick=False):   # Feb 1 00:30 CST
        late.fire_due()
    days = {a.accrual_date for a in LateFeeAccrual.select()}
    assert max(days) == dt.date(2026, 2, 1) and min(days) == dt.date(2026, 1, 16)
    assert len(days) == 17
    assert inline_jobs.ran[-1] == f"billing-accrue_community--{january.community.id}--2026-02-01"


def test_billing_catch_up_at_0100_on_the_first_bills_february(january, inline_jobs):
    catch_up = scheduler(inline_jobs, "billing.catch_up")
    with time_machine.travel(utc("2026-01-31T16:59:59"), tick=False):   # Feb 1 00:59:59 CST
        catch_up.fire_due()
    assert _periods(january.community.id) == ["2026-01"]
    with time_machine.travel(utc("2026-01-31T17:00:00"), tick=False):   # Feb 1 01:00 CST
        catch_up.fire_due()
    assert _periods(january.community.id) == ["2026-01", "2026-02"]
    feb = Bill.select().where(Bill.period == "2026-02")
    assert feb.count() == 2 * 2 and {b.due_date for b in feb} == {dt.date(2026, 2, 15)}


def test_after_three_days_down_one_catch_up_makes_exactly_the_missing_bills(january, inline_jobs):
    catch_up = scheduler(inline_jobs, "billing.catch_up")
    with time_machine.travel(utc("2026-01-29T17:00:00"), tick=False):   # last run: Jan 30 01:00 CST
        catch_up.fire_due()
    january_bills = {(b.id, b.amount_fen) for b in Bill.select()}
    with time_machine.travel(utc("2026-02-02T07:00:00"), tick=False):   # back on Feb 2, 15:00 CST
        fired = catch_up.fire_due()
        assert catch_up.fire_due() == []
    assert fired == ["billing-catch_up--2026-02-01T17_00_00_00_00"]    # Feb 2 01:00, once
    assert {(b.id, b.amount_fen) for b in Bill.select().where(Bill.period == "2026-01")} == january_bills
    assert _periods(january.community.id) == ["2026-01", "2026-02"]
    assert Bill.select().where(Bill.period == "2026-02").count() == 4
    runs = BillingRun.select().where(BillingRun.period == "2026-02")
    assert [(r.status, r.bills_created) for r in runs] == [(RunStatus.ISSUED, 4)]


def test_catch_up_only_continues_communities_billed_before_and_fills_gaps(database, inline_jobs):
    from server.billing.catchup import due_periods

    billed = f.estate(1, water=False)
    f.estate(1, water=False)                                            # never billed: left to staff
    with time_machine.travel(utc("2026-01-01T02:00:00"), tick=False):
        issue_run(billed.community.id, "2026-01", Actor.system("t"))
    with time_machine.travel(utc("2026-03-15T02:00:00"), tick=False):
        issue_run(billed.community.id, "2026-03", Actor.system("t"))
        assert due_periods() == [(billed.community.id, "2026-02")]
    with time_machine.travel(utc("2027-06-01T02:00:00"), tick=False):   # a long outage: 12 months at most
        due = due_periods()
    assert due[0] == (billed.community.id, "2026-07") and due[-1] == (billed.community.id, "2027-06")
    assert len(due) == 12
