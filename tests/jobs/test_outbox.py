"""The outbox: written with the change it follows, relayed, swept, never lost (R10)."""
from __future__ import annotations

import datetime as dt
import logging

import pytest
import time_machine

from jobs import outbox as outbox_jobs
from payments.orders import create_order
from payments.settlement import credit_wechat_transaction
from server import outbox
from server.alerts import Alert
from server.db import transaction
from server.ledger.models import Payment
from server.outbox import OutboxMessage, OutboxStatus
from server.timeutil import utcnow
from tests.payments.live import owner_with_bills

MCHID, APPID = "1900000109", "wxd0000000000sandbox"


def credit(order, txn_id="4200000000000000000000000001"):
    return credit_wechat_transaction(
        {"mchid": MCHID, "appid": APPID, "out_trade_no": order.out_trade_no, "transaction_id": txn_id,
         "trade_state": "SUCCESS", "amount": {"total": order.total_fen, "currency": "CNY"}},
        mchid=MCHID, appid=APPID, source="test")


@pytest.fixture
def order(database):
    bills = owner_with_bills((12_000,))
    return create_order(bills.owner.id, bills.ids)[0]


def test_a_credited_payment_leaves_one_outbox_row_in_its_own_transaction(order):
    credit(order)
    credit(order)                                                 # a repeat changes nothing
    message = OutboxMessage.get()
    payment = Payment.get()
    assert (message.kind, message.status) == ("payment.credited", OutboxStatus.PENDING)
    assert message.payload == {"payment_id": payment.id, "order_id": order.id,
                               "out_trade_no": order.out_trade_no, "amount_fen": 12_000,
                               "community_id": order.community_id, "source": "test"}


def test_a_change_rolled_back_leaves_no_outbox_row(database):
    with pytest.raises(RuntimeError):
        with transaction():
            outbox.add("payment.credited", {"payment_id": 1}, "payment.credited:1")
            raise RuntimeError("the credit failed half-way")
    assert OutboxMessage.select().count() == 0


def test_adding_the_same_work_twice_keeps_one_row_and_never_breaks_the_transaction(database):
    with transaction():
        outbox.add("payment.credited", {"payment_id": 1}, "payment.credited:1")
        outbox.add("payment.credited", {"payment_id": 1}, "payment.credited:1")
        outbox.add("payment.credited", {"payment_id": 2})
    assert OutboxMessage.select().count() == 2


def test_the_relay_hands_rows_to_their_consumer_which_marks_them_done(order, inline_jobs, caplog):
    credit(order)
    with caplog.at_level(logging.INFO, logger="jobs.notifications"):
        assert outbox_jobs.relay() == 1
    message = OutboxMessage.get()
    assert message.status == OutboxStatus.DONE and message.done_at is not None
    assert inline_jobs.ran == [f"notifications-payment_credited--{message.id}"]
    stamp = f"[job notifications-payment_credited--{message.id}]"
    assert any(stamp in r.getMessage() for r in caplog.records)
    assert outbox_jobs.relay() == 0                               # nothing left


def test_a_queue_that_refuses_work_leaves_the_rows_pending_and_says_so(order, caplog, monkeypatch):
    class Down:
        def enqueue(self, spec, args, job_id):
            raise ConnectionError("redis is down")

    monkeypatch.setattr("jobs.backends._backend", Down())
    credit(order)
    with caplog.at_level(logging.ERROR):
        assert outbox_jobs.relay() == 0
    message = OutboxMessage.get()
    assert message.status == OutboxStatus.PENDING and "redis is down" in message.last_error
    assert any("wait for the sweeper" in r.getMessage() for r in caplog.records)


def test_the_sweeper_takes_rows_the_relay_missed_and_rows_the_queue_lost(order, inline_jobs):
    credit(order)
    lost = OutboxMessage.create(kind="payment.credited", payload={}, dedupe_key="lost",
                                status=OutboxStatus.ENQUEUED, attempts=1,
                                enqueued_at=utcnow() - dt.timedelta(minutes=11))
    fresh = OutboxMessage.create(kind="payment.credited", payload={}, dedupe_key="fresh",
                                 status=OutboxStatus.ENQUEUED, attempts=1, enqueued_at=utcnow())
    assert outbox_jobs.sweep(utcnow().isoformat()) == 1           # the pending one is not a minute old
    with time_machine.travel(utcnow() + dt.timedelta(minutes=2), tick=False):
        assert outbox_jobs.sweep(utcnow().isoformat()) == 1
    statuses = {m.dedupe_key: m.status for m in OutboxMessage.select()}
    assert statuses["lost"] == statuses[f"payment.credited:{Payment.get().id}"] == OutboxStatus.DONE
    assert statuses["fresh"] == OutboxStatus.ENQUEUED and lost.id != fresh.id


def test_the_sweeper_gives_up_after_eight_attempts_with_an_alert(database, inline_jobs):
    OutboxMessage.create(kind="payment.credited", payload={}, dedupe_key="stuck",
                         status=OutboxStatus.ENQUEUED, attempts=outbox.MAX_ATTEMPTS,
                         enqueued_at=utcnow() - dt.timedelta(hours=1), last_error="consumer keeps failing")
    OutboxMessage.create(kind="no.such.kind", payload={}, dedupe_key="orphan")
    outbox_jobs.relay()
    outbox_jobs.sweep(utcnow().isoformat())
    assert {m.dedupe_key: m.status for m in OutboxMessage.select()} == \
        {"stuck": OutboxStatus.FAILED, "orphan": OutboxStatus.FAILED}
    assert {a.kind for a in Alert.select()} == {"outbox_failed"} and Alert.select().count() == 2
    assert inline_jobs.ran == []


def test_finished_rows_are_forgotten_after_thirty_days(database, inline_jobs):
    OutboxMessage.create(kind="payment.credited", payload={}, dedupe_key="old", status=OutboxStatus.DONE,
                         done_at=utcnow() - dt.timedelta(days=31))
    OutboxMessage.create(kind="payment.credited", payload={}, dedupe_key="recent", status=OutboxStatus.DONE,
                         done_at=utcnow() - dt.timedelta(days=1))
    outbox_jobs.sweep(utcnow().isoformat())
    assert [m.dedupe_key for m in OutboxMessage.select()] == ["recent"]
