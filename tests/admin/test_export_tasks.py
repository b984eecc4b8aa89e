"""Large exports and imports as tasks with progress; the daily cleanup of their files."""
from __future__ import annotations

import io
import os
import pathlib
import re
import time
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from jobs import backends
from server import tasks
from server.admin.auth import hash_password
from server.billing.models import Bill
from server.errors import DomainError
from server.property.models import House
from server.staff.models import StaffCommunity, StaffUser
from server.tasks.models import AdminTask, TaskStatus
from tests import factories as f
from tests.admin.conftest import PASSWORD, csrf_token, login

_HASH = hash_password(PASSWORD)  # argon2 is slow on purpose: hash once for the module
BILLS, ARREARS = "/admin/bills?export={fmt}", "/admin/bills?export={fmt}&report=arrears"


def make_staff(username, role="admin", communities=()):
    user = StaffUser.create(username=username, role=role, password_hash=_HASH)
    for community in communities:
        StaffCommunity.create(staff=user, community=community)
    return user


class Held:
    """A job backend that keeps jobs for the test to run (``tasks.run``) when it wants."""

    def __init__(self):
        self.task_ids = []

    def enqueue(self, spec, args, job_id):
        self.task_ids.append(args[0])


@pytest.fixture
def inline():
    backends.use_backend(backends.InlineBackend())
    yield
    backends.use_backend(None)


@pytest.fixture
def two(admin_app):
    """Estates A (3 houses) and B (2 houses): 物业费 bills for two periods, some paid,
    one adjusted, an owner name that looks like a formula; staff of each role."""
    a, b = f.estate(3, water=False), f.estate(2, water=False)
    for estate, amount in ((a, 25000), (b, 18000)):
        for period in ("2026-01", "2026-02"):
            for h in estate.houses:
                f.bill(h, estate.items["WYF"], period=period, amount_fen=amount)
    first = Bill.select().where(Bill.community == a.community.id).order_by(Bill.id).first()
    Bill.update(paid_fen=25000, status="paid").where(Bill.id == first.id).execute()
    Bill.update(adjusted_fen=-1001, paid_fen=333, status="partially_paid").where(
        Bill.id == first.id + 1).execute()
    House.update(owner_name="=HYPERLINK()").where(House.id == a.houses[0].id).execute()
    make_staff("boss")
    make_staff("m", "manager", [a.community, b.community])
    make_staff("ca", "cashier", [a.community])
    return a, b


def rows_of(response, fmt):
    if fmt == "csv":
        return [line.split(",") for line in response.get_data().decode("utf-8-sig").splitlines()]
    return [list(r) for r in load_workbook(io.BytesIO(response.get_data())).active.values]


def download(client, url, fmt="csv"):
    """The rows of a downloaded file (the streamed response closed)."""
    with client.get(url) as response:
        assert response.status_code == 200, url
        return rows_of(response, fmt)


def run_as_task(client, admin_app, url):
    admin_app.config["EXPORT_INLINE_ROWS"] = 2
    started = client.get(url)
    admin_app.config["EXPORT_INLINE_ROWS"] = 5000
    assert started.status_code == 302 and re.search(r"/admin/tasks/\d+$", started.location)
    return AdminTask.get_by_id(int(started.location.rsplit("/", 1)[1])), started.location


@pytest.mark.parametrize("url", [BILLS, ARREARS])
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_large_export_becomes_a_task_whose_file_equals_the_inline_export(
        client, admin_app, two, inline, url, fmt):
    login(client, "m")
    inline_rows = rows_of(client.get(url.format(fmt=fmt)), fmt)
    task, location = run_as_task(client, admin_app, url.format(fmt=fmt))
    page = client.get(location).get_data(as_text=True)
    assert "下载生成的文件" in page and "已转为后台任务" in page
    task_rows = download(client, location + "/download", fmt)
    assert task_rows == inline_rows and len(task_rows) > 3
    assert task.status == TaskStatus.DONE and task.total == task.done == len(task_rows) - 1
    assert task.result["rows"] == len(task_rows) - 1 and task.community_id is None


