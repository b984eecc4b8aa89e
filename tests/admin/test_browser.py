"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright."""
from __future__ import annotations

import pathlib
import threading

import pytest
from werkzeug.serving import make_server

from server import admin
from server import db as dbmod
from tests.admin import fixtures
from tests.admin.conftest import PASSWORD, make_staff

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = pathlib.Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def live_server(sqlite_database, make_app):
    app = make_app(f"sqlite:///{sqlite_database.test_url}")
    admin.init_app(app)
    dbmod.database.connect(reuse_if_open=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_a_manager_logs_in_and_sees_the_dashboard_figures(live_server):
    assert pathlib.Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    fx = fixtures.build()
    make_staff("manager", "manager", [fx.a, fx.b])
    dbmod.database.close()  # the server thread opens its own connection
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
            page.goto(f"{live_server}/admin/")
            assert page.url.startswith(f"{live_server}/admin/login")
            page.fill("input[name=username]", "manager")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server}/admin/")
            page.fill("input[name=period]", "2026-10")
            page.fill("input[name=as_of]", "2026-11-20")
            page.click("form.filters button[type=submit]")
            page.wait_for_selector("text=2026-10 账期 · 截至 2026-11-20")
            assert page.inner_text("#rate-amount") == "74.94%"
            assert page.inner_text("#rate-household") == "50.00%"
            assert "551.00" in page.inner_text("#arrears")
            assert page.locator("svg.chart").count() == 3
            page.screenshot(path=str(SCREENSHOTS / "admin-dashboard.png"), full_page=True)
            page.select_option("select[name=community]", "A")
            page.click("form.filters button[type=submit]")
            page.wait_for_selector("#rate-amount")
            assert page.inner_text("#rate-amount") == "69.93%"
            page.screenshot(path=str(SCREENSHOTS / "admin-dashboard-community-a.png"), full_page=True)
        finally:
            browser.close()
    assert (SCREENSHOTS / "admin-dashboard.png").stat().st_size > 10_000
