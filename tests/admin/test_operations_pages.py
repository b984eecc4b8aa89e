"""Operations pages: reconciliation, disputes, reminders and campaigns, alerts."""
from __future__ import annotations

import datetime as dt

import pytest

from payments.exceptions import BillNotAvailable
from payments.models import PaymentOrder
from server.alerts import Alert
from server.audit import AuditLog
from server.billing.models import Adjustment, Bill
from server.disputes import services as disputes
from server.disputes.models import Dispute, DisputeReason
from server.ledger.models import Payment
from server.property.models import Binding, Owner
from server.reconciliation.models import ReconciliationItem, ReconciliationRun
from server.timeutil import SHANGHAI, UTC, local_today
from templates_msg import registry
from templates_msg.models import ReminderLog, ReminderPolicy, Subscription
from tests import factories as f
from tests.admin.conftest import csrf_token, login, make_staff

DAYTIME = dt.datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)
NIGHT = dt.datetime(2026, 11, 20, 22, 0, tzinfo=SHANGHAI).astimezone(UTC)


class World:
    """Communities A and B, each with a house, a bound owner, an unpaid bill, a WeChat
    order and payment, an open dispute and an alert; one reconciliation day with an
    amount_mismatch in each community and a missing_local of no known community."""

    def __init__(self):
        yesterday = local_today() - dt.timedelta(days=1)
        self.run = ReconciliationRun.create(bill_date=yesterday, status="done", remote_payments=3,
                                            remote_payment_fen=30_000, local_payments=2,
                                            local_payment_fen=20_000, differences=3)
        for code in ("A", "B"):
            comm = f.community(f"小区{code}", code)
            item = f.fee_item(comm, "WYF", "物业费")
            house = f.house(comm)
            owner = Owner.create(openid=f"o-{code}", nickname=f"业主{code}")
            Binding.create(owner=owner, house=house, verified_by="staff")
            bill = f.bill(house, item, period="2026-10", amount_fen=20_000)
            order = PaymentOrder.create(out_trade_no=f"OT{code}1", community=comm, total_fen=10_000,
                                        status="paid")
            Payment.create(community=comm, order=order, channel="wechat", amount_fen=10_000,
                           transaction_id=f"TX{code}1")
            diff = ReconciliationItem.create(run=self.run, kind="amount_mismatch", reference=f"TX{code}1",
                                             out_trade_no=f"OT{code}1", remote_fen=10_100,
                                             local_fen=10_000, remote_status="SUCCESS",
                                             local_status="paid")
            dispute = disputes.open_dispute(owner.id, bill.id, DisputeReason.AMOUNT, f"{code} 面积算错了")
            alert = Alert.create(kind="test", message=f"{code} 的告警", community_id=comm.id)
            setattr(self, code.lower(), comm)
            setattr(self, f"{code.lower()}_bill", bill)
            setattr(self, f"{code.lower()}_item", item)
            setattr(self, f"{code.lower()}_owner", owner)
            setattr(self, f"{code.lower()}_diff", diff)
            setattr(self, f"{code.lower()}_dispute", dispute)
            setattr(self, f"{code.lower()}_alert", alert)
        self.unknown = ReconciliationItem.create(
            run=self.run, kind="missing_local", reference="TXZ9", out_trade_no="NOSUCH", remote_fen=500,
            details={"credit": "unmatched", "problems": ["order not found"]})
        self.merchant_alert = Alert.create(kind="reconciliation_failed", message="全商户告警")


@pytest.fixture
def world(admin_app):
    return World()


@pytest.fixture
def inline_jobs():
    from jobs import backends

    backends.use_backend(backends.InlineBackend())
    yield
    backends.use_backend(None)


def post(client, path, data=None, token_path="/admin/reminders"):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, token_path)})


def flashes(client, path):
    return client.get(path).get_data(as_text=True)


# ------------------------------------------------------------------ reconciliation
def test_admin_sees_merchant_totals_and_every_difference(client, world):
    make_staff("boss")
    login(client, "boss")
    page = client.get("/admin/reconciliation").get_data(as_text=True)
    assert "300.00" in page and "200.00" in page
    items = client.get(f"/admin/reconciliation/items?date={world.run.bill_date}").get_data(as_text=True)
    assert "OTA1" in items and "OTB1" in items and "NOSUCH" in items
    assert "金额不符" in items and "本地缺失" in items and "未能自动入账（order not found）" in items


