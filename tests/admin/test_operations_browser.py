"""Operations flows in a real browser: resolving a reconciliation difference, answering a dispute."""
from __future__ import annotations

import datetime as dt

from payments.models import PaymentOrder
from server import db as dbmod
from server.billing.models import Adjustment, Bill
from server.disputes import services as disputes
from server.disputes.models import DisputeReason
from server.property.models import Binding, Owner
from server.reconciliation.models import ReconciliationItem, ReconciliationRun
from server.timeutil import local_today
from tests import factories as f
from tests.admin.conftest import make_staff


def test_a_manager_resolves_a_reconciliation_difference(staff_browser):
    comm = f.community("阳光小区", "A")
    run = ReconciliationRun.create(bill_date=local_today() - dt.timedelta(days=1), status="done",
                                   remote_payments=1, remote_payment_fen=10_100, local_payments=1,
                                   local_payment_fen=10_000, differences=1)
    item = ReconciliationItem.create(run=run, kind="amount_mismatch", reference="4200000001",
                                     out_trade_no="WY20261122001", remote_fen=10_100, local_fen=10_000,
                                     remote_status="SUCCESS", local_status="paid")
    PaymentOrder.create(out_trade_no="WY20261122001", community=comm, total_fen=10_000, status="paid")
    make_staff("manager", "manager", [comm])
    dbmod.database.close()
    b, page = staff_browser, staff_browser.page
    b.login("manager")
    b.goto("/admin/reconciliation?only=differences")
    page.click(f"a[href*='date={run.bill_date.isoformat()}']")
    row = page.locator(f"tr[data-item='{item.id}']")
    assert "金额不符" in row.inner_text() and "101.00" in row.inner_text()
    row.locator("input[name=note]").fill("微信多收 1.00 元，已与财务核对并安排退款")
    row.locator("button[type=submit]").click()
    page.wait_for_selector("text=差异 4200000001 已处理")
    b.screenshot("admin-reconciliation-resolved")
    b.goto("/admin/reconciliation/items")
    assert page.locator(f"tr[data-item='{item.id}']").count() == 0
    dbmod.database.connect(reuse_if_open=True)
    resolved = ReconciliationItem.get_by_id(item.id)
    assert (resolved.resolved_by, resolved.note) == ("manager", "微信多收 1.00 元，已与财务核对并安排退款")


def test_a_manager_answers_a_dispute_and_resolves_it_with_a_waiver(staff_browser):
    comm = f.community("阳光小区", "A")
    item = f.fee_item(comm, "WYF", "物业费")
    house = f.house(comm, room_no="1203")
    owner = Owner.create(openid="o-browser", nickname="张先生")
    Binding.create(owner=owner, house=house, verified_by="staff")
    bill = f.bill(house, item, period="2026-10", amount_fen=25_000)
    dispute = disputes.open_dispute(owner.id, bill.id, DisputeReason.AMOUNT, "我家面积是 80 平米，不是 100 平米")
    make_staff("manager", "manager", [comm])
    dbmod.database.close()
    b, page = staff_browser, staff_browser.page
    b.login("manager")
    b.goto("/admin/disputes")
    page.click(f"a[href='/admin/disputes/{dispute.id}']")
    assert "80 平米" in page.inner_text("#owner-text")
    page.fill("#reply-form textarea[name=text]", "您好，已核对房产证面积，将按 80 平米减免差额。")
    page.click("#reply-form button[type=submit]")
    page.wait_for_selector("text=回复已发送")
    page.fill("#resolve-form textarea[name=resolution]", "按 80 平米重算，减免 50.00 元")
    page.select_option("#resolve-form select[name=adjustment_kind]", "waiver")
    page.fill("#resolve-form input[name=amount]", "50.00")
    page.click("#resolve-form button[type=submit]")
    page.wait_for_selector("text=异议已解决")
    assert "200.00" in page.inner_text("#balance")
    assert "已批准" in page.inner_text("#adjustments")
    b.screenshot("admin-dispute-answered")
    dbmod.database.connect(reuse_if_open=True)
    seen = disputes.owner_dispute(owner.id, dispute.id)      # what GET /api/v1/disputes returns
    assert seen["status"] == "resolved" and seen["resolution"] == "按 80 平米重算，减免 50.00 元"
    assert [m["text"] for m in seen["messages"]] == ["您好，已核对房产证面积，将按 80 平米减免差额。"]
    adjustment = Adjustment.get_by_id(seen["adjustment_id"])
    assert (adjustment.kind, adjustment.amount_fen, adjustment.status) == ("waiver", -5000, "approved")
    assert not Bill.get_by_id(bill.id).on_hold
