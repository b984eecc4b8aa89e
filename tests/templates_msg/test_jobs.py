"""The reminder jobs: the scheduled run and the receipt after a credited payment."""
from __future__ import annotations

import datetime as dt

import pytest

from jobs import core, reminders as reminder_jobs
from jobs.schedule import entry
from server.ledger.models import Allocation, Payment
from server.timeutil import SHANGHAI
from templates_msg.models import ReminderLog, ReminderResult as R


@pytest.fixture
def jobs_client(mp):
    reminder_jobs.use_client(mp)
    yield mp
    reminder_jobs.use_client(None)


def test_the_run_is_scheduled_every_30_minutes_and_registered():
    scheduled = entry("reminders.due")
    assert scheduled.when.minutes == 30
    assert core.spec_for(scheduled.job).func is reminder_jobs.send_due_reminders


def test_the_job_sends_as_of_its_fire_time(world, jobs_client):
    world.accept("overdue")
    fire = dt.datetime(2026, 12, 2, 9, 30, tzinfo=SHANGHAI).isoformat()
    assert reminder_jobs.send_due_reminders(fire) == {R.SENT: 1}
    assert reminder_jobs.send_due_reminders(fire) == {}
    assert ReminderLog.get().stage == "overdue_1"
    assert world.sent()[0]["data"]["thing5"]["value"] == "已逾期7天，请尽快缴纳"


def test_a_credited_payment_sends_payment_success_once(world, jobs_client):
    template_id = world.accept("payment_success")
    payment = Payment.create(community=world.bill.community_id, channel="wechat", amount_fen=12834,
                             receipt_no="SK2026110000123",
                             received_at=dt.datetime(2026, 11, 24, 12, 1, tzinfo=dt.timezone.utc))
    Allocation.create(payment=payment, bill=world.bill, amount_fen=12834)
    payload = {"payment_id": payment.id, "out_trade_no": "WY1", "amount_fen": 12834}
    assert reminder_jobs.payment_success(payload) == {R.SENT: 1}
    assert reminder_jobs.payment_success(payload) == {}          # a redelivered outbox row
    [message] = world.sent()
    assert message["template_id"] == template_id
    assert message["data"]["amount2"]["value"] == "¥128.34"
    assert message["data"]["date3"]["value"] == "2026年11月24日 20:01"
    assert message["data"]["character_string4"]["value"] == "SK2026110000123"
    assert ReminderLog.get().stage == f"payment_success:{payment.id}"
    assert reminder_jobs.payment_success({}) == {}