def test_staff_of_a_see_only_a_differences_and_no_merchant_totals(client, world):
    make_staff("cash", "cashier", [world.a])
    login(client, "cash")
    page = client.get("/admin/reconciliation").get_data(as_text=True)
    assert "300.00" not in page and "仅管理员可见" in page
    items = client.get("/admin/reconciliation/items").get_data(as_text=True)
    assert "OTA1" in items and "OTB1" not in items and "NOSUCH" not in items
    assert "处理</button>" not in items          # a cashier cannot resolve


def test_resolving_a_difference_needs_a_note_and_is_audited(client, world):
    make_staff("mgr", "manager", [world.a])
    login(client, "mgr")
    path = f"/admin/reconciliation/items/{world.a_diff.id}/resolve"
    response = post(client, path, {"note": "  "})
    assert response.status_code == 302
    assert "请说明处理方式" in flashes(client, response.location)
    assert ReconciliationItem.get_by_id(world.a_diff.id).resolved_at is None
    post(client, path, {"note": "微信多收 1 元，已联系退款"})
    item = ReconciliationItem.get_by_id(world.a_diff.id)
    assert (item.resolved_by, item.note) == ("mgr", "微信多收 1 元，已联系退款")
    log = AuditLog.get(AuditLog.action == "reconciliation.resolve")
    assert log.before == {"kind": "amount_mismatch", "reference": "TXA1", "resolved_at": None}
    assert log.community_id == world.a.id
    assert {k: log.after[k] for k in ("resolved_by", "note")} == {
        "resolved_by": "mgr", "note": "微信多收 1 元，已联系退款"}
    assert log.after["resolved_at"]
    open_items = client.get("/admin/reconciliation/items").get_data(as_text=True)
    assert "OTA1" not in open_items


def test_a_manager_of_a_gets_404_on_b_and_unknown_differences(client, world):
    make_staff("mgr", "manager", [world.a])
    login(client, "mgr")
    for item in (world.b_diff, world.unknown):
        response = post(client, f"/admin/reconciliation/items/{item.id}/resolve", {"note": "x"})
        assert response.status_code == 404
        assert ReconciliationItem.get_by_id(item.id).resolved_at is None
    assert client.get(f"/admin/reconciliation/items?community={world.b.id}").status_code == 404


class NoBillClient:
    """WeChat has no trade bill for the day (there was no WeChat trade)."""
    mchid, appid = "1900000001", "wx-test"

    def trade_bill(self, day, bill_type, tar_type=None):
        raise BillNotAvailable("no bill", code="NO_STATEMENT_EXIST")


def test_reconciling_a_date_again_runs_as_a_task_and_finds_our_unlisted_payment(
        client, world, inline_jobs):
    from jobs import runtime
    from server.tasks.models import AdminTask

    day = local_today() - dt.timedelta(days=2)
    when = dt.datetime.combine(day, dt.time(12), tzinfo=SHANGHAI).astimezone(UTC)
    Payment.create(community=world.a, channel="wechat", amount_fen=777, transaction_id="TXLATE",
                   received_at=when)
    runtime.configure(runtime.config(), client=NoBillClient())
    try:
        make_staff("mgr", "manager", [world.a])
        login(client, "mgr")
        response = post(client, "/admin/reconciliation/rerun", {"bill_date": day.isoformat()})
    finally:
        runtime.configure(runtime.config())
    task = AdminTask.get(AdminTask.kind == "reconcile")
    assert response.location.endswith(f"/admin/reconciliation?task={task.id}")
    assert task.status == "done" and task.result["differences"] == 1
    item = ReconciliationItem.get(ReconciliationItem.reference == "TXLATE")
    assert (item.kind, item.local_fen) == ("missing_remote", 777)
    page = client.get(response.location).get_data(as_text=True)
    assert "已完成" in page and "差异 1 条" in page