def test_the_bill_file_totals_equal_the_ledger(client, admin_app, two, inline):
    login(client, "m")
    task, location = run_as_task(client, admin_app, BILLS.format(fmt="csv"))
    header, *rows = download(client, location + "/download")
    for column, field in (("应收金额(元)", Bill.amount_fen), ("调整金额(元)", Bill.adjusted_fen),
                          ("已缴金额(元)", Bill.paid_fen)):
        in_file = sum(Decimal(r[header.index(column)]) for r in rows)
        assert in_file * 100 == sum(getattr(b, field.name) for b in Bill.select())
    assert "'=HYPERLINK()" in [r[header.index("业主")] for r in rows]


def test_the_arrears_file_has_a_line_per_open_bill_subtotals_and_a_total_per_community(
        client, admin_app, two, inline):
    a, b = two
    login(client, "m")
    _, location = run_as_task(client, admin_app, ARREARS.format(fmt="csv"))
    header, *rows = download(client, location + "/download")
    assert header[:2] == ["小区", "楼栋"]
    totals = {r[0]: r[-1] for r in rows if r[6] == "合计"}
    # A: 5 open bills, 4 × 250.00 + (250.00 − 10.01 − 3.33); B: 4 × 180.00
    assert totals == {a.community.name: "1236.66", b.community.name: "720.00"}
    assert sum(1 for r in rows if r[6] == "小计") == 5


def test_a_cashier_of_a_exports_only_a_and_cannot_open_b_or_shared_tasks(
        client, admin_app, two, inline):
    a, b = two
    login(client, "m")
    shared, shared_url = run_as_task(client, admin_app, BILLS.format(fmt="csv"))
    only_b, only_b_url = run_as_task(client, admin_app, f"/admin/bills?export=csv&community={b.community.id}")
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    login(client, "ca")
    task, location = run_as_task(client, admin_app, BILLS.format(fmt="csv"))
    body = str(download(client, location + "/download"))
    assert task.params["community_ids"] == [a.community.id] and task.community_id == a.community.id
    assert a.community.name in body and b.community.name not in body
    for url in (shared_url, shared_url + "/download", only_b_url, only_b_url + "/download"):
        assert client.get(url).status_code == 404, url
    assert client.get(f"/admin/bills?export=csv&community={b.community.id}").status_code == 404


def test_the_handler_refuses_when_the_starter_lost_a_community_after_starting(
        client, admin_app, two):
    a, b = two
    held = Held()
    backends.use_backend(held)
    try:
        login(client, "m")
        admin_app.config["EXPORT_INLINE_ROWS"] = 2
        client.get(BILLS.format(fmt="csv"))
    finally:
        backends.use_backend(None)
    [task_id] = held.task_ids
    StaffCommunity.delete().where(StaffCommunity.community == b.community.id).execute()
    with pytest.raises(DomainError):
        tasks.run(task_id)
    task = AdminTask.get_by_id(task_id)
    assert task.status == TaskStatus.FAILED and "无权查看" in task.error
    assert not list((pathlib.Path(admin_app.instance_path) / "exports").glob("*bills-*"))


def test_a_small_export_stays_in_the_request_and_starts_no_task(client, two):
    login(client, "ca")
    response = client.get(ARREARS.format(fmt="csv"))
    assert response.status_code == 200 and "合计" in response.get_data().decode("utf-8-sig")
    assert AdminTask.select().count() == 0
    page = client.get("/admin/bills").get_data(as_text=True)
    assert 'id="arrears-export"' in page and "report=arrears" in page


def test_the_house_export_task_streams_with_progress_and_names_its_file(client, two, inline, monkeypatch):
    from server.admin.pages import property_export

    monkeypatch.setattr(property_export, "EXPORT_INLINE_ROWS", 0)
    monkeypatch.setattr(property_export, "CHUNK", 2)
    login(client, "m")
    started = client.get("/admin/houses?export=xlsx")
    task = AdminTask.get_by_id(int(started.location.rsplit("/", 1)[1]))
    assert task.kind == "export_houses" and task.total == task.done == 5
    assert task.result == {"rows": 5, "file": f"houses-{task.id}.xlsx"}
    rows = download(client, f"/admin/tasks/{task.id}/download", "xlsx")
    assert len(rows) == 6 and len({tuple(r) for r in rows}) == 6


# --- imports ---------------------------------------------------------------------------

HOUSES = "楼栋,单元,房号,面积,业主,电话\n" + "".join(f"5栋,1,5{n:02d},88.00,王五,136000012{n:02d}\n"
                                               for n in range(7))


