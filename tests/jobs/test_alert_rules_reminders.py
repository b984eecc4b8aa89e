"""The reminder failure-rate rule: loud above 20% of at least 20 sends, silent otherwise."""
from __future__ import annotations

import datetime as dt

from server import alert_rules
from server.timeutil import utcnow
from templates_msg.models import ReminderLog, ReminderResult
from tests import factories as f
from server.property.models import Owner


def _log(n: int, result: str, start: int = 0):
    comm = f.community()
    item = f.fee_item(comm, "property", "物业费")
    owner = Owner.create(openid=f"o-rule-{start}-{result}")
    now = utcnow()
    for i in range(n):
        bill = f.bill(f.house(comm), item, period="2026-01")
        ReminderLog.create(bill=bill, owner=owner, stage="due_soon", template_id="t",
                           sent_at=now - dt.timedelta(minutes=5), result=result)


def test_many_failed_reminder_sends_raise_a_finding(database):
    _log(15, ReminderResult.SENT)
    _log(10, ReminderResult.UNAVAILABLE, start=1)
    finding = alert_rules.reminder_failures(utcnow())
    assert finding is not None and finding.details["failed"] == 10 and finding.details["attempts"] == 25


def test_few_failures_or_few_sends_stay_silent(database):
    assert alert_rules.reminder_failures(utcnow()) is None
    _log(5, ReminderResult.UNAVAILABLE)
    assert alert_rules.reminder_failures(utcnow()) is None