def test_reconciling_today_is_refused_with_a_message(client, world):
    make_staff("mgr", "manager", [world.a])
    login(client, "mgr")
    response = post(client, "/admin/reconciliation/rerun", {"bill_date": local_today().isoformat()})
    assert "对账单尚未生成" in flashes(client, response.location)
    assert ReconciliationRun.select().count() == 1


def test_differences_export_has_chinese_headers_and_yuan(client, world):
    make_staff("boss")
    login(client, "boss")
    body = client.get("/admin/reconciliation/items?export=csv").get_data(as_text=True)
    assert body.startswith("\ufeff账单日期,差异类型,商户订单号")
    assert "101.00,100.00" in body
    xlsx = client.get("/admin/reconciliation?export=xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"


# ------------------------------------------------------------------------ disputes
def test_the_dispute_list_shows_only_the_communities_of_the_staff(client, world):
    make_staff("cash", "cashier", [world.a])
    login(client, "cash")
    page = client.get("/admin/disputes").get_data(as_text=True)
    assert "A 面积算错了" in page and "B 面积算错了" not in page
    body = client.get("/admin/disputes?export=csv").get_data(as_text=True)
    assert "A 面积算错了" in body and "B 面积算错了" not in body and "200.00" in body


def test_a_staff_reply_reaches_the_owner(client, world):
    make_staff("cash", "cashier", [world.a])
    login(client, "cash")
    path = f"/admin/disputes/{world.a_dispute.id}"
    response = post(client, f"{path}/reply", {"text": "已核实面积，稍后回复"}, token_path=path)
    assert "回复已发送" in flashes(client, response.location)
    mine = disputes.owner_dispute(world.a_owner.id, world.a_dispute.id)
    assert mine["status"] == "answered"
    assert [m["text"] for m in mine["messages"]] == ["已核实面积，稍后回复"]
    assert "已核实面积，稍后回复" in client.get(path).get_data(as_text=True)


def test_resolving_with_a_waiver_adjusts_the_bill_then_lifts_the_hold(client, world):
    make_staff("mgr", "manager", [world.a])
    login(client, "mgr")
    path = f"/admin/disputes/{world.a_dispute.id}"
    assert Bill.get_by_id(world.a_bill.id).on_hold
    response = post(client, f"{path}/resolve", {"resolution": "面积按 80 平米重算",
                                                "adjustment_kind": "waiver", "amount": "30.50"},
                    token_path=path)
    assert "减免 -30.50 元" in flashes(client, response.location)
    bill = Bill.get_by_id(world.a_bill.id)
    assert (bill.adjusted_fen, bill.on_hold) == (-3050, False)
    dispute = Dispute.get_by_id(world.a_dispute.id)
    adjustment = Adjustment.get_by_id(dispute.adjustment_id)
    assert (dispute.status, adjustment.status, adjustment.amount_fen) == ("resolved", "approved", -3050)
    applied = AuditLog.get(AuditLog.action == "adjustment.waiver")
    assert applied.before == {"adjusted_fen": 0, "status": "unpaid"}
    assert applied.after["adjusted_fen"] == -3050
    release = AuditLog.get(AuditLog.action == "bill.release")
    assert release.id > applied.id
    assert "已批准" in client.get(path).get_data(as_text=True)


def test_an_adjustment_above_the_threshold_waits_for_approval(client, world, admin_app):
    admin_app.extensions["wuyepay_config"].ADJUSTMENT_APPROVAL_THRESHOLD_FEN = 1_000
    make_staff("mgr", "manager", [world.a])
    login(client, "mgr")
    path = f"/admin/disputes/{world.a_dispute.id}"
    response = post(client, f"{path}/resolve", {"resolution": "同意减免", "adjustment_kind": "waiver",
                                                "amount": "50"}, token_path=path)
    assert "待另一位主管审批" in flashes(client, response.location)
    assert Bill.get_by_id(world.a_bill.id).adjusted_fen == 0
    assert Adjustment.get().status == "pending"


def test_an_adjustment_beyond_the_balance_is_refused_and_nothing_changes(client, world):
    make_staff("mgr", "manager", [world.a])
    login(client, "mgr")
    path = f"/admin/disputes/{world.a_dispute.id}"
    response = post(client, f"{path}/resolve", {"resolution": "全免", "adjustment_kind": "waiver",
                                                "amount": "200.01"}, token_path=path)
    assert "调整后账单应缴余额将小于零：当前余额 200.00 元，调整 -200.01 元" in flashes(client, response.location)
    assert Dispute.get_by_id(world.a_dispute.id).status == "open"
    assert Adjustment.select().count() == 0 and Bill.get_by_id(world.a_bill.id).on_hold


def test_resolving_a_closed_dispute_with_an_adjustment_leaves_no_adjustment_behind(client, world):
    disputes.withdraw_dispute(world.a_owner.id, world.a_dispute.id)
    make_staff("mgr", "manager", [world.a])
    login(client, "mgr")
    path = f"/admin/disputes/{world.a_dispute.id}"
    response = client.post(f"{path}/resolve", data={
        "resolution": "减免", "adjustment_kind": "waiver", "amount": "10",
        "csrf_token": csrf_token(client, "/admin/disputes")})
    assert "该异议已结束" in flashes(client, response.location)
    assert Adjustment.select().count() == 0 and Bill.get_by_id(world.a_bill.id).adjusted_fen == 0


def test_a_cashier_of_a_gets_404_on_b_disputes(client, world):
    make_staff("cash", "cashier", [world.a])
    login(client, "cash")
    assert client.get(f"/admin/disputes/{world.b_dispute.id}").status_code == 404
    response = post(client, f"/admin/disputes/{world.b_dispute.id}/reply", {"text": "hi"})
    assert response.status_code == 404
    assert Dispute.get_by_id(world.b_dispute.id).status == "open"


# ----------------------------------------------------------------------- reminders
def test_a_policy_change_is_saved_and_audited_and_a_bad_value_refused(client, world):
    make_staff("mgr", "manager", [world.a])
    login(client, "mgr")
    path = f"/admin/reminders/policy/{world.a.id}"
    post(client, path, {"due_soon_days": "5", "overdue_every_days": "10", "overdue_max": "2"})
    row = ReminderPolicy.get(ReminderPolicy.community == world.a.id)
    assert (row.due_soon_days, row.overdue_every_days, row.overdue_max) == (5, 10, 2)
    log = AuditLog.get(AuditLog.action == "reminder_policy.update")
    assert log.before == {"due_soon_days": 3, "overdue_every_days": 7, "overdue_max": 3,
                          "bill_issued_on": True, "due_soon_on": True, "due_day_on": True}
    assert log.community_id == world.a.id
    response = post(client, path, {"due_soon_days": "5", "overdue_every_days": "0", "overdue_max": "2"})
    assert "不能小于 1" in flashes(client, response.location)
    assert post(client, f"/admin/reminders/policy/{world.b.id}",
                {"due_soon_days": "1", "overdue_every_days": "1", "overdue_max": "1"}).status_code == 404


def test_the_policy_form_shows_and_saves_the_stage_switches_unchecked_is_off(client, world):
    make_staff("mgr", "manager", [world.a])
    login(client, "mgr")
    page = client.get("/admin/reminders").get_data(as_text=True)
    for name in ("bill_issued_on", "due_soon_on", "due_day_on"):
        assert f'name="{name}" value="1" checked' in page
    path = f"/admin/reminders/policy/{world.a.id}"
    # The browser sends the checked boxes only: due_soon_on and due_day_on are unchecked.
    post(client, path, {"due_soon_days": "3", "overdue_every_days": "7", "overdue_max": "3",
                        "stage_switches": "1", "bill_issued_on": "1"})
    row = ReminderPolicy.get(ReminderPolicy.community == world.a.id)
    assert (row.bill_issued_on, row.due_soon_on, row.due_day_on) == (True, False, False)
    log = AuditLog.get(AuditLog.action == "reminder_policy.update")
    assert (log.after["due_soon_on"], log.after["due_day_on"], log.after["bill_issued_on"]) == (False, False, True)
    page = client.get("/admin/reminders").get_data(as_text=True)
    assert 'name="bill_issued_on" value="1" checked' in page
    assert 'name="due_soon_on" value="1" >' in page and 'name="due_day_on" value="1" >' in page
    # Checked again: back on.
    post(client, path, {"due_soon_days": "3", "overdue_every_days": "7", "overdue_max": "3",
                        "stage_switches": "1", "bill_issued_on": "1", "due_soon_on": "1", "due_day_on": "1"})
    row = ReminderPolicy.get(ReminderPolicy.community == world.a.id)
    assert (row.bill_issued_on, row.due_soon_on, row.due_day_on) == (True, True, True)


def test_conversion_and_failure_rate_count_only_the_chosen_window_and_communities(client, world):
    at = dt.datetime(2026, 11, 10, 12, tzinfo=UTC)
    ReminderLog.create(bill=world.a_bill, owner=world.a_owner, stage="overdue_1", template_id="t",
                       sent_at=at, result="sent")
    ReminderLog.create(bill=world.a_bill, owner=world.a_owner, stage="overdue_2", template_id="t",
                       sent_at=at, result="failed", errcode=40003)
    ReminderLog.create(bill=world.b_bill, owner=world.b_owner, stage="overdue_1", template_id="t",
                       sent_at=at, result="sent")
    pay = Payment.create(community=world.a, channel="cash", amount_fen=100,
                         received_at=at + dt.timedelta(hours=30))
    from server.ledger.models import Allocation

    Allocation.create(payment=pay, bill=world.a_bill, amount_fen=100)
    make_staff("mgr", "manager", [world.a])
    login(client, "mgr")
    page = client.get("/admin/reminders?since=2026-11-01&until=2026-11-30").get_data(as_text=True)
    assert 'id="conversion">100.00%' in page and 'id="failure-rate">50.00%' in page
    empty = client.get("/admin/reminders?since=2026-11-11&until=2026-11-30").get_data(as_text=True)
    assert 'id="conversion">0.00%' in empty
    log = client.get("/admin/reminders/log?result=failed").get_data(as_text=True)
    assert "40003" in log and "逾期提醒（第2次）" in log
    body = client.get("/admin/reminders/log?export=csv&stage=overdue").get_data(as_text=True)
    assert body.count("\n") == 3   # header + A's two rows; B's is out of scope


class FakeMiniProgram:
    def __init__(self):
        self.sent = []

    def send_subscribe_message(self, openid, template_id, data, page=None):
        self.sent.append((openid, template_id))
        return {"errcode": 0, "msgid": len(self.sent)}


@pytest.fixture
def daytime(monkeypatch):
    from server.admin.pages import operations_reminders
    from templates_msg import reminders

    monkeypatch.setattr(reminders, "utcnow", lambda: DAYTIME)
    monkeypatch.setattr(operations_reminders, "utcnow", lambda: DAYTIME)


def test_a_campaign_previews_then_sends_once_per_owner_with_quota(client, world, inline_jobs, daytime):
    from jobs import reminders as job_reminders
    from server.tasks.models import AdminTask

    overdue = registry.template_for(registry.Kind.OVERDUE).template_id
    house = world.a_bill.house
    f.bill(house, world.a_item, period="2026-09", amount_fen=20_000)     # not on hold
    f.bill(house, world.a_item, period="2026-11", amount_fen=9_999)      # not due ten days ago
    Subscription.create(owner=world.a_owner, template_id=overdue, remaining=1)
    fake = FakeMiniProgram()
    job_reminders.use_client(fake)
    try:
        make_staff("mgr", "manager", [world.a, world.b])
        login(client, "mgr")
        query = f"community={world.a.id}&min_overdue_days=10"
        preview = client.get(f"/admin/reminders/campaign?preview=1&{query}").get_data(as_text=True)
        assert 'id="with-quota">1<' in preview and "欠费合计 200.00 元" in preview
        form = {"community": str(world.a.id), "min_overdue_days": "10"}
        response = post(client, "/admin/reminders/campaign", form)
        post(client, "/admin/reminders/campaign", form)
    finally:
        job_reminders.use_client(None)
    assert fake.sent == [("o-A", overdue)]
    first, second = AdminTask.select().where(AdminTask.kind == "reminder_campaign").order_by(AdminTask.id)
    assert first.result["counts"] == {"sent": 1} and second.result["counts"] == {"already": 1}
    page = client.get(response.location).get_data(as_text=True)
    assert "已送达 1" in page and "已完成" in page


def test_a_campaign_in_quiet_hours_is_refused_with_a_message(client, world, monkeypatch):
    from server.admin.pages import operations_reminders
    from server.tasks.models import AdminTask

    monkeypatch.setattr(operations_reminders, "utcnow", lambda: NIGHT)
    make_staff("mgr", "manager", [world.a])
    login(client, "mgr")
    response = post(client, "/admin/reminders/campaign", {"community": str(world.a.id)})
    assert "免打扰时段" in flashes(client, response.location)
    assert AdminTask.select().count() == 0


# -------------------------------------------------------------------------- alerts
def test_alerts_are_scoped_and_acknowledged_with_a_note(client, world):
    make_staff("mgr", "manager", [world.a])
    login(client, "mgr")
    page = client.get("/admin/alerts").get_data(as_text=True)
    assert "A 的告警" in page and "B 的告警" not in page and "全商户告警" not in page
    for alert in (world.b_alert, world.merchant_alert):
        assert post(client, f"/admin/alerts/{alert.id}/acknowledge").status_code == 404
    post(client, f"/admin/alerts/{world.a_alert.id}/acknowledge", {"note": "已通知维修"})
    alert = Alert.get_by_id(world.a_alert.id)
    assert alert.acknowledged_by == "mgr"
    assert AuditLog.get(AuditLog.action == "alert.acknowledge").note == "已通知维修"
    assert "A 的告警" not in client.get("/admin/alerts").get_data(as_text=True)
    assert "A 的告警" in client.get("/admin/alerts?state=acknowledged&export=csv").get_data(as_text=True)


def test_an_admin_sees_merchant_wide_alerts(client, world):
    make_staff("boss")
    login(client, "boss")
    page = client.get("/admin/alerts").get_data(as_text=True)
    assert "全商户告警" in page and "B 的告警" in page


# ------------------------------------------------------------------ roles and CSRF
def _posts(world):
    return [f"/admin/reconciliation/items/{world.a_diff.id}/resolve", "/admin/reconciliation/rerun",
            f"/admin/disputes/{world.a_dispute.id}/reply", f"/admin/disputes/{world.a_dispute.id}/resolve",
            f"/admin/reminders/policy/{world.a.id}", "/admin/reminders/campaign",
            f"/admin/alerts/{world.a_alert.id}/acknowledge"]


def test_a_viewer_gets_403_on_every_change_and_sees_no_buttons(client, world):
    make_staff("ro", "viewer", [world.a])
    login(client, "ro")
    for path in _posts(world):
        assert post(client, path, {"note": "x", "text": "x", "resolution": "x"}).status_code == 403, path
    assert Dispute.get_by_id(world.a_dispute.id).status == "open"
    page = client.get(f"/admin/disputes/{world.a_dispute.id}").get_data(as_text=True)
    assert "发送回复" not in page and "解决异议</button>" not in page


def test_a_cashier_cannot_resolve_or_acknowledge(client, world):
    make_staff("cash", "cashier", [world.a])
    login(client, "cash")
    for path in (_posts(world)[0], _posts(world)[3], _posts(world)[6]):
        assert post(client, path, {"note": "x", "resolution": "x"}).status_code == 403, path


def test_a_change_without_csrf_token_is_refused(client, world):
    make_staff("boss")
    login(client, "boss")
    for path in _posts(world):
        assert client.post(path, data={"note": "x", "text": "x"}).status_code == 400, path
    assert ReconciliationItem.get_by_id(world.a_diff.id).resolved_at is None


def test_every_alert_kind_the_code_raises_has_a_chinese_name():
    import pathlib
    import re

    from server.alerts import KIND_NAMES

    root = pathlib.Path(__file__).resolve().parents[2]
    pattern = re.compile(r'(?:raise_alert|Finding)\(\s*"([a-z_]+)"|ALERT_KIND = "([a-z_]+)"|kind = "(job_[a-z_]+)"')
    raised = set()
    for package in ("server", "payments", "jobs", "templates_msg"):
        for path in (root / package).rglob("*.py"):
            for match in pattern.finditer(path.read_text(encoding="utf-8")):
                raised.add(next(g for g in match.groups() if g))
    assert raised and raised <= set(KIND_NAMES), sorted(raised - set(KIND_NAMES))