def test_run_import_calls_the_progress_hook_once_per_row(admin_app):
    from server.imports import houses
    from server.imports.common import run_import

    community = f.community()
    calls = []
    report = run_import(houses.SPEC, HOUSES.encode(), community.id, f.staff_actor(), dry_run=True,
                        filename="h.csv", progress=lambda done, total: calls.append((done, total)))
    assert not report.has_errors
    assert calls == [(n, 7) for n in range(8)]


def test_the_import_task_reports_progress_per_row(client, two, inline, monkeypatch):
    from server.admin.pages import imports_page

    advances = []

    class Recording(tasks.Progress):
        def advance(self, n=1):
            advances.append(n)
            super().advance(n)

    monkeypatch.setattr(imports_page, "INLINE_MAX_BYTES", 10)
    monkeypatch.setattr(tasks, "Progress", Recording)
    login(client, "ca")
    response = client.post("/admin/imports", data={
        "kind": "houses", "community": two[0].community.id,
        "csrf_token": csrf_token(client, "/admin/imports"),
        "file": (io.BytesIO(HOUSES.encode()), "houses.csv")}, content_type="multipart/form-data")
    task = AdminTask.get_by_id(int(response.location.rsplit("/", 1)[1]))
    assert task.status == TaskStatus.DONE and task.total == task.done == 7
    assert advances == [1] * 7
    assert "7/7" in client.get(response.location).get_data(as_text=True)


# --- cleanup ---------------------------------------------------------------------------

def test_the_daily_cleanup_deletes_old_exports_and_uploads_and_keeps_new_ones(client, admin_app, two, inline):
    from jobs.tasks import cleanup_files
    from server.timeutil import utcnow

    login(client, "m")
    task, location = run_as_task(client, admin_app, BILLS.format(fmt="csv"))
    instance = pathlib.Path(admin_app.instance_path)
    (instance / "uploads" / "imports").mkdir(parents=True, exist_ok=True)
    eight_days_ago = time.time() - 8 * 86400
    old = [instance / "exports" / task.result["file"], instance / "uploads" / "imports" / ("a" * 64)]
    new = [instance / "exports" / "bills-999.csv", instance / "uploads" / "imports" / ("b" * 64)]
    untouched = instance / "old-notes.txt"
    for path in [*new, *old[1:], untouched]:
        path.write_text("x")
    for path in [*old, untouched]:
        os.utime(path, (eight_days_ago, eight_days_ago))
    assert cleanup_files(utcnow().isoformat()) == {"deleted": 2, "kept": 2}
    assert not any(p.exists() for p in old) and all(p.exists() for p in [*new, untouched])
    assert "下载生成的文件" not in client.get(location).get_data(as_text=True)
    assert client.get(location + "/download").status_code == 404


# --- payments and audit lists as tasks (offline receipts, WeChat orders, refunds, audit) ---

LISTS = {"offline": "/admin/offline-payments/list?export={fmt}", "orders": "/admin/orders?export={fmt}",
         "refunds": "/admin/refunds?export={fmt}", "audit": "/admin/audit?export={fmt}"}


@pytest.fixture
def paid(two):
    """In each estate: an offline receipt for two open bills, a refund request on one,
    two WeChat orders; plus an audit row of no community (admins only)."""
    from payments import offline, refunds
    from payments.models import OrderBill, OrderStatus, PaymentOrder
    from server import audit
    from server.ledger.models import Payment

    actor = audit.Actor.staff(StaffUser.get(StaffUser.username == "boss"))
    for n, estate in enumerate(two):
        open_bills = list(Bill.select().where(Bill.community == estate.community.id, Bill.status == "unpaid")
                          .order_by(Bill.id).limit(4))
        order = offline.record_offline_payment(
            estate.community.id, [(b.id, b.amount_fen) for b in open_bills[:2]], "cash", f"V{n}", "张三",
            actor, approval_threshold_fen=10**9)
        payment = Payment.get(Payment.order == order.id)
        refunds.request_refund(payment.id, open_bills[0].id, 1000, "多收", actor, request_key=f"rk{n}")
        for k, bill in enumerate(open_bills[2:]):
            wx = PaymentOrder.create(out_trade_no=f"WX{n}{k}", community=estate.community.id,
                                     total_fen=bill.amount_fen, status=OrderStatus.PAYING)
            OrderBill.create(order=wx, bill=bill, amount_fen=bill.amount_fen, open_bill=bill)
    audit.record(actor, "staff.login", "staff_user", 1, note="全局登录记录")
    return two


