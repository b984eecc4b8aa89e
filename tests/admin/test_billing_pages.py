"""Billing pages: meter readings, billing runs (preview → issue), bills, adjustments."""
from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
import secrets
from decimal import Decimal

import pytest

from server.audit import AuditLog
from server.billing.models import (Adjustment, AdjustmentStatus, Bill, BillingRun, MeterReading,
                                   RunStatus)
from server.owners.models import OwnerSession
from server.owners.sessions import hash_token
from server.property.models import Binding, BindingStatus, Owner
from server.timeutil import utcnow
from tests import factories as f
from tests.admin.conftest import csrf_token, login, make_staff

PERIOD = "2026-03"


@pytest.fixture
def inline_jobs():
    from jobs import backends

    backends.use_backend(backends.InlineBackend())
    yield
    backends.use_backend(None)


@pytest.fixture
def two(admin_app):
    """Two ready-to-bill estates A and B (3 houses each: 物业费 250.00, 停车费 150.00, 水费 metered)."""
    return f.estate(3), f.estate(2)


def post(client, path, data, token_from="/admin/bills"):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, token_from)})


def flashes(response) -> str:
    return " ".join(re.findall(r'<p class="flash [a-z]+"[^>]*>([^<]*)</p>', response.get_data(as_text=True)))


def as_user(client, username, role, communities):
    make_staff(username, role, communities)
    login(client, username)
    return client


# --- meter readings -------------------------------------------------------------

def test_the_reading_grid_lists_each_meter_with_its_previous_reading(client, two):
    a, _ = two
    water = a.items["SF"]
    f.reading(a.houses[0], water, "2026-02", 0, "12.50")
    as_user(client, "m", "manager", [a.community])
    page = client.get(f"/admin/meter-readings?fee_item={water.id}&period={PERIOD}").get_data(as_text=True)
    assert page.count('name="reading-') == 3
    assert "12.50" in page and "(2026-02)" in page
    assert "/admin/imports?kind=readings" in page


def test_saving_the_grid_records_every_reading_with_audit(client, two):
    a, _ = two
    water = a.items["SF"]
    as_user(client, "m", "manager", [a.community])
    data = {"fee_item": water.id, "period": PERIOD, "read_on": "2026-03-31",
            **{f"reading-{h.id}": str(10 + i) for i, h in enumerate(a.houses)}}
    response = post(client, "/admin/meter-readings", data, "/admin/meter-readings")
    assert response.status_code == 302
    readings = MeterReading.select().where(MeterReading.period == PERIOD)
    assert sorted(Decimal(r.usage) for r in readings) == [10, 11, 12]
    assert AuditLog.select().where(AuditLog.action == "meter_reading.record").count() == 3
    assert "已保存 3 条读数" in flashes(client.get(response.location))


def test_one_bad_row_saves_nothing_and_shows_the_error_next_to_the_row(client, two):
    a, _ = two
    water = a.items["SF"]
    f.reading(a.houses[1], water, "2026-02", 0, "50")
    as_user(client, "m", "manager", [a.community])
    data = {"fee_item": water.id, "period": PERIOD, "read_on": "2026-03-31",
            f"reading-{a.houses[0].id}": "20", f"reading-{a.houses[1].id}": "40"}
    response = post(client, "/admin/meter-readings", data, "/admin/meter-readings")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "本次没有保存任何读数" in page
    row = re.search(rf'<tr data-house="{a.houses[1].id}" class="row-error">.*?</tr>', page, re.S).group(0)
    assert "本期读数 40 低于上期读数 50；如已换表，请先登记换表" in row
    assert 'value="40"' in row  # what was typed is kept
    assert MeterReading.select().where(MeterReading.period == PERIOD).count() == 0


def test_a_high_consumption_is_flagged_in_the_grid(client, two):
    a, _ = two
    water = a.items["SF"]
    h = a.houses[0]
    f.reading(h, water, "2026-01", 0, 10)
    f.reading(h, water, "2026-02", 10, 20)
    f.reading(h, water, PERIOD, 20, 200)
    as_user(client, "m", "manager", [a.community])
    page = client.get(f"/admin/meter-readings?fee_item={water.id}&period={PERIOD}").get_data(as_text=True)
    assert "用量异常偏高" in page


