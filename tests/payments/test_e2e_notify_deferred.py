"""With a dispatcher registered, the endpoint answers once the callback is stored (R15)."""
from __future__ import annotations

import time

from payments import notify
from payments.models import NotifyEvent, OrderStatus
from server.ledger.models import Payment
from tests.payments.live import (callback_headers, envelope_for, order_status, owner_with_bills, prepaid,
                                 success_plaintext)

SLOW = 1.2


def _paid_without_callback(live):
    bills = owner_with_bills()
    order, prepay_id = prepaid(live, bills)
    live.state.set_faults(drop_callbacks=1)
    live.state.ledger.pay(prepay_id)
    plaintext = success_plaintext(live.state, order.out_trade_no)
    return order, envelope_for(live.state, "TRANSACTION.SUCCESS", plaintext)


def _slow_credit(monkeypatch):
    real = notify.credit_wechat_transaction

    def slow(*args, **kwargs):
        time.sleep(SLOW)                        # downstream made slow
        return real(*args, **kwargs)

    monkeypatch.setattr(notify, "credit_wechat_transaction", slow)


def test_a_dispatched_callback_is_answered_fast_and_applied_once_by_the_job(live, monkeypatch):
    dispatched: list[int] = []
    live.app.extensions["wechatpay_notify_dispatch"] = dispatched.append
    _slow_credit(monkeypatch)
    order, body = _paid_without_callback(live)

    started = time.monotonic()
    answer = live.post_callback(body, callback_headers(live.state, body))
    assert answer.status_code == 204 and time.monotonic() - started < 1.0
    event = NotifyEvent.get()
    assert dispatched == [event.id] and event.status == "received"
    assert order_status(order) == OrderStatus.PAYING          # stored, not yet applied

    merchant = notify.Merchant(live.config.WECHATPAY_MCHID, live.config.WECHAT_APPID)
    assert notify.apply_event(event.id, live.client.verifier, merchant) == "applied"
    assert notify.apply_event(event.id, live.client.verifier, merchant) == "applied"   # a repeat: no-op
    assert live.post_callback(body, callback_headers(live.state, body)).status_code == 204
    assert order_status(order) == OrderStatus.PAID
    assert Payment.select().count() == 1 and NotifyEvent.select().count() == 1


def test_a_callback_the_dispatcher_lost_is_applied_by_the_sweeper(live):
    def broken(event_id):
        raise ConnectionError("queue unreachable")

    live.app.extensions["wechatpay_notify_dispatch"] = broken
    order, body = _paid_without_callback(live)

    assert live.post_callback(body, callback_headers(live.state, body)).status_code == 204   # stored
    assert NotifyEvent.get().status == "received"

    merchant = notify.Merchant(live.config.WECHATPAY_MCHID, live.config.WECHAT_APPID)
    assert notify.reprocess_pending(live.client.verifier, merchant) == 1
    assert order_status(order) == OrderStatus.PAID and NotifyEvent.get().status == "applied"
