"""Every staff API list and record sends the same number of SQL statements whatever the
number of rows: count one request, add twice as many rows of every kind
(``tests.querycount.Growing``), count again.  SQLite only (counting is
backend-independent)."""
from __future__ import annotations

from server.reports.models import ReportSnapshot

import pytest

from server.audit import Actor
from server.staff import tokens
from tests.admin_api.conftest import bearer
from tests.querycount import Growing, assert_same_count, count_queries

V1 = "/api/admin/v1"


@pytest.fixture
def database(sqlite_database):
    """SQLite only (overrides the two-backend ``database`` of tests/conftest.py)."""
    sqlite_database.test_url = f"sqlite:///{sqlite_database.database}"
    return sqlite_database


@pytest.fixture
def world(api_app):
    w = Growing()
    w.headers = {name: bearer(tokens.issue_token(user.id, f"{name}-qc", Actor.system("test"))[1])
                 for name, user in (("boss", w.boss), ("manager", w.manager))}
    return w


# (name, who asks, path given the world)
ENDPOINTS = [
    ("communities", "boss", lambda w: "/communities"),
    ("houses", "boss", lambda w: "/houses"),
    ("houses-search", "manager", lambda w: "/houses?search=业主"),
    ("bills", "boss", lambda w: "/bills"),
    ("bills-of-a-house", "manager", lambda w: f"/bills?house_id={w.house.id}"),
    ("payments", "boss", lambda w: "/payments"),
    ("payments-since", "manager", lambda w: "/payments?updated_since=2000-01-01T00:00:00%2B08:00"),
    ("offline-payments", "boss", lambda w: "/offline-payments"),
    ("orders", "boss", lambda w: "/orders"),
    ("cash-close", "manager", lambda w: f"/cash-close?community_id={w.a.id}&operator_id={w.cashier.id}"),
    ("bindings", "boss", lambda w: "/bindings"),
    ("fee-items", "boss", lambda w: "/fee-items"),
    ("meter-reading-grid", "boss", lambda w: f"/meter-readings?fee_item_id={w.sf.id}&period=2026-02"),
    ("reconciliation-runs", "boss", lambda w: "/reconciliation/runs"),
    ("reconciliation-items", "boss", lambda w: "/reconciliation/items"),
    ("reconciliation-items-scoped", "manager", lambda w: "/reconciliation/items"),
    ("disputes", "boss", lambda w: "/disputes"),
    ("alerts", "boss", lambda w: "/alerts"),
    ("reminder-log", "boss", lambda w: "/reminder-log"),
    ("campaign-preview", "manager", lambda w: f"/reminder-campaigns/preview?community_id={w.a.id}"),
    ("tasks", "boss", lambda w: "/tasks"),
    ("billing-runs", "boss", lambda w: "/billing-runs"),
    ("audit", "boss", lambda w: "/audit"),
    ("audit-scoped", "manager", lambda w: "/audit"),
    ("collection-report", "boss", lambda w: "/reports/collection?period=2026-01"),
    # one record each
    ("bill", "boss", lambda w: f"/bills/{w.bill.id}"),
    ("house", "boss", lambda w: f"/houses/{w.house.id}"),
    ("payment", "boss", lambda w: f"/payments/{w.payment.id}"),
    ("order", "boss", lambda w: f"/orders/{w.order.id}"),
    ("receipt", "boss", lambda w: f"/receipts/{w.payment.receipt_no}"),
    ("billing-run", "boss", lambda w: f"/billing-runs/{w.run.id}"),
    ("task", "boss", lambda w: f"/tasks/{w.task.id}"),
]

AGGREGATES = {"house"}  # counts and sums, not lists


def _count(api, path: str, headers: dict):
    # Dashboard figures are snapshotted per community; count the computing path each time
    # (the number of communities grows with the rows).
    ReportSnapshot.delete().execute()
    with count_queries() as statements:
        response = api.get(V1 + path, headers=headers)
    assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:300])
    return statements, response.get_data()


@pytest.mark.parametrize("name,who,path", ENDPOINTS, ids=[e[0] for e in ENDPOINTS])
def test_the_endpoint_sends_as_many_queries_for_three_times_the_rows(api, world, name, who, path):
    url, headers = path(world), world.headers[who]
    api.get(V1 + url, headers=headers)  # warm: first-request work is not per row
    few, small = _count(api, url, headers)
    world.grow(2)
    many, big = _count(api, url, headers)
    if name in AGGREGATES:
        assert big != small, f"{name}: the answer did not count the new rows"
    else:
        assert len(big) > len(small), f"{name}: the answer did not include the new rows"
    assert_same_count(few, many, url)
