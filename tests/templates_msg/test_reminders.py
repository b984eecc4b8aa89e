"""Reminders against the WeChat sandbox over real HTTP: stages, quiet hours, quota,
dedupe, holds, and WeChat's 43101 / 47003 / 40001 answers."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from server.alerts import Alert
from server.billing.models import Bill, BillStatus
from server.timeutil import SHANGHAI
from templates_msg import builders, registry, reminders
from templates_msg.models import ReminderLog, ReminderPolicy, ReminderResult as R, Subscription
from templates_msg.reminders import Policy, in_quiet_hours, send_due_reminders, stage_for
from templates_msg.subscriptions import record_results
from tests import factories
from tests.templates_msg.conftest import new_owner

DUE = dt.date(2026, 11, 25)


def cst(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def remaining(owner, template_id) -> int:
    return Subscription.get(Subscription.owner == owner.id, Subscription.template_id == template_id).remaining


@pytest.mark.parametrize("today,stage", [
    ("2026-11-01", "bill_issued"), ("2026-11-21", "bill_issued"), ("2026-11-22", "due_soon"),
    ("2026-11-24", "due_soon"), ("2026-11-25", "due_day"), ("2026-11-26", None), ("2026-12-01", None),
    ("2026-12-02", "overdue_1"), ("2026-12-08", "overdue_1"), ("2026-12-09", "overdue_2"),
    ("2026-12-16", "overdue_3"), ("2026-12-23", None), ("2027-01-31", None),
])
def test_stage_of_a_bill_by_date(today, stage):
    assert stage_for(DUE, dt.date.fromisoformat(today)) == stage


def test_stages_follow_the_community_policy():
    policy = Policy(due_soon_days=5, overdue_every_days=2, overdue_max=1)
    assert stage_for(DUE, dt.date(2026, 11, 20), policy) == "due_soon"
    assert stage_for(DUE, dt.date(2026, 11, 27), policy) == "overdue_1"
    assert stage_for(DUE, dt.date(2026, 11, 29), policy) is None


@pytest.mark.parametrize("moment,quiet", [
    ("2026-11-24T21:30", True), ("2026-11-24T20:59", False), ("2026-11-24T21:00", True),
    ("2026-11-25T07:59", True), ("2026-11-25T08:00", False), ("2026-11-25T00:00", True),
])
def test_quiet_hours_are_on_the_shanghai_clock(moment, quiet):
    assert in_quiet_hours(cst(moment)) is quiet


def test_quiet_hours_send_nothing_and_the_next_run_picks_the_bill_up(world, mp):
    template_id = world.accept("due_soon")
    with time_machine.travel(cst("2026-11-24T21:30"), tick=False):
        assert send_due_reminders(mp) == {}
    with time_machine.travel(cst("2026-11-25T07:59"), tick=False):
        assert send_due_reminders(mp) == {}
    assert world.sent() == [] and ReminderLog.select().count() == 0
    with time_machine.travel(cst("2026-11-25T08:00"), tick=False):
        assert send_due_reminders(mp) == {R.SENT: 1}
    [message] = world.sent()
    assert message["template_id"] == template_id and message["data"]["amount3"]["value"] == "¥128.34"
    assert message["data"]["date4"]["value"] == "2026年11月25日"
    assert message["page"] == f"pages/bills/detail?id={world.bill.id}"
    assert ReminderLog.get().stage == "due_day"


def test_two_accepts_two_sends_the_third_is_skipped_without_a_call(world, mp):
    template_id = world.accept("due_soon", times=2)
    house, item = world.bill.house, world.bill.fee_item
    for period in ("2026-09", "2026-10"):      # two more bills of the house, due the same day
        factories.bill(house, item, period=period, amount_fen=5000, due_date=DUE)
    assert send_due_reminders(mp, cst("2026-11-22T09:00")) == {R.SENT: 2, R.SKIPPED_QUOTA: 1}
    assert len(world.sent()) == 2 and remaining(world.owner, template_id) == 0
    skipped = ReminderLog.get(ReminderLog.result == R.SKIPPED_QUOTA)
    assert skipped.errcode is None and skipped.stage == "due_soon"
    # A new accept later: the skipped reminder is tried again (same row) and sent.
    world.accept("due_soon")
    assert send_due_reminders(mp, cst("2026-11-22T09:30")) == {R.SENT: 1}
    assert ReminderLog.get_by_id(skipped.id).attempts == 2 and len(world.sent()) == 3
    assert ReminderLog.select().where(ReminderLog.result == R.SENT).count() == 3


def test_running_twice_sends_nothing_new(world, mp):
    world.accept("due_soon", times=3)
    assert send_due_reminders(mp, cst("2026-11-22T09:00")) == {R.SENT: 1}
    assert send_due_reminders(mp, cst("2026-11-22T09:30")) == {}
    assert send_due_reminders(mp, cst("2026-11-24T15:00")) == {}   # still the due_soon stage
    assert len(world.sent()) == 1 and ReminderLog.select().count() == 1
    assert remaining(world.owner, registry.template_for("due_soon").template_id) == 2


def test_every_bound_owner_gets_one_and_unbound_or_paid_bills_get_none(world, mp):
    second = new_owner(world.bill.house)
    template_id = world.accept("bill_issued")
    world.sandbox.state.mp.grant_subscription(second.openid, template_id, 1)
    record_results(second.id, {template_id: "accept"})
    assert send_due_reminders(mp, cst("2026-11-10T10:00")) == {R.SENT: 2}
    Bill.update(status=BillStatus.PAID, paid_fen=12834).where(Bill.id == world.bill.id).execute()
    world.accept("due_soon")
    assert send_due_reminders(mp, cst("2026-11-22T10:00")) == {}


def test_a_disputed_bill_on_hold_gets_no_reminder(world, mp):
    world.accept("due_soon")
    Bill.update(on_hold=True).where(Bill.id == world.bill.id).execute()
    assert send_due_reminders(mp, cst("2026-11-22T10:00")) == {}
    assert world.sent() == [] and ReminderLog.select().count() == 0


def test_a_community_policy_changes_the_stages(world, mp):
    ReminderPolicy.create(community=world.bill.community_id, due_soon_days=10)
    world.accept("due_soon")
    assert send_due_reminders(mp, cst("2026-11-16T10:00")) == {R.SENT: 1}
    assert ReminderLog.get().stage == "due_soon"


def test_43101_clears_the_quota_and_is_logged(world, mp):
    template_id = world.accept("due_soon", times=2, wechat=False)   # WeChat knows of none
    assert send_due_reminders(mp, cst("2026-11-22T09:00")) == {R.REFUSED: 1}
    log = ReminderLog.get()
    assert (log.result, log.errcode) == (R.REFUSED, 43101)
    assert remaining(world.owner, template_id) == 0 and world.sent() == []


def test_47003_raises_an_alert_and_gives_the_unit_back(world, mp, monkeypatch):
    template_id = world.accept("due_soon")
    # A template data bug that our own validator does not catch: WeChat answers 47003.
    monkeypatch.setattr(reminders, "_bill_data", lambda bill, stage, today: {"phrase1": {"value": "abc"}})
    assert send_due_reminders(mp, cst("2026-11-22T09:00")) == {R.BAD_DATA: 1}
    log = ReminderLog.get()
    assert (log.result, log.errcode) == (R.BAD_DATA, 47003) and "phrase1" in log.errmsg
    alert = Alert.get(Alert.kind == "reminder_bad_data")
    assert alert.severity == "critical" and alert.details["template_id"] == template_id
    assert remaining(world.owner, template_id) == 1 and world.sent() == []


def test_our_validator_stops_bad_data_before_any_call(world, mp, monkeypatch):
    template_id = world.accept("due_soon")
    monkeypatch.setattr(reminders, "_bill_data",
                        lambda bill, stage, today: builders.validate({"thing1": {"value": "x" * 21}}))
    assert send_due_reminders(mp, cst("2026-11-22T09:00")) == {R.BAD_DATA: 1}
    assert ReminderLog.get().errcode is None and Alert.get().kind == "reminder_bad_data"
    assert remaining(world.owner, template_id) == 1 and world.sent() == []


def test_40001_refreshes_the_token_once_and_retries(world, mp, sandbox):
    world.accept("due_soon")
    old = mp.access_token()
    sandbox.state.mp.stable_access_token("wxd0000000000sandbox", "sandbox-app-secret", force_refresh=True)
    sandbox.advance(301)                  # the superseded token's grace is over: 40001
    assert send_due_reminders(mp, cst("2026-11-22T09:00")) == {R.SENT: 1}
    assert mp.access_token() != old and len(world.sent()) == 1


def test_wechat_unreachable_releases_the_unit_and_a_later_run_retries(world, mp):
    from server.wxa import MiniProgramClient
    template_id = world.accept("due_soon")
    dead = MiniProgramClient("wxd0000000000sandbox", "sandbox-app-secret", "http://127.0.0.1:9")
    assert send_due_reminders(dead, cst("2026-11-22T09:00")) == {R.UNAVAILABLE: 1}
    assert remaining(world.owner, template_id) == 1
    assert send_due_reminders(mp, cst("2026-11-22T09:30")) == {R.SENT: 1}


def test_conversion_counts_bills_paid_within_72_hours(world, mp):
    from server.ledger.models import Allocation, Payment
    world.accept("due_soon")
    send_due_reminders(mp, cst("2026-11-22T09:00"))
    since, until = cst("2026-11-01T00:00"), cst("2026-12-01T00:00")
    assert reminders.conversion(since, until) == {"reminded": 1, "paid_within_72h": 0, "rate_bp": 0}
    payment = Payment.create(community=world.bill.community_id, channel="wechat", amount_fen=12834,
                             received_at=cst("2026-11-24T20:00"))
    Allocation.create(payment=payment, bill=world.bill, amount_fen=12834)
    assert reminders.conversion(since, until) == {"reminded": 1, "paid_within_72h": 1, "rate_bp": 10_000}
    Payment.update(received_at=cst("2026-11-25T09:01")).execute()
    assert reminders.conversion(since, until)["paid_within_72h"] == 0


def test_failure_rate_counts_undelivered_sends_but_not_quota_skips(world, mp):
    world.accept("due_soon", times=1, wechat=False)                 # WeChat will answer 43101
    house, item = world.bill.house, world.bill.fee_item
    factories.bill(house, item, period="2026-10", amount_fen=5000, due_date=DUE)   # no quota left
    assert send_due_reminders(mp, cst("2026-11-22T09:00")) == {R.REFUSED: 1, R.SKIPPED_QUOTA: 1}
    window = (cst("2026-11-22T00:00"), cst("2026-11-23T00:00"))
    assert reminders.failure_rate(*window) == {"attempts": 1, "failed": 1, "rate_bp": 10_000}
    assert reminders.failure_rate(cst("2026-11-23T00:00"), cst("2026-11-24T00:00"))["attempts"] == 0


def test_a_skip_for_lack_of_quota_is_logged_once_not_every_run(world, mp):
    assert send_due_reminders(mp, cst("2026-11-22T09:00")) == {R.SKIPPED_QUOTA: 1}
    assert send_due_reminders(mp, cst("2026-11-22T09:30")) == {}
    log = ReminderLog.get()
    assert (log.result, log.attempts, log.sent_at) == (R.SKIPPED_QUOTA, 1, cst("2026-11-22T09:00"))
