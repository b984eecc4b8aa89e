"""Admin fixtures: the app with the admin pages installed, staff, a signed-in client,
and for browser tests a live server plus Debian's Chromium driven by Playwright."""
from __future__ import annotations

import pathlib
import re
import threading

import pytest

from server import admin
from server import db as dbmod
from server.admin.auth import hash_password
from server.staff.models import StaffCommunity, StaffRole, StaffUser

PASSWORD = "correct horse 42"
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = pathlib.Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture
def admin_app(database, make_app):
    app = make_app(database.test_url)
    admin.init_app(app)
    dbmod.database.connect(reuse_if_open=True)
    return app


@pytest.fixture
def client(admin_app):
    return admin_app.test_client()


def make_staff(username: str, role: str = StaffRole.ADMIN, communities=()) -> StaffUser:
    user = StaffUser.create(username=username, role=role, password_hash=hash_password(PASSWORD))
    for community in communities:
        StaffCommunity.create(staff=user, community=community)
    return user


def csrf_token(client, path: str = "/admin/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client, username: str, password: str = PASSWORD):
    return client.post("/admin/login", data={"username": username, "password": password,
                                             "csrf_token": csrf_token(client)})


# --- browser tests ---------------------------------------------------------------------

@pytest.fixture
def live_app(sqlite_database, make_app):
    """The app on a SQLite database, for a live server (jobs run inline)."""
    from jobs import backends

    app = make_app(f"sqlite:///{sqlite_database.test_url}")
    admin.init_app(app)
    dbmod.database.connect(reuse_if_open=True)
    backends.use_backend(backends.InlineBackend())
    yield app
    backends.use_backend(None)


@pytest.fixture
def live_server(live_app):
    """A threaded werkzeug server on a free port; yields its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session (a fresh context per test)."""
    assert pathlib.Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class StaffBrowser:
    """A browser tab signed in (or not) against the live server."""

    def __init__(self, context, base_url: str):
        self.context = context
        self.base = base_url
        self.page = context.new_page()

    def goto(self, path: str):
        return self.page.goto(self.base + path)

    def login(self, username: str, password: str = PASSWORD) -> None:
        self.goto("/admin/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(re.compile(r".*/admin/(\?.*)?$"))

    def screenshot(self, name: str) -> pathlib.Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5_000
        return path


@pytest.fixture
def staff_browser(chromium, live_server):
    """``staff_browser.login("manager")`` then drive ``staff_browser.page``.

    Build the data before the first ``goto`` and close the test's own database
    connection (``dbmod.database.close()``) so the server thread uses its own.
    """
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    context.set_default_timeout(15_000)
    try:
        yield StaffBrowser(context, live_server)
    finally:
        context.close()
