"""Dispute answers and staff alerts as subscription messages, against the sandbox."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from jobs import notifications, outbox as outbox_jobs, reminders as reminder_jobs
from server import alert_delivery, outbox
from server.alerts import Alert, Severity, raise_alert
from server.disputes import services
from server.disputes.models import DisputeReason
from server.timeutil import SHANGHAI
from server.wxa import MiniProgramClient
from templates_msg import builders, registry
from templates_msg.models import ReminderLog, ReminderResult as R
from tests import factories

STAFF_OPENID = "oSTAFF0000000000000000000001"


@pytest.fixture
def jobs_client(mp, inline_jobs):
    reminder_jobs.use_client(mp)
    yield mp
    reminder_jobs.use_client(None)


@pytest.fixture
def inline_jobs():
    from jobs import backends

    backends.use_backend(backends.InlineBackend())
    yield
    backends.use_backend(None)


def _dispute(world):
    return services.open_dispute(world.owner.id, world.bill.id, DisputeReason.AMOUNT, "面积不对")


def _rows(kind: str) -> list[outbox.OutboxMessage]:
    return list(outbox.OutboxMessage.select().where(outbox.OutboxMessage.kind == kind)
                .order_by(outbox.OutboxMessage.id))


# ------------------------------------------------------------------ dispute replies
def test_a_staff_reply_writes_its_outbox_row_in_the_same_transaction(world):
    dispute = _dispute(world)
    message = services.reply_to_dispute(dispute.id, factories.staff_actor(), "已安排复核面积")
    [row] = _rows(services.REPLIED)
    assert row.payload == {"dispute_id": dispute.id, "message_id": message.id}
    with pytest.raises(Exception):       # a refused reply (closed dispute) writes nothing
        services.resolve_dispute(dispute.id, factories.staff_actor(), "已更正")
        services.reply_to_dispute(dispute.id, factories.staff_actor(), "再说一句")
    assert len(_rows(services.REPLIED)) == 1
    assert [r.payload for r in _rows(services.RESOLVED)] == [{"dispute_id": dispute.id}]


def test_the_owner_gets_the_dispute_reply_once_when_they_have_quota(world, jobs_client):
    template_id = world.accept("dispute_reply")
    dispute = _dispute(world)
    services.reply_to_dispute(dispute.id, factories.staff_actor(), "已安排工作人员复核您家的建筑面积，请耐心等待")
    assert outbox_jobs.relay() == 1
    [message] = world.sent()
    assert message["template_id"] == template_id
    assert message["data"]["thing2"]["value"] == "已安排工作人员复核您家的建筑面积，请耐…"
    assert message["data"]["phrase3"]["value"] == "已答复"
    row = _rows(services.REPLIED)[0]
    assert outbox.OutboxMessage.get_by_id(row.id).status == outbox.OutboxStatus.DONE
    assert notifications.dispute_replied(row.id) is False      # a redelivered row sends nothing
    assert len(world.sent()) == 1
    assert ReminderLog.get().stage.startswith("dispute_reply:")


def test_resolving_without_quota_logs_a_skip_and_sends_nothing(world, jobs_client):
    dispute = _dispute(world)
    services.resolve_dispute(dispute.id, factories.staff_actor(), "面积已更正")
    outbox_jobs.relay()
    assert world.sent() == []
    log = ReminderLog.get()
    assert (log.stage, log.result) == (f"dispute_resolved:{dispute.id}", R.SKIPPED_QUOTA)


def test_a_resolution_message_says_resolved_with_the_resolution(world, jobs_client):
    world.accept("dispute_reply")
    dispute = _dispute(world)
    services.resolve_dispute(dispute.id, factories.staff_actor(), "面积已更正")
    outbox_jobs.relay()
    [message] = world.sent()
    assert message["data"]["thing2"]["value"] == "面积已更正"
    assert message["data"]["phrase3"]["value"] == "已解决"


# --------------------------------------------------------------------- staff alerts
def test_staff_alert_builder_keeps_every_field_within_its_limit():
    data = builders.staff_alert(kind="reconciliation_differences_with_a_very_long_kind_name",
                                severity=Severity.CRITICAL, message="2026-11-23 对账发现差异：" + "很长" * 30,
                                count=0, at=dt.datetime(2026, 11, 24, 10, 31))
    assert builders.problems(data) == {}
    assert len(data["character_string1"]["value"]) == 32
    assert data["phrase2"]["value"] == "严重"
    assert len(data["thing3"]["value"]) == 20 and data["thing3"]["value"].endswith("…")
    assert data["date4"]["value"] == "2026年11月24日 10:31"
    assert data["number5"]["value"] == "1"


def test_staff_openids_are_parsed_once_each_in_order():
    assert alert_delivery.staff_openids(" oA, oB oA,,oC ") == ["oA", "oB", "oC"]
    assert alert_delivery.staff_openids("") == []


def test_each_open_alert_is_queued_once_per_staff_openid(database):
    first = raise_alert("stuck_orders", "3 笔订单超时未结束", dedupe_key="a")
    raise_alert("jobs_failed", "任务失败", dedupe_key="b")
    assert alert_delivery.queue_staff_messages(["oA", "oB"]) == 4
    assert alert_delivery.queue_staff_messages(["oA", "oB"]) == 0
    Alert.update(acknowledged_at=dt.datetime.now(dt.timezone.utc)).where(Alert.id == first.id).execute()
    raise_alert("outbox_failed", "发送失败", dedupe_key="c",
                details={"outbox_kind": alert_delivery.STAFF_MESSAGE})     # no loop on our own failures
    assert alert_delivery.queue_staff_messages(["oA", "oB", "oC"]) == 1    # only b → oC
    assert alert_delivery.queue_staff_messages([]) == 0


def test_a_staff_alert_reaches_the_sandbox_and_the_row_is_done(world, jobs_client, sandbox):
    staff_openid = f"oSTAFF{uuid.uuid4().hex[:22]}"        # the sandbox outlives the test
    template_id = registry.staff_alert_template().template_id
    sandbox.state.mp.grant_subscription(staff_openid, template_id, 1)
    alert = raise_alert("reconciliation_differences", "2026-11-23 对账发现差异：missing_remote 1",
                        severity=Severity.CRITICAL, dedupe_key="recon")
    assert alert_delivery.queue_staff_messages([staff_openid]) == 1
    outbox_jobs.relay()
    [message] = [m for m in sandbox.state.mp.sent_messages if m["touser"] == staff_openid]
    assert message["template_id"] == template_id
    assert message["data"]["phrase2"]["value"] == "严重"
    assert message["data"]["character_string1"]["value"] == "reconciliation_differences"
    [row] = _rows(alert_delivery.STAFF_MESSAGE)
    assert row.status == outbox.OutboxStatus.DONE and row.payload["alert_id"] == alert.id


def test_a_refused_staff_alert_is_marked_failed_not_retried(world, jobs_client, sandbox):
    raise_alert("stuck_orders", "订单超时", dedupe_key="s")               # the staff member has no quota
    alert_delivery.queue_staff_messages(["oSTAFFnoquota00000000000000"])
    outbox_jobs.relay()
    [row] = _rows(alert_delivery.STAFF_MESSAGE)
    assert row.status == outbox.OutboxStatus.FAILED and "43101" in row.last_error
    assert outbox.stale(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)) == []


def test_wechat_unreachable_leaves_the_staff_alert_for_the_sweeper(world, inline_jobs):
    reminder_jobs.use_client(MiniProgramClient("wxd0000000000sandbox", "sandbox-app-secret",
                                               "http://127.0.0.1:9"))
    try:
        raise_alert("stuck_orders", "订单超时", dedupe_key="s")
        alert_delivery.queue_staff_messages([STAFF_OPENID])
        [row] = _rows(alert_delivery.STAFF_MESSAGE)
        with pytest.raises(Exception):
            notifications.staff_alert(row.id)
    finally:
        reminder_jobs.use_client(None)
    row = outbox.OutboxMessage.get_by_id(row.id)
    assert row.status == outbox.OutboxStatus.PENDING
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    assert [r.id for r in outbox.stale(later)] == [row.id]


def test_the_alert_check_job_queues_staff_messages_from_the_config(database, monkeypatch):
    from jobs import alerting, runtime
    from server.config import TestingConfig

    runtime.configure(TestingConfig(ALERT_STAFF_OPENIDS="oA,oB"))
    try:
        raise_alert("stuck_orders", "订单超时", dedupe_key="s")
        monkeypatch.setattr(alerting, "check_all", lambda *a, **k: [])
        fire = dt.datetime(2026, 11, 24, 10, 0, tzinfo=SHANGHAI).isoformat()
        assert alerting.check(fire)["staff_messages"] == 2
    finally:
        runtime.configure(None)
