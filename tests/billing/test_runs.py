"""Billing runs: preview, issue, cycles, metered items, repeats and crashes."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.audit import AuditLog
from server.billing import runs
from server.billing.models import Bill, BillingRun, BillStatus, Cycle, Method, RunStatus
from server.errors import NotFound, ValidationError
from tests import factories as f

PERIOD = "2026-03"


def test_preview_plans_bills_and_lists_problems_without_billing_anyone(database):
    estate = f.estate(3)
    a, b, c = estate.houses
    f.reading(a, estate.items["SF"], "2026-02", "0", "10")
    f.reading(a, estate.items["SF"], PERIOD, "10", "22.5")
    f.reading(b, estate.items["SF"], PERIOD, "0", "0")  # zero usage, occupied
    c.floor_area = Decimal("0")
    c.save()
    f.fee_item(estate.community, "DF", "电费")  # no standard

    preview = runs.preview_run(estate.community.id, PERIOD, f.staff_actor())

    assert preview.houses == 3
    assert Bill.select().count() == 0
    # 物业费 for a and b (c has no area), 停车费 for all three, 水费 for a only (b used nothing).
    assert {code: t.bills for code, t in preview.totals.items()} == {"WYF": 2, "TCF": 3, "SF": 1}
    assert preview.totals["WYF"].total_fen == 2 * 25_000
    assert preview.totals["SF"].total_fen == 5125  # 12.5 m³ × 4.10
    assert preview.total_fen == sum(t.total_fen for t in preview.totals.values())
    assert dict(preview.problem_counts) == {"zero_area": 1, "missing_reading": 1, "usage_zero": 1,
                                            "no_standard": 1}
    water = next(bill for bill in preview.bills if bill.code == "SF")
    assert (water.quantity, water.unit, water.previous_reading, water.current_reading) == \
        (Decimal("12.5"), "m³", Decimal("10"), Decimal("22.5"))
    run = BillingRun.get_by_id(preview.run_id)
    assert (run.status, run.total_fen, run.houses) == (RunStatus.PREVIEWED, preview.total_fen, 3)


def test_issue_creates_bills_with_their_basis_and_one_audit_record(database):
    estate = f.estate(2, water=False, area="89.57", property_price="2.3333")
    actor = f.staff_actor()

    run = runs.issue_run(estate.community.id, PERIOD, actor)

    assert (run.status, run.bills_created, run.bills_existing) == (RunStatus.ISSUED, 4, 0)
    bill = Bill.get(Bill.house == estate.houses[0], Bill.fee_item == estate.items["WYF"])
    assert (bill.quantity, bill.unit, bill.unit_price, bill.standard_version) == \
        (Decimal("89.57"), "m²·月", Decimal("2.3333"), 1)
    assert bill.amount_fen == 20899  # 208.993681 yuan, half-up once
    assert (bill.due_date, bill.period_start, bill.period_end) == \
        (dt.date(2026, 3, 15), dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert (bill.status, bill.paid_fen, bill.billing_run_id) == (BillStatus.UNPAID, 0, run.id)
    assert run.total_fen == sum(b.amount_fen for b in Bill.select())
    audits = AuditLog.select().where(AuditLog.action == "billing_run.issue")
    assert [a.after["bills_created"] for a in audits] == [4]


def test_repeated_run_creates_no_new_bills(database):
    estate = f.estate(3, water=False)
    first = runs.issue_run(estate.community.id, PERIOD, f.staff_actor())
    second = runs.issue_run(estate.community.id, PERIOD, f.staff_actor())
    assert (first.bills_created, second.bills_created, second.bills_existing) == (6, 0, 6)
    assert second.total_fen == first.total_fen
    assert Bill.select().count() == 6
    preview = runs.preview_run(estate.community.id, PERIOD)
    assert (preview.bills_planned, preview.already_billed, preview.bills_new) == (6, 6, 0)


def test_metered_items_bill_only_houses_with_a_reading(database):
    estate = f.estate(3, parking=False)
    a, b, c = estate.houses
    f.reading(a, estate.items["SF"], PERIOD, "0", "3")
    run = runs.issue_run(estate.community.id, PERIOD, f.staff_actor())
    water = Bill.select().where(Bill.fee_item == estate.items["SF"])
    assert [bill.house_id for bill in water] == [a.id]
    assert [p["house_id"] for p in run.problems if p["kind"] == "missing_reading"] == [b.id, c.id]


def test_houses_without_a_meter_are_reported_as_such(database):
    estate = f.estate(1, parking=False, water=False)
    item = f.fee_item(estate.community, "DF", "电费")
    f.standard(item, Method.METERED, "0.6", unit="kWh")
    preview = runs.preview_run(estate.community.id, PERIOD)
    assert dict(preview.problem_counts) == {"no_meter": 1}


def test_quarterly_items_bill_three_months_in_the_first_month_of_a_quarter(database):
    estate = f.estate(1, parking=False, water=False, area="100")
    item = f.fee_item(estate.community, "QF", "季度物业费")
    f.standard(item, Method.PER_AREA, "1.0000", cycle=Cycle.QUARTERLY, due_day=31)
    yearly = f.fee_item(estate.community, "NF", "年费")
    f.standard(yearly, Method.FIXED, "120", cycle=Cycle.YEARLY)
    for period in ("2026-01", "2026-02", "2026-04"):
        runs.issue_run(estate.community.id, period, f.staff_actor())
    quarterly = list(Bill.select().where(Bill.fee_item == item).order_by(Bill.period))
    assert [(b.period, b.months, b.amount_fen, b.period_end) for b in quarterly] == [
        ("2026-01", 3, 30_000, dt.date(2026, 3, 31)), ("2026-04", 3, 30_000, dt.date(2026, 6, 30))]
    assert quarterly[1].due_date == dt.date(2026, 4, 30)  # due day 31 clamped to April
    assert [(b.period, b.months, b.amount_fen) for b in Bill.select().where(Bill.fee_item == yearly)] == \
        [("2026-01", 12, 144_000)]


def test_bills_with_nothing_to_pay_are_not_created(database):
    estate = f.estate(1, parking=False, water=False)
    free = f.fee_item(estate.community, "FREE", "免费")
    f.standard(free, Method.FIXED, "0")
    runs.issue_run(estate.community.id, PERIOD, f.staff_actor())
    assert not Bill.select().where(Bill.fee_item == free).exists()


def test_the_standard_in_force_at_the_start_of_the_period_is_used(database):
    estate = f.estate(1, parking=False, water=False)
    f.standard(estate.items["WYF"], Method.PER_AREA, "3.0000", effective_from=dt.date(2026, 4, 1))
    runs.issue_run(estate.community.id, "2026-03", f.staff_actor())
    runs.issue_run(estate.community.id, "2026-04", f.staff_actor())
    assert [(b.period, b.standard_version, b.amount_fen) for b in Bill.select().order_by(Bill.period)] == \
        [("2026-03", 1, 25_000), ("2026-04", 2, 30_000)]


def test_bad_input_is_refused(database):
    with pytest.raises(NotFound):
        runs.issue_run(999, PERIOD, f.staff_actor())
    with pytest.raises(ValidationError):
        runs.preview_run(f.community().id, "2026-13")


def test_a_crashed_run_is_completed_by_running_again(database, monkeypatch):
    estate = f.estate(7, water=False)
    real_insert, calls = runs.insert_bills, []

    def crash_on_third_chunk(rows):
        calls.append(len(rows))
        if len(calls) == 3:
            raise peewee.OperationalError("server closed the connection unexpectedly")
        return real_insert(rows)

    monkeypatch.setattr(runs, "insert_bills", crash_on_third_chunk)
    with pytest.raises(peewee.OperationalError):
        runs.issue_run(estate.community.id, PERIOD, f.staff_actor(), chunk_size=2)
    failed = BillingRun.get(BillingRun.status == RunStatus.FAILED)
    assert (failed.bills_created, Bill.select().count()) == (8, 8)
    assert "OperationalError" in failed.error

    monkeypatch.setattr(runs, "insert_bills", real_insert)
    rerun = runs.issue_run(estate.community.id, PERIOD, f.staff_actor(), chunk_size=2)
    assert (rerun.status, rerun.bills_created, rerun.bills_existing) == (RunStatus.ISSUED, 6, 8)
    keys = [(b.house_id, b.fee_item_id) for b in Bill.select()]
    assert len(keys) == len(set(keys)) == 14
    assert {h for h, _ in keys} == {h.id for h in estate.houses}


def test_a_chunk_that_collides_with_existing_bills_inserts_only_the_missing_ones(database):
    estate = f.estate(4, water=False, parking=False)
    f.bill(estate.houses[1], estate.items["WYF"], period=PERIOD, amount_fen=1)  # e.g. imported
    run = runs.issue_run(estate.community.id, PERIOD, f.staff_actor())
    assert (run.bills_created, run.bills_existing) == (3, 1)
    assert Bill.get(Bill.house == estate.houses[1]).amount_fen == 1  # never overwritten


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(areas=st.lists(st.decimals(min_value=Decimal("0"), max_value=Decimal("500"), places=2),
                      min_size=1, max_size=8),
       price=st.decimals(min_value=Decimal("0"), max_value=Decimal("20"), places=4),
       parking=st.decimals(min_value=Decimal("0"), max_value=Decimal("999"), places=4))
def test_run_total_equals_the_sum_of_its_bills_and_a_second_run_adds_nothing(database, areas, price, parking):
    estate = f.estate(0, water=False, property_price=price, parking_price=parking)
    building = f.building(estate.community)
    for area in areas:
        f.house(estate.community, building, area=area)
    first = runs.issue_run(estate.community.id, PERIOD, f.staff_actor(), chunk_size=3)
    bills = list(Bill.select().where(Bill.community == estate.community))
    assert first.total_fen == sum(b.amount_fen for b in bills)
    assert all(type(b.amount_fen) is int and b.amount_fen > 0 for b in bills)
    for code, total in first.totals_by_item.items():
        item_id = estate.items[code].id
        assert total["total_fen"] == sum(b.amount_fen for b in bills if b.fee_item_id == item_id)
    second = runs.issue_run(estate.community.id, PERIOD, f.staff_actor(), chunk_size=3)
    assert (second.bills_created, second.total_fen) == (0, first.total_fen)
    assert Bill.select().where(Bill.community == estate.community).count() == len(bills)


def test_a_chunk_split_over_several_statements_is_all_or_nothing(database, monkeypatch):
    monkeypatch.setattr(runs, "STATEMENT_ROWS", 3)
    estate = f.estate(5, water=False)
    # The only existing bill sits in the chunk's last statement.
    f.bill(estate.houses[4], estate.items["TCF"], period=PERIOD, amount_fen=1)
    run = runs.issue_run(estate.community.id, PERIOD, f.staff_actor())
    assert (run.bills_created, run.bills_existing) == (9, 1)
    assert Bill.select().count() == 10
