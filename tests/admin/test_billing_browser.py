"""A billing run from preview to issue, then an adjustment requested and approved by a
second manager: in Debian's Chromium, headless, driven by Playwright."""
from __future__ import annotations

import re
from decimal import Decimal

from server import db as dbmod
from server.property.models import Binding, BindingStatus, Owner
from tests import factories as f
from tests.admin.conftest import make_staff


def _yuan(text: str) -> Decimal:
    return Decimal(re.search(r"-?\d+\.\d{2}", text).group(0))


def test_a_billing_run_from_preview_to_issue_and_an_approved_adjustment(staff_browser, live_app):
    estate = f.estate(3, water=False)  # 物业费 100 m² × 2.50 = 250.00 and 停车费 150.00 per house
    owner = Owner.create(openid="o-browser", nickname="王业主")
    for house in estate.houses:
        Binding.create(owner=owner, house=house, verified_by="staff", status=BindingStatus.ACTIVE)
    make_staff("boss", "manager", [estate.community])
    make_staff("checker", "manager", [estate.community])
    live_app.extensions["wuyepay_config"].ADJUSTMENT_APPROVAL_THRESHOLD_FEN = 1000
    dbmod.database.close()  # the server thread opens its own connection
    b = staff_browser
    page = b.page
    b.login("boss")

    b.goto("/admin/billing-runs")
    page.select_option("#new-run select[name=community]", str(estate.community.id))
    page.fill("#new-run input[name=period]", "2026-03")
    page.click("#new-run button[type=submit]")
    page.wait_for_selector("#item-totals")
    assert page.inner_text("#run-total") == "1200.00"
    assert page.inner_text("#planned") == "6"
    totals = page.inner_text("#item-totals")
    assert "物业费" in totals and "750.00" in totals and "450.00" in totals
    b.screenshot("admin-billing-preview")

    page.click("#issue")
    page.wait_for_selector("text=新增 6 张账单")
    assert re.search(r"/admin/billing-runs/\d+$", page.url)
    assert page.inner_text("#created") == "6"
    b.screenshot("admin-billing-issued")

    page.click("text=查看本期账单")
    page.wait_for_selector("#bill-list")
    assert page.locator("#bill-list tbody tr").count() == 6
    assert "1200.00" in page.inner_text("#bill-totals")

    page.locator("#bill-list tbody tr a[href^='/admin/bills/']").first.click()
    page.wait_for_selector("#basis")
    before = _yuan(page.inner_text("#balance"))
    page.select_option("#adjust-form select[name=kind]", "waiver")
    page.fill("#adjust-form input[name=amount]", "20.00")
    page.fill("#adjust-form input[name=reason]", "电梯停运减免")
    page.click("#adjust-form button[type=submit]")
    page.wait_for_selector("text=等待另一位主管审批")
    assert _yuan(page.inner_text("#balance")) == before
    bill_url = page.url

    page.click("form.logout button")
    b.login("checker")
    b.goto("/admin/adjustments")
    row = page.locator("#adjustment-list tbody tr", has_text="电梯停运减免")
    row.locator("button", has_text="批准").click()
    page.wait_for_selector("text=账单已更新")
    page.goto(bill_url)
    assert _yuan(page.inner_text("#balance")) == before - Decimal("20.00")
    assert "已批准" in page.inner_text("#adjustments")
    assert "adjustment.waiver" in page.inner_text("#audit")
    assert _yuan(page.inner_text("#owner-balance")) == before - Decimal("20.00")
    b.screenshot("admin-bill-detail")
