"""The cashier's commands: record, approve, close the day, refund."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from payments.cli import offline_group, refund_group
from server import db as dbmod
from server.billing.models import BillStatus
from server.ledger.models import Payment, RefundStatus, Refund
from tests import factories as f


@pytest.fixture
def invoke(database, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", database.test_url)
    monkeypatch.setenv("WUYEPAY_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("OFFLINE_PAYMENT_APPROVAL_THRESHOLD_FEN", "50000")

    def run(group, *args):
        try:
            return CliRunner().invoke(group, [str(a) for a in args])
        finally:
            dbmod.database.obj.close()
            dbmod.database.initialize(database)

    return run


@pytest.fixture
def counter(database):
    comm = f.community()
    house = f.house(comm)
    item = f.fee_item(comm, "property", "物业费")
    small = f.bill(house, item, period="2026-01", amount_fen=20_000)
    large = f.bill(house, item, period="2026-02", amount_fen=80_000)
    f.staff("cashier")
    f.staff("manager")
    return comm, small, large


def test_cash_below_the_threshold_is_booked_and_the_day_closes_with_its_total(invoke, counter):
    comm, small, _ = counter
    result = invoke(offline_group, "record", "--community", comm.code, "--bill", f"{small.id}:20000",
                    "--channel", "cash", "--voucher", "XJ-1", "--operator", "cashier", "--date", "2026-03-02")
    assert result.exit_code == 0, result.output
    assert "booked" in result.output
    assert f.reload(small).status == BillStatus.PAID
    result = invoke(offline_group, "close-day", "--operator", "cashier", "--community", comm.code,
                    "--date", "2026-03-02")
    assert result.exit_code == 0, result.output
    assert "200.00" in result.output and "day locked" in result.output
    again = invoke(offline_group, "record", "--community", comm.code, "--bill", f"{small.id}:1",
                   "--channel", "cash", "--voucher", "XJ-2", "--operator", "cashier", "--date", "2026-03-02")
    assert again.exit_code != 0


def test_a_large_transfer_waits_for_another_staff_member(invoke, counter):
    comm, _, large = counter
    result = invoke(offline_group, "record", "--community", comm.code, "--bill", f"{large.id}:80000",
                    "--channel", "bank_transfer", "--voucher", "TR-7", "--operator", "cashier")
    assert "waiting" in result.output and f.reload(large).paid_fen == 0
    order_id = result.output.split("#")[1].split()[0]
    refused = invoke(offline_group, "approve", order_id, "--staff", "cashier")
    assert refused.exit_code != 0 and "SECOND_APPROVER_REQUIRED" in refused.output
    assert invoke(offline_group, "approve", order_id, "--staff", "manager").exit_code == 0
    assert f.reload(large).status == BillStatus.PAID


def test_a_counter_refund_is_requested_then_approved(invoke, counter):
    comm, small, _ = counter
    invoke(offline_group, "record", "--community", comm.code, "--bill", f"{small.id}:20000",
           "--channel", "pos", "--voucher", "POS-1", "--operator", "cashier")
    payment = Payment.get()
    result = invoke(refund_group, "request", "--payment", payment.id, "--bill", small.id, "--amount", 5000,
                    "--reason", "多收", "--staff", "cashier", "--key", "r1")
    assert result.exit_code == 0, result.output
    refund = Refund.get()
    assert invoke(refund_group, "approve", refund.id, "--staff", "manager").exit_code == 0
    assert f.reload(refund).status == RefundStatus.SUCCESS
    assert f.reload(small).paid_fen == 15_000
