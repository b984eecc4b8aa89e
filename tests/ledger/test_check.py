"""check-ledger finds every kind of drift and stays silent on a clean ledger."""
from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from server import db as dbmod
from server.billing.adjustments import request_adjustment
from server.billing.cli import check_ledger_command
from server.billing.latefees import accrue_late_fees
from server.billing.models import AdjustmentKind, Bill, BillStatus, Method
from server.ledger.check import Drift, check_ledger
from server.ledger.models import Refund, RefundStatus
from server.ledger.posting import allocate_payment, apply_refund_success
from tests import factories as f


@pytest.fixture
def busy_ledger(database):
    """Bills with payments, a refund, adjustments, a void and late fees."""
    estate = f.estate(3, water=False)
    std = f.standard(estate.items["WYF"], Method.PER_AREA, "1", daily_rate="0.001", cap_ratio="0.1",
                     effective_from=dt.date(2019, 1, 1))
    actor = f.staff_actor()
    bills = [f.bill(h, estate.items["WYF"], amount_fen=10_000, std=std) for h in estate.houses]
    bills += [f.bill(h, estate.items["TCF"], amount_fen=15_000) for h in estate.houses]
    pay = f.payment(estate.community, 30_000)
    allocate_payment(pay, [(bills[0].id, 10_000), (bills[3].id, 15_000), (bills[1].id, 5_000)], actor)
    refund = Refund.create(payment=pay, bill=bills[3], out_refund_no="R1", amount_fen=2_000,
                           reason="多收", status=RefundStatus.PROCESSING)
    apply_refund_success(refund)
    request_adjustment(bills[4].id, AdjustmentKind.VOID, None, "重复", actor, 10**9)
    request_adjustment(bills[5].id, AdjustmentKind.DISCOUNT, -500, "优惠", actor, 10**9)
    accrue_late_fees(bills[2].id, dt.date(2026, 2, 20))
    return bills


def test_a_consistent_ledger_has_no_drift(busy_ledger):
    assert check_ledger(id_range=2) == []


def test_injected_drift_is_found_for_every_total(busy_ledger):
    b = busy_ledger
    Bill.update(paid_fen=Bill.paid_fen + 1).where(Bill.id == b[1].id).execute()
    Bill.update(adjusted_fen=0).where(Bill.id == b[5].id).execute()
    Bill.update(late_fee_fen=0).where(Bill.id == b[2].id).execute()
    Bill.update(status=BillStatus.PAID).where(Bill.id == b[4].id).execute()
    found = {(d.entity_id, d.field) for d in check_ledger(id_range=2)}
    assert found == {(b[1].id, "paid_fen"), (b[5].id, "adjusted_fen"), (b[2].id, "late_fee_fen"),
                     (b[4].id, "status")}


def test_paid_beyond_the_total_and_over_allocated_payments_are_reported(busy_ledger):
    b = busy_ledger
    from server.ledger.models import Allocation, Payment

    Allocation.update(amount_fen=20_000).where(Allocation.bill == b[0].id).execute()
    Bill.update(paid_fen=20_000).where(Bill.id == b[0].id).execute()
    drifts = check_ledger()
    assert Drift("bill", b[0].id, "paid_le_total", 20_000, "0…10000") in drifts
    assert [d.field for d in drifts if d.entity == "payment"] == ["allocated_le_amount"]
    assert Payment.select().count() == 1


def test_check_ledger_command_exits_1_on_drift(busy_ledger, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", dbmod.database.obj.test_url)
    monkeypatch.setenv("WUYEPAY_INSTANCE_PATH", str(tmp_path))
    fixture_db = dbmod.database.obj

    def invoke():
        try:
            return CliRunner().invoke(check_ledger_command, [])
        finally:  # the command binds its own database; give the proxy back to the fixture
            dbmod.database.obj.close()
            dbmod.database.initialize(fixture_db)

    clean = invoke()
    assert (clean.exit_code, "ledger OK" in clean.output) == (0, True), clean.output
    Bill.update(paid_fen=1).where(Bill.id == busy_ledger[2].id).execute()
    drift = invoke()
    assert drift.exit_code == 1
    assert "paid_fen" in drift.output
