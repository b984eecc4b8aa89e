"""Every staff list and detail page, and every list's CSV export, sends the same number of
SQL statements whatever the number of rows: count one request, add twice as many rows
of every kind (``tests.querycount.Growing``), count again.

Counting is backend-independent, so this module runs on SQLite only.
"""
from __future__ import annotations

from server.reports.models import ReportSnapshot

import pytest

from tests.admin.conftest import login
from tests.querycount import Growing, assert_same_count, count_queries


@pytest.fixture
def database(sqlite_database):
    """SQLite only (overrides the two-backend ``database`` of tests/conftest.py)."""
    sqlite_database.test_url = f"sqlite:///{sqlite_database.database}"
    return sqlite_database


@pytest.fixture
def world(admin_app):
    return Growing()


def _bill_detail(w):
    return f"/admin/bills/{w.bill.id}"


# (name, path of the page given the world, whether it has a CSV export)
PAGES = [
    ("dashboard", lambda w: "/admin/?period=2026-01", False),
    ("communities", lambda w: "/admin/communities", True),
    ("houses", lambda w: "/admin/houses", True),
    ("bindings", lambda w: "/admin/bindings", True),
    ("fee-items", lambda w: "/admin/fee-items", True),
    ("meter-readings", lambda w: f"/admin/meter-readings/list?fee_item={w.sf.id}&period=2026-01", True),
    ("meter-reading-grid", lambda w: f"/admin/meter-readings?fee_item={w.sf.id}&period=2026-02", False),
    ("billing-runs", lambda w: "/admin/billing-runs", True),
    ("bills", lambda w: "/admin/bills", True),
    ("adjustments", lambda w: "/admin/adjustments", True),
    ("offline-payments", lambda w: "/admin/offline-payments/list", True),
    ("cash-close", lambda w: f"/admin/cash-close?community={w.a.id}&operator={w.cashier.id}", True),
    ("orders", lambda w: "/admin/orders", True),
    ("refunds", lambda w: "/admin/refunds", True),
    ("reconciliation", lambda w: "/admin/reconciliation", True),
    ("reconciliation-items", lambda w: "/admin/reconciliation/items", True),
    ("disputes", lambda w: "/admin/disputes", True),
    ("reminders", lambda w: "/admin/reminders", False),
    ("reminder-log", lambda w: "/admin/reminders/log", True),
    ("alerts", lambda w: "/admin/alerts", True),
    ("tasks", lambda w: "/admin/tasks", True),
    ("audit", lambda w: "/admin/audit", True),
    ("api-tokens", lambda w: "/admin/api-tokens", True),
    ("staff", lambda w: "/admin/staff", True),
    ("houses-search", lambda w: "/admin/houses?owner=业主", True),
    ("bills-open-overdue", lambda w: "/admin/bills?status=open&overdue=1", True),
    ("adjustments-approved", lambda w: "/admin/adjustments?status=approved", True),
    ("adjustments-rejected", lambda w: "/admin/adjustments?status=rejected", True),
    ("offline-payments-pending", lambda w: "/admin/offline-payments/list?status=created", True),
    ("refunds-success", lambda w: "/admin/refunds?status=success", True),
    ("reconciliation-items-all", lambda w: "/admin/reconciliation/items?state=all", True),
    ("disputes-all", lambda w: "/admin/disputes?status=all", True),
    ("alerts-all", lambda w: "/admin/alerts?state=all", True),
    ("campaign-preview", lambda w: f"/admin/reminders/campaign?preview=1&community={w.a.id}", False),
    ("counter", lambda w: f"/admin/offline-payments?house={w.house.id}", False),
    ("imports", lambda w: "/admin/imports", False),
    # detail pages
    ("receipt", lambda w: f"/admin/receipts/{w.payment.receipt_no}", False),
    ("bill", _bill_detail, False),
    ("house", lambda w: f"/admin/houses/{w.house.id}", False),
    ("community", lambda w: f"/admin/communities/{w.a.id}", False),
    ("fee-item", lambda w: f"/admin/fee-items/{w.wyf.id}", False),
    ("billing-run", lambda w: f"/admin/billing-runs/{w.run.id}", False),
    ("payment", lambda w: f"/admin/payments/{w.payment.id}", False),
    ("order", lambda w: f"/admin/orders/{w.order.id}", False),
    ("dispute", lambda w: f"/admin/disputes/{w.dispute.id}", False),
    ("reconciliation-day", lambda w: f"/admin/reconciliation/items?date={w.day.isoformat()}", True),
    ("task", lambda w: f"/admin/tasks/{w.task.id}", False),
    ("staff-member", lambda w: f"/admin/staff/{w.manager.id}", False),
]


