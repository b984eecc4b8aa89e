"""The demo goes through the real services and leaves a consistent ledger."""
from __future__ import annotations

from server import demo
from server.billing.models import Bill, BillStatus, FeeItem
from server.ledger.check import check_ledger
from server.ledger.models import Payment
from server.property.models import House

SMALL = [("小和园", "XH", "测试路 1 号", 2, 1, 3, 2, "2.3500", None),
         ("小锦苑", "XJ", "测试路 2 号", 1, 2, 2, 2, "1.8000", "150.0000")]


def test_demo_creates_houses_items_bills_and_payments_with_a_clean_ledger(database):
    summary = demo.load_demo(seed=7, today_period="2026-11", pay=demo.pay_some_at_the_counter,
                             communities=SMALL)
    assert summary["houses"] == House.select().count() == 12 + 8
    assert FeeItem.select().count() == 4 + 5
    assert summary["bills"] == Bill.select().count() > 0
    assert {b.period for b in Bill.select(Bill.period).distinct()} == {"2026-09", "2026-10", "2026-11"}
    assert summary["payments"] == Payment.select().count() > 0
    assert Bill.select().where(Bill.status == BillStatus.PAID).count() > 0
    assert Bill.select().where(Bill.status == BillStatus.UNPAID).count() > 0
    assert not demo.is_empty()
    assert list(check_ledger()) == []
