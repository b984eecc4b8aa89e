"""The demo goes through the real services and leaves a consistent ledger."""
from __future__ import annotations

from server import demo
from server.billing.models import Bill, BillStatus, FeeItem
from server.ledger.check import check_ledger
from server.ledger.models import Payment
from server.property.models import House

SMALL = [("小和园", "XH", "测试路 1 号", 2, 1, 3, 2, "2.3500", None),
         ("小锦苑", "XJ", "测试路 2 号", 1, 2, 2, 2, "1.8000", "150.0000")]


def test_demo_creates_houses_items_bills_and_payments_with_a_clean_ledger(database):
    summary = demo.load_demo(seed=7, today_period="2026-11", pay=demo.pay_some_at_the_counter,
                             communities=SMALL)
    assert summary["houses"] == House.select().count() == 12 + 8
    assert FeeItem.select().count() == 4 + 5
    assert summary["bills"] == Bill.select().count() > 0
    assert {b.period for b in Bill.select(Bill.period).distinct()} == {"2026-09", "2026-10", "2026-11"}
    assert summary["payments"] == Payment.select().count() > 0
    assert Bill.select().where(Bill.status == BillStatus.PAID).count() > 0
    assert Bill.select().where(Bill.status == BillStatus.UNPAID).count() > 0
    assert not demo.is_empty()
    assert list(check_ledger()) == []


def test_demo_leaves_an_adjustment_and_a_refund_to_approve_a_finished_task_and_staff_who_sign_in(database):
    from server.billing.models import Adjustment, AdjustmentStatus
    from server.ledger.models import Refund, RefundStatus
    from server.tasks.models import AdminTask, TaskStatus

    summary = demo.load_demo(seed=7, today_period="2026-11", pay=demo.pay_some_at_the_counter,
                             communities=SMALL)
    pending = Adjustment.get(Adjustment.status == AdjustmentStatus.PENDING)
    assert pending.bill_id == summary["pending_adjustment_bill"] and pending.amount_fen < 0
    refund = Refund.get(Refund.status == RefundStatus.PENDING_APPROVAL)
    assert refund.payment_id == summary["pending_refund_payment"] and refund.amount_fen > 0
    from server.admin.auth import verify_password
    from server.staff.models import StaffUser

    cashier = StaffUser.get(StaffUser.username == "cashier1")
    assert verify_password(cashier.password_hash, demo.DEMO_STAFF_PASSWORD)
    assert {c.community.code for c in cashier.community_links} == {"XH", "XJ"}
    assert StaffUser.get(StaffUser.username == "viewer1").role == "viewer"
    tasks = list(AdminTask.select().where(AdminTask.kind == "billing_issue"))
    assert len(tasks) == 2 and {t.status for t in tasks} == {TaskStatus.DONE}
    assert {t.result["bills_created"] for t in tasks} == {0}
    assert list(check_ledger()) == []


# ------------------------------------------------------------------- the WeChat side
def test_demo_pays_by_wechat_sends_reminders_and_reconciles_yesterday_against_the_sandbox(
        database, tmp_path):
    import datetime as dt
    import json

    from payments.models import Channel
    from payments.sandbox import SandboxState, create_sandbox_app, persist
    from server import demo_wechat
    from server.config import Config
    from server.reconciliation.models import ReconciliationRun, RunStatus
    from server.timeutil import SHANGHAI, local_today
    from templates_msg.models import ReminderLog, ReminderResult

    demo.load_demo(seed=7, pay=demo.pay_some_at_the_counter, communities=SMALL)
    config = Config(INSTANCE_PATH=str(tmp_path / "instance"), DEMO_MODE=True).finalize()
    # 10:00 Shanghai today: outside the quiet hours, so reminders go out.
    now = dt.datetime.combine(local_today(), dt.time(10, 0), tzinfo=SHANGHAI)
    summary = demo_wechat.run(config, seed=7, now=now)

    assert summary["wechat_payments"] == Payment.select().where(Payment.channel == Channel.WECHAT).count() > 2
    yesterday = local_today() - dt.timedelta(days=1)
    run = ReconciliationRun.get(ReconciliationRun.bill_date == yesterday)
    assert (run.status, run.remote_payments, run.local_payments, run.differences) == (RunStatus.DONE, 2, 2, 0)
    sent = ReminderLog.select().where(ReminderLog.result == ReminderResult.SENT)
    assert sent.where(~ReminderLog.stage.startswith("payment_success")).count() > 0
    assert sent.where(ReminderLog.stage.startswith("payment_success")).count() == summary["wechat_payments"]
    assert list(check_ledger()) == []

    # Work waiting for staff: a difference two days ago, its alert, a dispute, a binding request.
    from server.alerts import open_alerts
    from server.disputes.models import Dispute, DisputeMessage, DisputeStatus
    from server.property.models import Binding, BindingStatus
    from server.reconciliation.models import ReconciliationItem

    two_days_ago = ReconciliationRun.get(ReconciliationRun.bill_date == yesterday - dt.timedelta(days=1))
    item = ReconciliationItem.get(ReconciliationItem.run == two_days_ago.id)
    assert (item.kind, item.resolved_at, two_days_ago.differences) == ("amount_mismatch", None, 1)
    assert any(a.kind == "reconciliation_differences" for a in open_alerts())
    dispute = Dispute.get(Dispute.status == DisputeStatus.OPEN)
    assert DisputeMessage.select().where(DisputeMessage.dispute == dispute.id).count() == 1
    assert Binding.select().where(Binding.status == BindingStatus.PENDING).count() == 1

    # What the served sandbox will load: the messages it received, listed on its page.
    saved = json.loads((tmp_path / "instance" / "demo-keys" / "wechat-sandbox.json").read_text())
    assert len(saved["sent_messages"]) == sent.count()
    state = SandboxState()
    assert persist.load(state, tmp_path / "instance" / "demo-keys" / "wechat-sandbox.json")
    page = create_sandbox_app(state).test_client().get("/messages").get_data(as_text=True)
    assert f"共 {sent.count()} 条" in page and "缴费成功" in page
    state.close()


def test_reminders_of_the_demo_run_outside_the_quiet_hours():
    import datetime as dt

    from server import demo_wechat
    from server.timeutil import SHANGHAI

    at = dt.datetime(2026, 11, 24, 0, 34, tzinfo=SHANGHAI)
    assert demo_wechat.reminder_instant(at) == dt.datetime(2026, 11, 23, 20, 30, tzinfo=SHANGHAI)
    late = dt.datetime(2026, 11, 24, 22, 0, tzinfo=SHANGHAI)
    assert demo_wechat.reminder_instant(late) == dt.datetime(2026, 11, 24, 20, 30, tzinfo=SHANGHAI)
    day = dt.datetime(2026, 11, 24, 9, 0, tzinfo=SHANGHAI)
    assert demo_wechat.reminder_instant(day) == day
