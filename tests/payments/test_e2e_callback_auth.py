"""Callbacks we cannot authenticate change nothing; callbacks we cannot store are retried (R3, R15)."""
from __future__ import annotations

import socket

import pytest
from playhouse.pool import MaxConnectionsExceeded

from payments import crypto, notify
from payments.models import NotifyEvent, OrderStatus
from server import db as dbmod
from server.ledger.models import Payment
from tests.payments.live import (callback_headers, envelope_for, events_settled, order_status,
                                 owner_with_bills, prepaid, row_counts, success_plaintext,
                                 wait_for_status, wait_until)

REQUIRED = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial")


def _paid_without_callback(live):
    """An order the owner paid at the sandbox whose callback we have not received."""
    bills = owner_with_bills()
    order, prepay_id = prepaid(live, bills)
    live.state.set_faults(drop_callbacks=1)
    live.state.ledger.pay(prepay_id)
    body = envelope_for(live.state, "TRANSACTION.SUCCESS", success_plaintext(live.state, order.out_trade_no))
    return order, body


def _without(headers: dict, name: str) -> dict:
    return {k: v for k, v in headers.items() if k != name}


def _signed_by_stranger(state, body: bytes, key) -> dict:
    timestamp, nonce = str(int(state.now())), crypto.new_nonce(32)
    return {"Content-Type": "application/json", "Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce,
            "Wechatpay-Serial": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            "Wechatpay-Signature": crypto.sign(key, crypto.response_sign_message(timestamp, nonce, body)),
            "Wechatpay-Signature-Type": crypto.SIGNATURE_TYPE}


def _unauthentic(state, body: bytes, stranger_key) -> dict[str, tuple[bytes, dict]]:
    tampered = body.replace(b'"summary":"', b'"summary":"x', 1)
    assert tampered != body
    variants = {
        "forged": (body, callback_headers(state, body, forge=True)),
        "tampered": (tampered, callback_headers(state, body)),
        "stale -301 s": (body, callback_headers(state, body, skew=-301)),
        # The header holds whole seconds (int(now) + skew): +302 is at least 301 s ahead.
        "future +301 s": (body, callback_headers(state, body, skew=302)),
        "unknown serial": (body, _signed_by_stranger(state, body, stranger_key)),
        "probe": (body, callback_headers(state, body, probe=True)),
        "wrong signature type": (body, {**callback_headers(state, body),
                                        "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}),
    }
    for name in REQUIRED:
        variants[f"missing {name}"] = (body, _without(callback_headers(state, body), name))
    return variants


def test_unauthentic_callbacks_are_refused_with_401_and_write_no_row_anywhere(live, key_pool):
    order, body = _paid_without_callback(live)
    before = row_counts()

    for name, (sent, headers) in _unauthentic(live.state, body, key_pool[3]).items():
        answer = live.post_callback(sent, headers)
        assert answer.status_code == 401, name
        assert answer.json()["code"] == "FAIL", name
        assert row_counts() == before, name

    assert order_status(order) == OrderStatus.PAYING
    genuine = live.post_callback(body, callback_headers(live.state, body))      # the control
    assert genuine.status_code == 204
    assert wait_for_status(order, OrderStatus.PAID) and Payment.select().count() == 1


def test_a_flood_of_unknown_serials_downloads_certificates_at_most_once(live, key_pool):
    _, body = _paid_without_callback(live)
    for _ in range(5):
        assert live.post_callback(body, _signed_by_stranger(live.state, body, key_pool[3])).status_code == 401
    assert live.state.count_requests("/v3/certificates") <= 1
    assert NotifyEvent.select().count() == 0


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/wuyepay"   # nothing listens there


def test_a_callback_that_cannot_be_stored_is_answered_5xx_fail_and_applied_when_redelivered(pg_live):
    bills = owner_with_bills()
    order, prepay_id = prepaid(pg_live, bills)
    database = dbmod.database.obj
    body = None
    dbmod.bind(_refused_url())                        # the database becomes unreachable
    try:
        pg_live.state.ledger.pay(prepay_id)           # WeChat sends; we cannot store it
        assert pg_live.state.notifier.wait_for(lambda n: len(n.deliveries) >= 1)
        body = envelope_for(pg_live.state, "TRANSACTION.SUCCESS",
                            success_plaintext(pg_live.state, order.out_trade_no))
        direct = pg_live.post_callback(body, callback_headers(pg_live.state, body))
    finally:
        dbmod.database.initialize(database)           # the database is back

    assert direct.status_code == 500 and direct.json()["code"] == "FAIL"
    assert pg_live.state.notifier.deliveries[0]["status"] == 500
    assert wait_for_status(order, OrderStatus.PAID)   # WeChat's retry got through
    assert wait_until(lambda: any(d["status"] == 204 for d in pg_live.state.notifier.deliveries))
    assert wait_until(events_settled)
    assert Payment.select().count() == 1 and NotifyEvent.select().count() == 1


@pytest.mark.parametrize("event_type", ["TRANSACTION.SUCCESS", "REFUND.SUCCESS"])
def test_a_verified_callback_that_is_not_a_notification_is_refused_unstored(live, event_type):
    body = b'{"event_type":"' + event_type.encode() + b'"}'            # no id
    before = row_counts()
    answer = live.post_callback(body, callback_headers(live.state, body))
    assert answer.status_code == 400 and answer.json()["code"] == "FAIL"
    assert row_counts() == before


def test_a_callback_arriving_when_no_pooled_connection_is_free_is_answered_5xx_fail(live, monkeypatch):
    def exhausted(*args, **kwargs):
        raise MaxConnectionsExceeded("Exceeded maximum connections.")

    monkeypatch.setattr(notify.NotifyEvent, "create", exhausted)
    order, body = _paid_without_callback(live)

    answer = live.post_callback(body, callback_headers(live.state, body))

    assert answer.status_code == 500 and answer.json()["code"] == "FAIL"
    assert order_status(order) == OrderStatus.PAYING