def test_readings_export_as_csv(client, two):
    a, _ = two
    f.reading(a.houses[0], a.items["SF"], "2026-02", 0, "12.5")
    as_user(client, "m", "manager", [a.community])
    response = client.get("/admin/meter-readings?export=csv")
    text = response.get_data().decode("utf-8-sig")
    assert response.mimetype == "text/csv"
    assert text.splitlines()[0].startswith("小区,楼栋")
    assert "2026-02" in text and "12.50" in text


# --- billing runs --------------------------------------------------------------------

def _preview(client, community, period=PERIOD):
    response = post(client, "/admin/billing-runs/preview", {"community": community.id, "period": period},
                    "/admin/billing-runs")
    assert response.status_code == 302, flashes(response)
    return response.location


def test_a_preview_shows_totals_per_item_and_problems_and_bills_nobody(client, two):
    a, _ = two
    as_user(client, "m", "manager", [a.community])
    page = client.get(_preview(client, a.community)).get_data(as_text=True)
    assert Bill.select().count() == 0
    run = BillingRun.get()
    assert run.status == RunStatus.PREVIEWED
    assert "750.00" in page and "450.00" in page  # 3 × 250.00 物业费, 3 × 150.00 停车费
    assert "1200.00" in page
    assert page.count("缺少本期读数") >= 3  # no water readings yet: listed, not billed
    assert 'id="issue"' in page


def test_issuing_runs_as_a_task_then_a_second_issue_says_already_issued(client, two, inline_jobs):
    a, _ = two
    as_user(client, "m", "manager", [a.community])
    run_page = _preview(client, a.community)
    run_id = int(run_page.rsplit("/", 1)[1])
    response = post(client, f"/admin/billing-runs/{run_id}/issue", {}, run_page)
    assert "/admin/billing-runs/tasks/" in response.location
    done = client.get(response.location)
    assert done.status_code == 302
    assert "新增 6 张账单" in flashes(client.get(done.location))
    assert Bill.select().count() == 6
    issued = BillingRun.get(BillingRun.status == RunStatus.ISSUED)
    assert (issued.bills_created, issued.total_fen) == (6, 120000)
    again = _preview(client, a.community)
    assert 'id="already-issued"' in client.get(again).get_data(as_text=True)
    response = post(client, f"{again}/issue", {}, again)
    final = client.get(client.get(response.location).location)
    assert "已出账" in final.get_data(as_text=True)
    assert Bill.select().count() == 6


def test_a_cashier_may_preview_but_not_issue(client, two):
    a, _ = two
    as_user(client, "c", "cashier", [a.community])
    run_page = _preview(client, a.community)
    assert 'id="issue"' not in client.get(run_page).get_data(as_text=True)
    assert post(client, f"{run_page}/issue", {}, run_page).status_code == 403
    assert Bill.select().count() == 0


def test_a_preview_of_a_bad_period_is_refused_in_chinese(client, two):
    a, _ = two
    as_user(client, "m", "manager", [a.community])
    response = post(client, "/admin/billing-runs/preview",
                    {"community": a.community.id, "period": "2026-13"}, "/admin/billing-runs")
    assert "账期“2026-13”格式不对，应为 YYYY-MM" in flashes(client.get(response.location))
    assert BillingRun.select().count() == 0


# --- bills -----------------------------------------------------------------------------

def _bills(estate, period=PERIOD):
    return [f.bill(h, estate.items["WYF"], period=period, amount_fen=25000) for h in estate.houses]


def test_the_bill_list_filters_and_totals_the_filtered_set(client, two):
    a, b = two
    bills_a = _bills(a)
    f.bill(a.houses[0], a.items["WYF"], period="2026-02", amount_fen=9900)
    _bills(b)
    Bill.update(paid_fen=25000, status="paid").where(Bill.id == bills_a[0].id).execute()
    as_user(client, "m", "manager", [a.community, b.community])
    url = f"/admin/bills?community={a.community.id}&period={PERIOD}&status=open"
    page = client.get(url).get_data(as_text=True)
    totals = re.search(r'id="bill-totals".*?</section>', page, re.S).group(0)
    assert ">2<" in totals and "500.00" in totals
    assert page.count('href="/admin/bills/') == 2
    page = client.get(f"/admin/bills?house={a.houses[0].id}").get_data(as_text=True)
    assert page.count('href="/admin/bills/') == 2


def test_bills_export_to_csv_and_xlsx_with_yuan_amounts(client, two):
    from openpyxl import load_workbook

    a, _ = two
    _bills(a)
    as_user(client, "m", "manager", [a.community])
    text = client.get("/admin/bills?export=csv").get_data().decode("utf-8-sig")
    assert text.splitlines()[0].startswith("账单号,小区,楼栋")
    assert text.count("250.00") >= 3
    book = load_workbook(io.BytesIO(client.get("/admin/bills?export=xlsx").get_data()))
    rows = list(book.active.values)
    assert len(rows) == 4 and rows[1][11] == "250.00"


