"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright."""
from __future__ import annotations

from server import db as dbmod
from tests.admin import fixtures
from tests.admin.conftest import make_staff


def test_a_manager_logs_in_and_sees_the_dashboard_figures(staff_browser):
    fx = fixtures.build()
    make_staff("manager", "manager", [fx.a, fx.b])
    dbmod.database.close()  # the server thread opens its own connection
    b = staff_browser
    page = b.page
    b.goto("/admin/")
    assert page.url.startswith(f"{b.base}/admin/login")
    b.login("manager")
    page.fill("input[name=period]", "2026-10")
    page.fill("input[name=as_of]", "2026-11-20")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("text=2026-10 账期 · 截至 2026-11-20")
    assert page.inner_text("#rate-amount") == "74.94%"
    assert page.inner_text("#rate-household") == "50.00%"
    assert "551.00" in page.inner_text("#arrears")
    assert page.locator("svg.chart").count() == 3
    b.screenshot("admin-dashboard")
    page.select_option("select[name=community]", "A")
    page.click("form.filters button[type=submit]")
    page.wait_for_selector("#rate-amount")
    assert page.inner_text("#rate-amount") == "69.93%"
    b.screenshot("admin-dashboard-community-a")
