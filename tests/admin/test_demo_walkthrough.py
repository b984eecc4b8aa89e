"""The demo as a manager sees it after `make run`: every page of the side navigation
and one detail page of each kind answers 200 in Chinese, without a raw status or
error code in the visible text.  SQLite only; a small demo (20 houses)."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from server import admin, demo, demo_wechat
from server import db as dbmod
from server.alerts import KIND_NAMES
from server.config import Config
from server.ops_cli import DEMO_PASSWORD
from server.staff.cli import create_staff
from server.timeutil import SHANGHAI, local_today
from tests.admin.conftest import csrf_token
from tests.test_demo import SMALL

NAV = ["/admin/", "/admin/communities", "/admin/houses", "/admin/bindings", "/admin/fee-items",
       "/admin/meter-readings", "/admin/meter-readings/list", "/admin/billing-runs", "/admin/bills",
       "/admin/adjustments", "/admin/offline-payments", "/admin/offline-payments/list", "/admin/cash-close",
       "/admin/orders", "/admin/refunds", "/admin/reconciliation", "/admin/reconciliation/items",
       "/admin/disputes", "/admin/reminders", "/admin/reminders/log", "/admin/reminders/campaign",
       "/admin/alerts", "/admin/imports", "/admin/tasks", "/admin/audit"]
# One of each kind, found through the links of the pages above.
DETAILS = {"community": r"/admin/communities/\d+", "house": r"/admin/houses/\d+",
           "fee item": r"/admin/fee-items/\d+", "billing run": r"/admin/billing-runs/\d+",
           "bill": r"/admin/bills/\d+", "order": r"/admin/orders/\d+",
           "payment": r"/admin/payments/\d+", "receipt": r"/admin/receipts/[A-Z0-9]+",
           "dispute": r"/admin/disputes/\d+", "task": r"/admin/tasks/\d+"}
# Codes a Chinese user must never see alone: statuses, kinds, actions, error codes, English.
FORBIDDEN = ["unpaid", "partially_paid", "pending_approval", "pending", "paying", "processing", "refunded",
             "amount_mismatch", "missing_local", "missing_remote", "reading_wrong", "correction", "waiver",
             "bank_transfer", "per_area", "metered", "billing_issue", "bill.allocate", "order.create",
             "adjustment.request", "refund.request", "dispute.open", "TRANSACTION.SUCCESS", "applied",
             "already issued", "usage", "NOT_FOUND", "VALIDATION_ERROR", "Traceback", "None", "undefined",
             "adjusted_fen", "amount_fen", "paid_fen", "bills_created", "dispute_reply", "due_soon",
             "missing_reading", "run_id", *KIND_NAMES]
_TOKEN = re.compile(r"(?<![\w.])(" + "|".join(re.escape(t) for t in FORBIDDEN) + r")(?![\w])")


def visible_text(page: str) -> str:
    """What a person reads: no tags, attributes, styles, scripts, raw JSON blocks or the
    small technical codes printed under their Chinese names (``<small class="code …">``)."""
    page = re.sub(r"<(style|script|pre)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r'<small class="code[^"]*">[^<]*</small>', " ", page)
    page = re.sub(r"<details\b.*?</details>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


@pytest.fixture
def demo_client(sqlite_database, make_app, tmp_path):
    app = make_app(f"sqlite:///{sqlite_database.test_url}")
    admin.init_app(app)
    dbmod.database.connect(reuse_if_open=True)
    demo.load_demo(seed=7, pay=demo.pay_some_at_the_counter, communities=SMALL)
    create_staff("demo", DEMO_PASSWORD, "manager", ["XH", "XJ"], display_name="演示经理")
    config = Config(INSTANCE_PATH=str(tmp_path / "demo-instance"), DEMO_MODE=True).finalize()
    demo_wechat.run(config, seed=7, now=dt.datetime.combine(local_today(), dt.time(10, 0), tzinfo=SHANGHAI))
    client = app.test_client()
    client.post("/admin/login", data={"username": "demo", "password": DEMO_PASSWORD,
                                      "csrf_token": csrf_token(client)})
    return client


def test_a_manager_reads_every_page_of_the_demo_in_chinese(demo_client):
    problems, found = [], {}
    pages = list(NAV)
    while pages:
        path = pages.pop(0)
        response = demo_client.get(path)
        body = response.get_data(as_text=True)
        if response.status_code != 200:
            problems.append(f"{path}: {response.status_code}")
            continue
        codes = sorted(set(_TOKEN.findall(visible_text(body))))
        if codes:
            problems.append(f"{path}: {', '.join(codes)}")
        for kind, pattern in DETAILS.items():
            match = re.search(rf'href="({pattern})"', body)
            if kind not in found and match:
                found[kind] = match.group(1)
                pages.append(match.group(1))
    assert problems == []
    assert sorted(found) == sorted(DETAILS)


def test_the_demo_leaves_work_on_the_manager_s_pages(demo_client):
    def text(path):
        return visible_text(demo_client.get(path).get_data(as_text=True))

    assert "待审批" in text("/admin/adjustments?status=pending")
    assert "待审批" in text("/admin/refunds")
    assert "读数有误" in text("/admin/disputes")
    assert "没有待审核" not in text("/admin/bindings")
    items = text("/admin/reconciliation/items")
    assert "金额不符" in items
    assert "已完成" in text("/admin/tasks")