def test_the_bill_detail_shows_its_basis_and_exactly_what_the_owner_api_returns(client, two):
    a, _ = two
    bill = _bills(a)[0]
    owner = Owner.create(openid="o-detail", nickname="张三")
    Binding.create(owner=owner, house=bill.house_id, verified_by="staff", status=BindingStatus.ACTIVE)
    token = secrets.token_urlsafe(16)
    OwnerSession.create(owner=owner, token_hash=hash_token(token),
                        expires_at=utcnow() + dt.timedelta(days=1))
    as_user(client, "m", "manager", [a.community])
    page = client.get(f"/admin/bills/{bill.id}").get_data(as_text=True)
    assert "250.00 元" in page and "第 1 版" in page
    shown = json.loads(html.unescape(re.search(r'<pre id="owner-json">(.*?)</pre>', page, re.S).group(1)))
    api = client.get(f"/api/v1/bills/{bill.id}", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    assert shown == api.get_json()


# --- adjustments -------------------------------------------------------------------------

def test_a_small_waiver_applies_at_once_with_audit_before_and_after(client, two):
    a, _ = two
    bill = _bills(a)[0]
    as_user(client, "c", "cashier", [a.community])
    response = post(client, f"/admin/bills/{bill.id}/adjustments",
                    {"kind": "waiver", "amount": "12.30", "reason": "停水一天"})
    assert "调整已生效" in flashes(client.get(response.location))
    assert f.reload(bill).adjusted_fen == -1230
    entry = AuditLog.get(AuditLog.action == "adjustment.waiver")
    assert entry.before["adjusted_fen"] == 0 and entry.after["adjusted_fen"] == -1230


def test_an_adjustment_without_reason_is_refused_and_changes_nothing(client, two):
    a, _ = two
    bill = _bills(a)[0]
    as_user(client, "c", "cashier", [a.community])
    response = post(client, f"/admin/bills/{bill.id}/adjustments",
                    {"kind": "waiver", "amount": "1", "reason": ""})
    assert "请填写调整原因" in flashes(client.get(response.location))
    assert Adjustment.select().count() == 0


def test_a_large_adjustment_waits_for_a_second_manager(client, two):
    a, _ = two
    bill = f.bill(a.houses[0], a.items["WYF"], period=PERIOD, amount_fen=90000)
    as_user(client, "m1", "manager", [a.community])
    response = post(client, f"/admin/bills/{bill.id}/adjustments",
                    {"kind": "correction", "amount": "-600.00", "reason": "面积录错"})
    assert "等待另一位主管审批" in flashes(client.get(response.location))
    adj = Adjustment.get()
    assert adj.status == AdjustmentStatus.PENDING
    assert "面积录错" in client.get("/admin/adjustments").get_data(as_text=True)
    response = post(client, f"/admin/adjustments/{adj.id}/approve", {}, "/admin/adjustments")
    assert "申请人不能审批自己的调整" in flashes(client.get(response.location))
    assert f.reload(bill).adjusted_fen == 0
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/adjustments")})
    as_user(client, "m2", "manager", [a.community])
    response = post(client, f"/admin/adjustments/{adj.id}/approve", {"note": "核实"}, "/admin/adjustments")
    assert "已批准" in flashes(client.get(response.location))
    assert f.reload(bill).adjusted_fen == -60000
    entry = AuditLog.get(AuditLog.action == "adjustment.correction")
    assert (entry.before["adjusted_fen"], entry.after["adjusted_fen"]) == (0, -60000)
    assert entry.actor_id == "m2"


def test_a_rejected_adjustment_leaves_the_bill_alone(client, two):
    a, _ = two
    bill = _bills(a)[0]
    adj = Adjustment.create(bill=bill, kind="discount", amount_fen=-5000, reason="老人优惠")
    as_user(client, "m", "manager", [a.community])
    response = post(client, f"/admin/adjustments/{adj.id}/reject", {"note": "不符合"}, "/admin/adjustments")
    assert "已驳回" in flashes(client.get(response.location))
    assert f.reload(adj).status == AdjustmentStatus.REJECTED
    assert f.reload(bill).adjusted_fen == 0
    assert AuditLog.get(AuditLog.action == "adjustment.reject").after["status"] == "rejected"


def test_adjustments_export_as_xlsx(client, two):
    from openpyxl import load_workbook

    a, _ = two
    bill = _bills(a)[0]
    Adjustment.create(bill=bill, kind="discount", amount_fen=-5000, reason="老人优惠")
    as_user(client, "m", "manager", [a.community])
    book = load_workbook(io.BytesIO(client.get("/admin/adjustments?export=xlsx").get_data()))
    rows = list(book.active.values)
    assert rows[0][0] == "调整号" and rows[1][7] == "优惠"
    assert rows[1][8] == "-50.00"  # a signed amount stays a number, not quoted as a formula


# --- scope, roles, CSRF ----------------------------------------------------------------------

def test_a_cashier_of_a_gets_404_on_every_record_of_b(client, two):
    a, b = two
    bill_b = _bills(b)[0]
    Adjustment.create(bill=bill_b, kind="discount", amount_fen=-100, reason="老人")
    run_b = BillingRun.create(community=b.community, period=PERIOD)
    as_user(client, "c", "cashier", [a.community])
    for path in (f"/admin/bills/{bill_b.id}", f"/admin/bills?house={b.houses[0].id}",
                 f"/admin/bills?community={b.community.id}", f"/admin/billing-runs/{run_b.id}",
                 f"/admin/meter-readings?fee_item={b.items['SF'].id}"):
        assert client.get(path).status_code == 404, path
    waiver = {"kind": "waiver", "amount": "1", "reason": "x"}
    for path, data in ((f"/admin/bills/{bill_b.id}/adjustments", waiver),
                       ("/admin/billing-runs/preview", {"community": b.community.id, "period": PERIOD}),
                       ("/admin/meter-readings", {"fee_item": b.items["SF"].id, "period": PERIOD,
                                                  f"reading-{b.houses[0].id}": "5"})):
        assert post(client, path, data).status_code == 404, path
    assert "老人" not in client.get("/admin/adjustments?status=all").get_data(as_text=True)
    assert Adjustment.select().count() == 1 and BillingRun.select().count() == 1


def test_a_manager_of_a_cannot_decide_b_adjustments(client, two):
    a, b = two
    adj_b = Adjustment.create(bill=_bills(b)[0], kind="discount", amount_fen=-100, reason="x")
    as_user(client, "m", "manager", [a.community])
    assert post(client, f"/admin/adjustments/{adj_b.id}/approve", {}).status_code == 404
    assert f.reload(adj_b).status == AdjustmentStatus.PENDING


def test_a_viewer_reads_but_every_billing_post_is_403(client, two):
    a, _ = two
    bill = _bills(a)[0]
    adj = Adjustment.create(bill=bill, kind="discount", amount_fen=-100, reason="x")
    run = BillingRun.create(community=a.community, period=PERIOD)
    as_user(client, "v", "viewer", [a.community])
    assert client.get(f"/admin/bills/{bill.id}").status_code == 200
    for path in (f"/admin/bills/{bill.id}/adjustments", f"/admin/adjustments/{adj.id}/approve",
                 f"/admin/adjustments/{adj.id}/reject", "/admin/billing-runs/preview",
                 f"/admin/billing-runs/{run.id}/issue", "/admin/meter-readings"):
        assert post(client, path, {"kind": "waiver", "amount": "1", "reason": "x"}).status_code == 403, path
    assert f.reload(adj).status == AdjustmentStatus.PENDING


def test_a_billing_form_without_csrf_token_is_refused(client, two):
    a, _ = two
    bill = _bills(a)[0]
    as_user(client, "m", "manager", [a.community])
    response = client.post(f"/admin/bills/{bill.id}/adjustments",
                           data={"kind": "waiver", "amount": "1", "reason": "x"})
    assert response.status_code == 400
    assert Adjustment.select().count() == 0


def test_every_billing_list_renders_for_a_manager(client, two):
    a, _ = two
    _bills(a)
    as_user(client, "m", "manager", [a.community])
    for path in ("/admin/meter-readings", "/admin/meter-readings/list", "/admin/billing-runs",
                 "/admin/bills", "/admin/adjustments", "/admin/adjustments?status=all"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "导出" in response.get_data(as_text=True), path


# --- 换表/装表 ------------------------------------------------------------------------

def _grid_row(page: str, house_id: int) -> str:
    return re.search(rf'<tr data-house="{house_id}".*?</tr>', page, re.S).group(0)


def test_install_then_replace_restarts_the_grid_from_the_new_meter_and_accepts_a_lower_reading(client, two):
    from server.billing.models import Meter, MeterStatus

    a, _ = two
    water = a.items["SF"]
    h = f.house(a.community, a.houses[0].building)
    as_user(client, "c", "cashier", [a.community])
    grid = f"/admin/meter-readings?fee_item={water.id}&period={PERIOD}"
    form = f"/admin/meter-readings/meter?house={h.id}&fee_item={water.id}"
    assert "安装表具" in client.get(form).get_data(as_text=True)
    response = post(client, form, {"mode": "install", "start_reading": "5", "on": "2025-12-01",
                                   "serial": "W-OLD", "next": grid}, "/admin/meter-readings")
    assert response.status_code == 302 and response.location == grid
    f.reading(h, water, "2026-02", "5", "40")
    page = client.get(grid).get_data(as_text=True)
    assert page.count("/admin/meter-readings/meter?house=") == 4
    assert "40.00" in client.get(form).get_data(as_text=True)
    response = post(client, form, {"mode": "replace", "old_final_reading": "45", "new_start_reading": "2",
                                   "on": "2026-03-05", "next": grid}, "/admin/meter-readings")
    assert response.status_code == 302 and response.location == grid
    assert "已为" in flashes(client.get(response.location))
    row = _grid_row(client.get(grid).get_data(as_text=True), h.id)
    assert "2.00" in row and "已换表" in row and "40.00" not in row
    old = Meter.get(Meter.serial == "W-OLD")
    assert old.status == MeterStatus.REPLACED
    entry = AuditLog.get(AuditLog.action == "meter.replace")
    assert entry.entity_id == str(old.id) and entry.community_id == a.community.id
    assert entry.before["status"] == MeterStatus.ACTIVE
    assert entry.after["old"]["status"] == MeterStatus.REPLACED and entry.after["new"]["start_reading"]
    assert AuditLog.select().where(AuditLog.action == "meter.install").count() == 1
    response = post(client, "/admin/meter-readings", {"fee_item": water.id, "period": PERIOD,
                                                      "read_on": "2026-03-31", f"reading-{h.id}": "10"},
                    "/admin/meter-readings")
    assert response.status_code == 302
    assert Decimal(MeterReading.get(MeterReading.house == h, MeterReading.period == PERIOD).usage) == 13


def test_a_bad_meter_reading_is_refused_in_chinese_and_changes_nothing(client, two):
    from server.billing.models import Meter

    a, _ = two
    water, h = a.items["SF"], a.houses[0]
    as_user(client, "c", "cashier", [a.community])
    form = f"/admin/meter-readings/meter?house={h.id}&fee_item={water.id}"
    response = post(client, form, {"mode": "replace", "old_final_reading": "abc",
                                   "new_start_reading": "1"}, "/admin/meter-readings")
    assert response.status_code == 422
    assert "旧表最终读数“abc”不是数字" in html.unescape(flashes(response))
    response = post(client, form, {"mode": "install", "start_reading": "1"}, "/admin/meter-readings")
    assert response.status_code == 422 and "已有此收费项目的表具" in flashes(response)
    assert Meter.select().where(Meter.house == h).count() == 1
    assert not AuditLog.select().where(AuditLog.action.startswith("meter.")).exists()


def test_the_meter_form_is_403_for_a_viewer_and_404_for_another_community(client, two):
    from server.billing.models import Meter

    a, b = two
    as_user(client, "v", "viewer", [a.community])
    form_a = f"/admin/meter-readings/meter?house={a.houses[0].id}&fee_item={a.items['SF'].id}"
    assert client.get(form_a).status_code == 200
    data = {"mode": "replace", "old_final_reading": "9", "new_start_reading": "0"}
    assert post(client, form_a, data, "/admin/meter-readings").status_code == 403
    as_user(client, "c", "cashier", [a.community])
    form_b = f"/admin/meter-readings/meter?house={b.houses[0].id}&fee_item={b.items['SF'].id}"
    assert client.get(form_b).status_code == 404
    assert post(client, form_b, data, "/admin/meter-readings").status_code == 404
    mixed = f"/admin/meter-readings/meter?house={a.houses[0].id}&fee_item={b.items['SF'].id}"
    assert client.get(mixed).status_code == 404
    assert client.get("/admin/meter-readings/meter").status_code == 404
    assert Meter.select().where(Meter.replaces.is_null(False)).count() == 0
