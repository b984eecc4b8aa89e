"""Payment flows in a real browser (Debian's Chromium, headless, driven by Playwright):
an offline payment with its receipt and the day's close, and a WeChat refund with
approval, settled by the WeChat Pay sandbox over real HTTP."""
from __future__ import annotations

import re

import pytest

from payments.models import OrderStatus
from server import admin
from server import db as dbmod
from server.ledger.models import Payment, Refund, RefundStatus
from server.staff.models import StaffRole
from tests import factories as f
from tests.admin.conftest import StaffBrowser, make_staff
from tests.payments.conftest import key_pool, merchant, sandbox, sandbox_options  # noqa: F401 - fixtures
from tests.payments.live import (NOTIFY_PATH, Live, LiveServer, app_settings, events_settled,
                                 owner_with_bills, prepaid, wait_for_status, wait_until)


@pytest.fixture
def wechat_live(sqlite_database, make_app, sandbox, merchant, tmp_path):  # noqa: F811
    """The admin app on a live port, its WeChat Pay settings pointing at the sandbox."""
    from jobs import backends

    server = LiveServer()
    settings = app_settings(sandbox, merchant, tmp_path, server.base_url + NOTIFY_PATH)
    app = make_app(f"sqlite:///{sqlite_database.test_url}", **settings)
    admin.init_app(app)
    dbmod.database.connect(reuse_if_open=True)
    backends.use_backend(backends.InlineBackend())
    server.start(app)
    live = Live(server.base_url, app, sandbox, sqlite_database)
    try:
        yield live
    finally:
        server.stop()
        backends.use_backend(None)
        live.client.transport.session.close()


@pytest.fixture
def live_server(wechat_live):
    """Replaces the admin conftest's server: ``staff_browser`` drives this one."""
    return wechat_live.base_url


def test_a_cashier_records_a_cash_payment_prints_the_receipt_and_closes_the_day(staff_browser):
    a = f.community("阳光小区", "A")
    house = f.house(a, f.building(a, "3栋"), room_no="302")
    wyf, tcf = f.fee_item(a, "WYF", "物业费"), f.fee_item(a, "TCF", "停车费")
    f.bill(house, wyf, period="2026-10", amount_fen=25_000)
    f.bill(house, tcf, period="2026-10", amount_fen=15_050)
    make_staff("cashier", StaffRole.CASHIER, [a])
    dbmod.database.close()  # the server thread opens its own connection
    b = staff_browser
    page = b.page
    b.login("cashier")
    b.goto("/admin/offline-payments")
    page.fill("input[name=building]", "3栋")
    page.fill("input[name=room]", "302")
    page.click("form.filters button[type=submit]")
    page.click("#houses >> text=收款")
    page.wait_for_selector("#house-bills")
    for box in page.locator("input[name=bill]").all():
        box.check()
    page.select_option("select[name=channel]", "cash")
    page.click("text=登记收款")
    page.wait_for_url(re.compile(r".*/admin/receipts/A2\d{3}\d{6}$"))
    assert page.inner_text("#receipt-total") == "¥400.50"
    assert page.inner_text("#amount-words") == "肆佰元伍角"
    assert "已收款 400.50 元" in page.inner_text(".flash.ok")
    b.screenshot("admin-offline-receipt")

    b.goto("/admin/cash-close")
    assert page.inner_text("#cash-total") == "400.50"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cash-day button[type=submit]")
    page.wait_for_selector(".flash.ok")
    assert "已日结：1 笔，合计 400.50 元" in page.inner_text(".flash.ok")
    assert "400.50" in page.inner_text("#cash-history")
    b.screenshot("admin-cash-close")


def test_a_cashier_requests_a_wechat_refund_and_a_manager_approves_it(staff_browser, wechat_live, chromium):
    bills = owner_with_bills((12_000, 3_500))
    order, prepay_id = prepaid(wechat_live, bills)
    wechat_live.state.ledger.pay(prepay_id)
    assert wait_for_status(order, OrderStatus.PAID) and wait_until(events_settled)
    payment = Payment.get(Payment.order == order.id)
    community = bills.house.community
    make_staff("cashier", StaffRole.CASHIER, [community])
    make_staff("manager", StaffRole.MANAGER, [community])
    dbmod.database.close()

    cashier = staff_browser
    page = cashier.page
    cashier.login("cashier")
    cashier.goto(f"/admin/payments/{payment.id}")
    row = page.locator(f"#allocations tr[data-bill='{bills.ids[0]}']")
    row.locator("input[name=amount]").fill("50.00")
    row.locator("input[name=reason]").fill("重复缴费")
    row.locator("text=申请退款").click()
    page.wait_for_selector(".flash.ok")
    assert "退款申请已提交（50.00 元）" in page.inner_text(".flash.ok")
    assert "批准退款" not in page.inner_text("#payment-refunds")   # a cashier cannot approve

    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    context.set_default_timeout(15_000)
    try:
        manager = StaffBrowser(context, wechat_live.base_url)
        manager.login("manager")
        manager.goto("/admin/refunds?status=pending_approval")
        manager.page.click("#refunds >> text=批准退款")
        manager.page.wait_for_selector(".flash.ok")
        assert wait_until(lambda: Refund.select(Refund.status).scalar() == RefundStatus.SUCCESS)
        manager.goto("/admin/refunds")
        status = manager.page.inner_text("#refunds .refund-status")
        assert status == "退款成功", status
        assert "manager" in manager.page.inner_text("#refunds")
        manager.screenshot("admin-refund-approved")
    finally:
        context.close()
    refund = Refund.get()
    assert (refund.amount_fen, refund.requested_by.username, refund.approved_by.username) == \
        (5_000, "cashier", "manager")
    assert wechat_live.state.ledger.get_refund(refund.out_refund_no) is not None
