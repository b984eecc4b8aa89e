"""Redis stopped or flushed: callbacks are still applied, and their follow-up work
waits in the outbox until the sweeper hands it to a worker (R10)."""
from __future__ import annotations

import datetime as dt
import logging

import time_machine

from jobs import outbox as outbox_jobs
from jobs.backends import RedisBackend, use_backend
from jobs import runtime
from jobs.payments import dispatch_callback
from payments.models import NotifyEvent, OrderStatus, PaymentOrder
from server.ledger.models import Payment
from server.outbox import OutboxMessage, OutboxStatus
from server.timeutil import utcnow
from tests.payments.live import events_settled, owner_with_bills, prepaid, wait_for_status, wait_until


def _paid_through_the_callback(live, openid):
    bills = owner_with_bills((12_000,), openid=openid)
    order, prepay_id = prepaid(live, bills)
    live.state.ledger.pay(prepay_id)
    assert wait_for_status(order, OrderStatus.PAID) and wait_until(events_settled)
    return order


def _sweep_at(minutes_later: int) -> int:
    with time_machine.travel(utcnow() + dt.timedelta(minutes=minutes_later), tick=False):
        return outbox_jobs.sweep(utcnow().isoformat())


def _status(order) -> str:
    payment = Payment.get(Payment.order == order.id)
    return OutboxMessage.get(OutboxMessage.dedupe_key == f"payment.credited:{payment.id}").status


def test_with_redis_down_the_callback_is_applied_and_the_outbox_catches_up_when_it_returns(
        live, own_redis, run_worker, caplog):
    use_backend(RedisBackend(own_redis.url))
    own_redis.kill()
    order = _paid_through_the_callback(live, "oRedisDown000000000000000001")
    assert _status(order) == OutboxStatus.PENDING
    with caplog.at_level(logging.ERROR):
        assert outbox_jobs.relay() == 0                           # the relay cannot reach Redis…
    assert "wait for the sweeper" in caplog.text and _status(order) == OutboxStatus.PENDING

    own_redis.start()                                             # …back, empty, on the same port
    assert _sweep_at(2) == 1
    assert _status(order) == OutboxStatus.ENQUEUED
    output = run_worker(live.db.test_url, own_redis.url, "notifications").wait()
    assert _status(order) == OutboxStatus.DONE and order.out_trade_no in output


def test_work_lost_with_a_flushed_queue_is_enqueued_again_by_the_sweeper(live, own_redis, run_worker):
    backend = RedisBackend(own_redis.url)
    use_backend(backend)
    order = _paid_through_the_callback(live, "oRedisFlush00000000000000001")
    assert outbox_jobs.relay() == 1 and _status(order) == OutboxStatus.ENQUEUED
    backend.connection.flushall()                                 # the queue forgets it
    assert _sweep_at(2) == 0                                      # not yet suspicious
    assert _sweep_at(11) == 1
    run_worker(live.db.test_url, own_redis.url, "notifications").wait()
    message = OutboxMessage.get()
    assert (message.status, message.attempts) == (OutboxStatus.DONE, 2)


WECHAT_SETTINGS = ("WECHATPAY_API_BASE", "WECHAT_API_BASE", "WECHATPAY_MCHID", "WECHAT_APPID",
                   "WECHATPAY_MERCHANT_SERIAL", "WECHATPAY_PRIVATE_KEY_FILE", "WECHATPAY_APIV3_KEY",
                   "WECHATPAY_PUBLIC_KEY_FILE", "WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_NOTIFY_URL")


def test_a_stored_callback_is_answered_at_once_and_applied_by_a_worker(live, own_redis, run_worker):
    use_backend(RedisBackend(own_redis.url))
    live.app.extensions["wechatpay_notify_dispatch"] = dispatch_callback
    bills = owner_with_bills((12_000,), openid="oDispatch00000000000000000001")
    order, prepay_id = prepaid(live, bills)
    live.state.ledger.pay(prepay_id)
    assert wait_until(lambda: NotifyEvent.select().count() == 1 and
                      [d["status"] for d in live.state.notifier.deliveries] == [204])
    assert NotifyEvent.get().status == "received"                 # answered, not applied yet
    assert PaymentOrder.get_by_id(order.id).status == OrderStatus.PAYING
    env = {name: str(getattr(live.config, name)) for name in WECHAT_SETTINGS}
    output = run_worker(live.db.test_url, own_redis.url, "payments", env=env).wait()
    assert PaymentOrder.get_by_id(order.id).status == OrderStatus.PAID, output
    assert NotifyEvent.get().status == "applied"


def test_with_redis_down_a_dispatched_callback_is_applied_in_the_request(live, own_redis):
    use_backend(RedisBackend(own_redis.url, connect_timeout=0.5, timeout=1))
    runtime.configure(live.config)                                # what jobs.init_app does
    live.app.extensions["wechatpay_notify_dispatch"] = dispatch_callback
    own_redis.kill()
    order = _paid_through_the_callback(live, "oDispatchDown000000000000001")
    assert NotifyEvent.get().status == "applied" and _status(order) == OutboxStatus.PENDING