def inline_and_task_rows(client, admin_app, url, fmt):
    """The in-request file and the task's file (the audit rows the task itself writes,
    object 后台任务, left out of both)."""
    inline_rows = rows_of(client.get(url), fmt)
    admin_app.config["EXPORT_INLINE_ROWS"] = 0
    try:
        started = client.get(url)
    finally:
        admin_app.config["EXPORT_INLINE_ROWS"] = 5000
    assert started.status_code == 302 and re.search(r"/admin/tasks/\d+$", started.location), url
    task = AdminTask.get_by_id(int(started.location.rsplit("/", 1)[1]))
    task_rows = download(client, started.location + "/download", fmt)
    assert task.total == task.done == len(task_rows) - 1
    not_tasks = [r for r in task_rows if "后台任务" not in r]
    return inline_rows, task, not_tasks


@pytest.mark.parametrize("name", list(LISTS))
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_payment_and_audit_exports_become_tasks_whose_file_equals_the_inline_export(
        client, admin_app, paid, inline, name, fmt):
    login(client, "boss" if name == "audit" else "m")
    inline_rows, task, task_rows = inline_and_task_rows(client, admin_app, LISTS[name].format(fmt=fmt), fmt)
    assert task.kind == f"export_{name if name != 'offline' else 'offline_payments'}"
    assert task.status == TaskStatus.DONE
    assert task_rows == inline_rows and len(task_rows) >= 3
    communities = {r[task_rows[0].index("小区")] for r in task_rows[1:]}
    assert {paid[0].community.name, paid[1].community.name} <= communities
    if name == "audit":  # the admin's file keeps the rows of no community
        assert communities & {"", None} and "全局登录记录" in str(task_rows)


@pytest.mark.parametrize("name", list(LISTS))
def test_a_cashier_of_a_gets_no_b_rows_in_a_payment_or_audit_task_file(client, admin_app, paid, inline, name):
    a, _ = paid
    login(client, "ca")
    inline_rows, task, task_rows = inline_and_task_rows(client, admin_app, LISTS[name].format(fmt="csv"), "csv")
    assert task_rows == inline_rows and len(task_rows) >= 2
    assert task.params["community_ids"] == [a.community.id] and task.community_id == a.community.id
    assert {r[task_rows[0].index("小区")] for r in task_rows[1:]} == {a.community.name}


def test_an_audit_task_drops_rows_of_no_community_when_its_admin_starter_was_demoted(
        client, admin_app, paid):
    held = Held()
    backends.use_backend(held)
    try:
        login(client, "boss")
        admin_app.config["EXPORT_INLINE_ROWS"] = 0
        client.get(LISTS["audit"].format(fmt="csv"))
    finally:
        admin_app.config["EXPORT_INLINE_ROWS"] = 5000
        backends.use_backend(None)
    [task_id] = held.task_ids
    StaffUser.update(role="manager").where(StaffUser.username == "boss").execute()
    for community in paid:
        StaffCommunity.create(staff=StaffUser.get(StaffUser.username == "boss"), community=community.community)
    tasks.run(task_id)
    task = AdminTask.get_by_id(task_id)
    header, *rows = (pathlib.Path(admin_app.instance_path) / "exports" / task.result["file"]) \
        .read_text("utf-8-sig").splitlines()
    assert task.status == TaskStatus.DONE and rows and "全局登录记录" not in str(rows)


def test_the_house_page_links_each_metered_item_to_its_meter_page_for_write_roles(client, admin_app):
    estate = f.estate(1)
    make_staff("ca2", "cashier", [estate.community])
    make_staff("v2", "viewer", [estate.community])
    house, item = estate.houses[0], estate.items["SF"]
    link = f"/admin/meter-readings/meter?house={house.id}&amp;fee_item={item.id}"
    login(client, "ca2")
    page = client.get(f"/admin/houses/{house.id}").get_data(as_text=True)
    assert link in page and "装表/换表" in page
    assert page.count("/admin/meter-readings/meter?") == 1  # 物业费/停车费 are not metered
    assert client.get(link.replace("&amp;", "&")).status_code == 200
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    login(client, "v2")
    assert "装表/换表" not in client.get(f"/admin/houses/{house.id}").get_data(as_text=True)
