"""Sandbox callbacks: signed and encrypted like WeChat, retried on its schedule, with faults (§2, §3)."""
from __future__ import annotations

import json
import time

import pytest

from payments.sandbox import RETRY_SCHEDULE
from payments.verifier import WeChatPayVerifier
from tests.payments.conftest import OPENID, in_minutes, public_key_verifier


def both_modes_verifier(state) -> WeChatPayVerifier:
    verifier = public_key_verifier(state, clock=state.now)
    for key in state.certificates():
        verifier.add_certificate(key.certificate_pem)
    return verifier


def _pay(make_client, sandbox, sink, out_trade_no="WYCB000001", total=8800):
    client = make_client(notify_url=sink.url)
    sandbox.state.ledger.pay(client.jsapi_prepay(out_trade_no, "物业费", total, OPENID, in_minutes()))
    return client


def _wait(sandbox, predicate, timeout=5.0):
    assert sandbox.state.notifier.wait_for(lambda n: predicate(), timeout=timeout)


def test_payment_callback_is_signed_encrypted_and_equals_the_query(make_client, sandbox, sink):
    client = _pay(make_client, sandbox, sink)
    _wait(sandbox, lambda: len(sink.received) == 1)
    headers, body = sink.received[0]["headers"], sink.received[0]["body"]
    for name in ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial", "Wechatpay-Signature"):
        assert headers[name]
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    envelope, data = both_modes_verifier(sandbox.state).verify_notification(headers, body)
    assert envelope["event_type"] == "TRANSACTION.SUCCESS" and envelope["resource_type"] == "encrypt-resource"
    assert envelope["resource"]["associated_data"] == "transaction"
    assert len(envelope["resource"]["nonce"]) == 12
    assert data == client.query_by_out_trade_no("WYCB000001")
    assert data["amount"]["total"] == 8800 and data["payer"]["openid"] == OPENID


def test_non_2xx_answers_are_retried_with_the_same_body_and_fresh_signatures(make_client, sandbox, sink):
    sink.statuses = [500, 503]
    _pay(make_client, sandbox, sink)
    _wait(sandbox, lambda: len(sink.received) == 3)
    bodies = {r["body"] for r in sink.received}
    nonces = {r["headers"]["Wechatpay-Nonce"] for r in sink.received}
    assert len(bodies) == 1 and len(nonces) == 3
    time.sleep(0.1)
    assert [d["status"] for d in sandbox.state.notifier.deliveries] == [500, 503, 204]


@pytest.mark.parametrize("sandbox_options", [{"time_compression": 200_000.0}])
def test_an_unanswered_callback_follows_wechats_15_retries_over_24h4m(make_client, sandbox, sink):
    assert sum(RETRY_SCHEDULE) == 24 * 3600 + 4 * 60 and len(RETRY_SCHEDULE) == 15
    sink.statuses = [500] * 100
    started = time.monotonic()
    _pay(make_client, sandbox, sink)
    _wait(sandbox, lambda: len(sink.received) == 16, timeout=10)
    elapsed = time.monotonic() - started
    time.sleep(0.2)
    assert len(sink.received) == 16                                   # first send + 15 retries, then silence
    assert elapsed >= sum(RETRY_SCHEDULE) / 200_000.0
    attempts = [d["attempt"] for d in sandbox.state.notifier.deliveries]
    assert attempts == list(range(1, 17))


def test_duplicate_fault_sends_n_copies_concurrently(make_client, sandbox, sink):
    sandbox.state.set_faults(duplicate_callbacks=5)
    _pay(make_client, sandbox, sink)
    _wait(sandbox, lambda: len(sink.received) == 5)
    ids = {json.loads(r["body"])["id"] for r in sink.received}
    assert len(ids) == 1
    times = [d["at"] for d in sandbox.state.notifier.deliveries]
    assert max(times) - min(times) < 1.0


def test_dropped_callback_never_arrives_but_query_shows_the_payment(make_client, sandbox, sink):
    sandbox.state.set_faults(drop_callbacks=1)
    client = _pay(make_client, sandbox, sink)
    time.sleep(0.3)
    assert sink.received == []
    assert client.query_by_out_trade_no("WYCB000001")["trade_state"] == "SUCCESS"


def test_wrong_amount_fault_changes_only_the_callback(make_client, sandbox, sink):
    sandbox.state.set_faults(wrong_amount=1)
    client = _pay(make_client, sandbox, sink, total=8800)
    _wait(sandbox, lambda: len(sink.received) == 1)
    _, data = both_modes_verifier(sandbox.state).verify_notification(sink.received[0]["headers"],
                                                                      sink.received[0]["body"])
    assert data["amount"]["total"] == 8801
    assert client.query_by_out_trade_no("WYCB000001")["amount"]["total"] == 8800


def test_a_probe_callback_is_rejected_and_wechat_resends_it_properly_signed(make_client, sandbox, sink):
    sink.verifier = both_modes_verifier(sandbox.state)
    sandbox.state.set_faults(probe_callbacks=1)
    _pay(make_client, sandbox, sink)
    _wait(sandbox, lambda: len(sink.received) == 2)
    first, second = sink.received
    assert first["headers"]["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    assert first["status"] == 401
    assert second["status"] == 204 and first["body"] == second["body"]


@pytest.mark.parametrize("sandbox_options", [{"callback_signing": "alternate"}])
def test_callbacks_signed_by_certificate_and_public_key_in_turn_both_verify(make_client, sandbox, sink):
    sink.verifier = both_modes_verifier(sandbox.state)
    client = make_client(notify_url=sink.url)
    for n in range(4):
        sandbox.state.ledger.pay(client.jsapi_prepay(f"WYALT0000{n}", "物业费", 1, OPENID, in_minutes()))
    _wait(sandbox, lambda: len(sink.received) == 4)
    serials = {r["headers"]["Wechatpay-Serial"] for r in sink.received}
    assert serials == {sandbox.state.active_certificate, sandbox.state.active_public_key}
    assert all(r["status"] == 204 for r in sink.received)


@pytest.mark.parametrize("sandbox_options", [{"refund_delay": -1}])
@pytest.mark.parametrize("status,summary", [("SUCCESS", "退款成功"), ("ABNORMAL", "退款异常"),
                                            ("CLOSED", "退款关闭")])
def test_refund_callbacks_carry_refund_status(make_client, sandbox, sink, status, summary):
    client = make_client(notify_url="https://wuyepay.test/never-used")
    sandbox.state.ledger.pay(client.jsapi_prepay("WYRFCB0001", "物业费", 900, OPENID, in_minutes()))
    client.refund("RFCB0001", 400, 900, "退费", out_trade_no="WYRFCB0001", notify_url=sink.url)
    assert client.query_refund("RFCB0001")["status"] == "PROCESSING"
    sandbox.state.ledger.settle_refund("RFCB0001", status)
    _wait(sandbox, lambda: len(sink.received) == 1)
    envelope, data = both_modes_verifier(sandbox.state).verify_notification(
        sink.received[0]["headers"], sink.received[0]["body"])
    assert envelope["event_type"] == f"REFUND.{status}" and envelope["summary"] == summary
    assert envelope["resource"]["original_type"] == "refund"
    assert data["refund_status"] == status and "status" not in data
    assert data["amount"] == {"total": 900, "refund": 400, "payer_total": 900, "payer_refund": 400}
    assert client.query_refund("RFCB0001")["status"] == status
