"""Runs started at the same moment bill every house once; periods and due
dates follow the Shanghai calendar whatever the server's timezone."""
from __future__ import annotations

import datetime as dt
import os
import threading
import time

import pytest
import time_machine

from server import db as dbmod
from server.audit import AuditLog
from server.billing import runs
from server.billing.latefees import accrue_late_fees
from server.billing.models import Bill, BillingRun, RunStatus
from server.timeutil import current_period
from tests import factories as f


def _concurrent_runs(community_id: int, n: int) -> list:
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def worker(i: int):
        try:
            with dbmod.database.connection_context():  # each thread its own connection
                barrier.wait(timeout=30)
                results[i] = runs.issue_run(community_id, "2026-03", f.staff_actor(f"runner{i}"),
                                            chunk_size=7)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


@pytest.mark.postgres
@pytest.mark.parametrize("n", [2, 8])
def test_concurrent_runs_on_postgres_bill_every_house_exactly_once(pg_database, n):
    estate = f.estate(150, water=False)
    results = _concurrent_runs(estate.community.id, n)

    keys = list(Bill.select(Bill.house, Bill.fee_item).tuples())
    assert len(keys) == len(set(keys)) == 300
    assert all(r.status == RunStatus.ISSUED for r in results)
    assert sum(r.bills_created for r in results) == 300
    assert all(r.bills_created + r.bills_existing == 300 for r in results)
    assert {r.total_fen for r in results} == {sum(b.amount_fen for b in Bill.select())}
    assert AuditLog.select().where(AuditLog.action == "billing_run.issue").count() == n


def test_concurrent_runs_on_sqlite_bill_every_house_exactly_once(sqlite_database):
    estate = f.estate(20, water=False)
    results = _concurrent_runs(estate.community.id, 2)
    assert Bill.select().count() == 40
    assert sum(r.bills_created for r in results) == 40


@pytest.fixture
def server_tz():
    """Switch the process timezone (TZ + tzset) and restore it afterwards."""
    original = os.environ.get("TZ")

    def switch(name: str):
        os.environ["TZ"] = name
        time.tzset()

    yield switch
    if original is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = original
    time.tzset()


FEB_1_SHANGHAI = dt.datetime(2026, 1, 31, 16, 30, tzinfo=dt.timezone.utc)  # 00:30 on Feb 1 in Shanghai


def test_at_half_past_midnight_on_feb_1_in_shanghai_the_period_is_february(database, server_tz):
    estate = f.estate(2, water=False)
    outcomes = []
    for tz in ("UTC", "Asia/Shanghai", "America/Los_Angeles"):
        server_tz(tz)
        with time_machine.travel(FEB_1_SHANGHAI, tick=False):
            assert current_period() == "2026-02"
            preview = runs.preview_run(estate.community.id, None)
            outcomes.append((preview.period, preview.bills_planned, preview.total_fen))
    assert outcomes == [("2026-02", 4, outcomes[0][2])] * 3

    server_tz("UTC")
    with time_machine.travel(FEB_1_SHANGHAI, tick=False):
        run = runs.issue_run(estate.community.id, None, f.staff_actor())
    assert run.period == "2026-02"
    assert {(b.period, b.due_date) for b in Bill.select()} == {("2026-02", dt.date(2026, 2, 15))}
    assert BillingRun.get_by_id(run.id).started_at == FEB_1_SHANGHAI


def test_late_fees_accrue_by_shanghai_day_whatever_the_server_timezone(database, server_tz):
    estate = f.estate(1, water=False, parking=False)
    std = f.standard(estate.items["WYF"], "per_area", "2.5", daily_rate="0.001", cap_ratio="1",
                     effective_from=dt.date(2019, 1, 1))
    bill = f.bill(estate.houses[0], estate.items["WYF"], period="2026-01", amount_fen=10_000,
                  due_day=30, std=std)
    server_tz("UTC")
    # 2026-01-31T16:30Z is Feb 1 in Shanghai: Jan 31 and Feb 1 are both late (fee 10 fen each).
    with time_machine.travel(FEB_1_SHANGHAI, tick=False):
        assert accrue_late_fees(bill.id) == 20
    assert f.reload(bill).late_fee_fen == 20
