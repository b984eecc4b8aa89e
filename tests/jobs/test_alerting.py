"""Alert rules fire for each seeded condition and stay silent on a clean state (R16);
new alerts reach the staff webhook once."""
from __future__ import annotations

import datetime as dt
import json

import pytest
import responses

from jobs import alerting
from jobs.backends import RedisBackend
from payments import notify
from payments.models import OrderStatus, PaymentOrder
from payments.orders import create_order
from server import alert_delivery, counters
from server.alert_delivery import AlertDelivery
from server.alerts import Alert, Severity, raise_alert
from server import config as config_mod
from server.outbox import OutboxMessage
from server.reconciliation.models import ItemKind, ReconciliationItem, ReconciliationRun
from server.timeutil import utcnow
from tests.payments.live import owner_with_bills

HOOK = "https://alerts.example.test/hook"


@pytest.fixture
def config(monkeypatch):
    from jobs import runtime

    cfg = config_mod.TestingConfig(ALERT_WEBHOOK_URL=HOOK, SIGNATURE_FAILURE_ALERT_THRESHOLD=3)
    runtime.configure(cfg)
    return cfg


def _order(**fields) -> PaymentOrder:
    bills = owner_with_bills((1_000,), openid=f"o{PaymentOrder.select().count():027d}")
    order, _ = create_order(bills.owner.id, bills.ids)
    PaymentOrder.update(**fields).where(PaymentOrder.id == order.id).execute()
    return PaymentOrder.get_by_id(order.id)


def seed_stuck(now):
    _order(status=OrderStatus.PAYING, created_at=now - dt.timedelta(hours=24, minutes=5),
           next_query_at=now + dt.timedelta(minutes=30))


def seed_unknown(now):
    _order(status=OrderStatus.UNKNOWN, updated_at=now - dt.timedelta(minutes=16),
           next_query_at=now + dt.timedelta(minutes=1))


def seed_janitor_stalled(now):
    _order(status=OrderStatus.PAYING, next_query_at=now - dt.timedelta(minutes=11))


def seed_reconciliation(now):
    run = ReconciliationRun.create(bill_date=dt.date(2026, 3, 14), status="done")
    ReconciliationItem.create(run=run, kind=ItemKind.MISSING_REMOTE, reference="4200x")


def seed_outbox(now):
    OutboxMessage.create(kind="payment.credited", payload={}, dedupe_key="old",
                         created_at=now - dt.timedelta(minutes=16))


def seed_signature_burst(now):
    for _ in range(3):
        counters.record_signature_failure()


SEEDS = {"order_stuck": seed_stuck, "order_unknown": seed_unknown, "janitor_stalled": seed_janitor_stalled,
         "reconciliation_unresolved": seed_reconciliation, "outbox_backlog": seed_outbox,
         "signature_failures": seed_signature_burst}


def test_a_clean_state_raises_nothing_and_sends_nothing(database, config):
    _order(status=OrderStatus.PAYING, next_query_at=utcnow() + dt.timedelta(minutes=1))   # healthy
    run = ReconciliationRun.create(bill_date=dt.date(2026, 3, 14), status="done")
    ReconciliationItem.create(run=run, kind=ItemKind.MISSING_LOCAL, reference="4200y", resolved_at=utcnow(),
                              resolved_by="system")
    with responses.RequestsMock():                               # any request would fail the test
        assert alerting.check(utcnow().isoformat()) == {"fired": [], "delivered": 0, "staff_messages": 0}
    assert Alert.select().count() == 0


@pytest.mark.parametrize("kind", sorted(SEEDS))
def test_each_condition_raises_its_alert(database, config, kind):
    SEEDS[kind](utcnow())
    with responses.RequestsMock() as mock:
        mock.post(HOOK, status=204)
        result = alerting.check(utcnow().isoformat())
        assert result == {"fired": [kind], "delivered": 1, "staff_messages": 0}
        sent = json.loads(mock.calls[0].request.body)
    alert = Alert.get()
    assert alert.kind == kind and sent["kind"] == kind and sent["id"] == alert.id
    with responses.RequestsMock():                               # still true: folded, not re-sent
        alerting.check(utcnow().isoformat())
    assert Alert.get().count == 2 and Alert.select().count() == 1


def test_failed_jobs_in_redis_raise_an_alert(database, config, redis_url):
    from rq.registry import FailedJobRegistry

    backend = RedisBackend(redis_url)
    assert alerting.failed_jobs(backend) is None
    registry = FailedJobRegistry("reconciliation", connection=backend.connection)
    backend.connection.zadd(registry.key, {"reconciliation-reconcile_date--2026-03-14": 10 ** 10})
    finding = alerting.failed_jobs(backend)
    assert finding.kind == "jobs_failed" and finding.severity == Severity.CRITICAL
    assert finding.details == {"queues": {"reconciliation": ["reconciliation-reconcile_date--2026-03-14"]}}


def test_webhook_failures_are_logged_and_retried_then_given_up(database, caplog):
    raise_alert("order_stuck", "1 笔订单未终结", dedupe_key="rule:order_stuck")
    with responses.RequestsMock() as mock:
        mock.post(HOOK, status=502)
        for _ in range(alert_delivery.MAX_ATTEMPTS + 2):
            alert_delivery.deliver_pending(HOOK)
        assert len(mock.calls) == alert_delivery.MAX_ATTEMPTS
    row = AlertDelivery.get()
    assert (row.attempts, row.delivered_at, row.last_error) == (alert_delivery.MAX_ATTEMPTS, None, "HTTP 502")
    assert "not delivered to the webhook" in caplog.text


def test_an_acknowledged_alert_is_not_sent(database):
    alert = raise_alert("order_stuck", "x")
    Alert.update(acknowledged_at=utcnow()).where(Alert.id == alert.id).execute()
    with responses.RequestsMock():
        assert alert_delivery.deliver_pending(HOOK) == 0


class _Refusing:
    def verify(self, headers, body):
        from payments.exceptions import InvalidSignature

        raise InvalidSignature("bad signature")


@pytest.mark.parametrize("where", ["memory", "redis"])
def test_signature_failures_are_counted_without_touching_the_database(database, where, request):
    counters.configure(request.getfixturevalue("redis_url") if where == "redis" else "")
    tables = {m._meta.table_name: m.select().count() for m in (Alert, OutboxMessage, PaymentOrder)}
    for _ in range(4):
        answer = notify.receive({}, b"{}", _Refusing(), notify.Merchant("1", "wx"),
                                on_signature_failure=counters.record_signature_failure)
        assert answer.status == 401
    assert counters.signature_failures().total() == 4
    assert {m._meta.table_name: m.select().count() for m in (Alert, OutboxMessage, PaymentOrder)} == tables


def test_the_counter_forgets_failures_older_than_five_minutes():
    now = [1_000_000.0]
    counter = counters.WindowCounter("t", clock=lambda: now[0])
    counter.incr(5)
    now[0] += 240
    counter.incr()
    assert counter.total() == 6
    now[0] += 120
    assert counter.total() == 1