def _count(client, path: str):
    # Dashboard figures are snapshotted per community; count the computing path each time
    # (the number of communities grows with the rows).
    ReportSnapshot.delete().execute()
    with count_queries() as statements:
        response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return statements, response.get_data()


# Pages a cashier of community A may not open (admins only, or another cashier's day).
NOT_FOR_CASHIER = {"api-tokens", "staff", "staff-member", "cash-close"}


def _csv(url: str) -> str:
    return url + ("&" if "?" in url else "?") + "export=csv"


@pytest.mark.parametrize("name,path,exports", PAGES, ids=[p[0] for p in PAGES])
def test_the_page_and_its_export_send_as_many_queries_for_three_times_the_rows(
        admin_app, client, world, name, path, exports):
    """The page as the admin (every community) and as a cashier of A (the scoped,
    non-manager view); the list's CSV export as the admin."""
    login(client, "boss")
    cashier = admin_app.test_client()
    login(cashier, "cashier")
    url = path(world)
    asks = [("admin", client, url)] + ([] if name in NOT_FOR_CASHIER else [("cashier", cashier, url)])
    if exports:
        asks.append(("admin (CSV)", client, _csv(url)))
    for _, reader, address in asks:
        reader.get(address)  # warm: first-request work is not per row
    before = [_count(reader, address) for _, reader, address in asks]
    world.grow(2)
    after = [_count(reader, address) for _, reader, address in asks]
    for (who, _, address), (few, small), (many, big) in zip(asks, before, after):
        assert len(big) > len(small), f"{address}: the {who} did not see the new rows"
        assert_same_count(few, many, f"{address} as the {who}")


def test_the_arrears_export_sends_as_many_queries_for_three_times_the_rows(client, world):
    login(client, "boss")
    url = "/admin/bills?report=arrears&export=csv"
    client.get(url)
    few, small = _count(client, url)
    world.grow(2)
    many, big = _count(client, url)
    assert len(big) > len(small)
    assert_same_count(few, many, url)


# Lists whose large exports run as a task (``server.admin.exporting``): the task's queries too.
TASK_EXPORTS = [
    pytest.param("bills", "/admin/bills?export=csv", id="bills"),
    pytest.param("houses", "/admin/houses?export=csv", id="houses"),
    pytest.param("arrears", "/admin/bills?report=arrears&export=csv", id="arrears"),
]


@pytest.fixture
def exports_as_tasks(admin_app, monkeypatch):
    from jobs import backends
    from server.admin.pages import property_export

    admin_app.config["EXPORT_INLINE_ROWS"] = 0
    monkeypatch.setattr(property_export, "EXPORT_INLINE_ROWS", 0)
    backends.use_backend(backends.InlineBackend())
    yield
    backends.use_backend(None)


@pytest.mark.parametrize("name,url", TASK_EXPORTS)
def test_an_export_run_as_a_task_sends_as_many_queries_for_three_times_the_rows(
        client, world, exports_as_tasks, name, url):
    from server.tasks.models import AdminTask

    def export():
        with count_queries() as statements:
            assert client.get(url).status_code == 302
        task = AdminTask.select().order_by(AdminTask.id.desc()).first()
        assert task.kind == f"export_{name}" and task.status == "done", (task.kind, task.status, task.error)
        return statements, task.result["rows"]

    login(client, "boss")
    export()
    few, rows = export()
    world.grow(2)
    many, more_rows = export()
    assert more_rows > rows
    assert_same_count(few, many, f"{url} (task)")
