"""Trust and failure: signatures, timestamps, serials, probes, forgeries, timeouts, retries (R3, R8)."""
from __future__ import annotations

import threading

import pytest
import responses

from payments import crypto
from payments.certs import generate_self_signed_certificate
from payments.exceptions import (
    InvalidSignature, NetworkError, OutcomeUnknown, RateLimited, ServerError, SignError, StaleTimestamp,
    UnknownSerial, UntrustedResponse, WeChatPayTimeout,
)
from payments.verifier import WeChatPayVerifier
from tests.payments.conftest import OPENID, in_minutes

JSAPI = "/v3/pay/transactions/jsapi"


def test_a_request_signed_with_another_key_gets_401_sign_error(make_client, key_pool, merchant):
    impostor = make_client()
    impostor.transport._private_key = key_pool[4]           # same serial, wrong key
    with pytest.raises(SignError) as info:
        impostor.query_by_out_trade_no("WY_ANY_ORDER")
    assert info.value.status == 401 and info.value.detail["detail"]["issue"] == "sign not match"


def test_an_unregistered_merchant_serial_gets_401(make_client):
    client = make_client()
    client.transport.merchant_serial = "0123456789ABCDEF"
    with pytest.raises(SignError):
        client.query_by_out_trade_no("WY_ANY_ORDER")


@pytest.mark.parametrize("skew,ok", [(-301, False), (-290, True), (290, True), (301, False)])
def test_the_sandbox_rejects_request_timestamps_more_than_five_minutes_off(make_client, sandbox, skew, ok):
    client = make_client(clock=lambda: sandbox.state.now() + skew)
    client.jsapi_prepay("WYSKEW0001", "物业费", 1, OPENID, in_minutes()) if ok else None
    if not ok:
        with pytest.raises(SignError, match="5分钟"):
            client.jsapi_prepay("WYSKEW0001", "物业费", 1, OPENID, in_minutes())
        assert sandbox.state.ledger.orders == {}


def test_certificate_mode_downloads_certificates_and_follows_a_rotation(make_client, sandbox, key_pool):
    client = make_client(mode="certificate")
    client.jsapi_prepay("WYCERT0001", "物业费", 1, OPENID, in_minutes())
    old = sandbox.state.active_certificate
    assert client.verifier.serials() == [old]
    assert sandbox.state.count_requests("/v3/certificates") == 1
    sandbox.state.advance(61)                                # past the one-per-minute limit
    new = sandbox.state.rotate_certificate(key_pool[3])
    assert client.query_by_out_trade_no("WYCERT0001")["trade_state"] == "NOTPAY"
    assert sorted(client.verifier.serials()) == sorted([old, new])
    sandbox.state.active_certificate = old                   # overlap: the old one still verifies
    assert client.query_by_out_trade_no("WYCERT0001")
    assert sandbox.state.count_requests("/v3/certificates") == 2


def test_a_public_key_only_merchant_cannot_use_certificate_mode(make_client, sandbox):
    sandbox.state.certificates_enabled = False
    make_client().jsapi_prepay("WYPUBONLY1", "物业费", 1, OPENID, in_minutes())    # public-key mode works
    client = make_client(mode="certificate")
    with pytest.raises(UntrustedResponse) as info:
        client.query_by_out_trade_no("WYPUBONLY1")
    assert isinstance(info.value.reason, UnknownSerial)
    assert client.verifier.refresh_count == 1        # one refresh, its 500 SYSTEM_ERROR retried


def test_a_flood_of_unknown_serials_downloads_certificates_at_most_once_a_minute(make_client, sandbox):
    client = make_client(mode="certificate")
    client.jsapi_prepay("WYFLOOD001", "物业费", 1, OPENID, in_minutes())
    sandbox.state.response_signing = "public_key"              # a serial the verifier never heard of
    sandbox.state.advance(61)
    failures = []

    def query():
        try:
            client.query_by_out_trade_no("WYFLOOD001")
        except UntrustedResponse as exc:
            failures.append(exc.reason)

    threads = [threading.Thread(target=query) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(failures) == 20 and all(isinstance(r, UnknownSerial) for r in failures)
    assert sandbox.state.count_requests("/v3/certificates") == 2    # first use + one refresh


def test_a_probe_signature_on_an_answer_is_rejected(pay_client, sandbox):
    pay_client.jsapi_prepay("WYPROBE001", "物业费", 1, OPENID, in_minutes())
    sandbox.state.set_faults(probe_responses=1)
    with pytest.raises(UntrustedResponse) as info:
        pay_client.query_by_out_trade_no("WYPROBE001")
    assert isinstance(info.value.reason, InvalidSignature) and "probe" in str(info.value)
    assert pay_client.query_by_out_trade_no("WYPROBE001")["trade_state"] == "NOTPAY"


def test_a_forged_2xx_answer_is_rejected_and_the_order_is_resolved_by_query(pay_client, sandbox):
    sandbox.state.set_faults(forge_responses=1)
    with pytest.raises(UntrustedResponse) as info:
        pay_client.jsapi_prepay("WYFORGE001", "物业费", 1, OPENID, in_minutes())
    assert isinstance(info.value, OutcomeUnknown) and isinstance(info.value.reason, InvalidSignature)
    assert pay_client.query_by_out_trade_no("WYFORGE001")["trade_state"] == "NOTPAY"


def test_an_answer_with_a_stale_timestamp_is_rejected(pay_client, sandbox):
    pay_client.jsapi_prepay("WYSTALE001", "物业费", 1, OPENID, in_minutes())
    sandbox.state.set_faults(response_clock_skew=301)
    with pytest.raises(UntrustedResponse) as info:
        pay_client.query_by_out_trade_no("WYSTALE001")
    assert isinstance(info.value.reason, StaleTimestamp)


def test_an_unsigned_2xx_answer_is_treated_as_forged(pay_client):
    with responses.RequestsMock() as mock:
        mock.get(pay_client.api_base + "/v3/pay/transactions/out-trade-no/WYX0000001",
                 json={"trade_state": "SUCCESS"})
        with pytest.raises(UntrustedResponse):
            pay_client.query_by_out_trade_no("WYX0000001")


def test_timeout_after_the_order_was_created_is_outcome_unknown_then_query_finds_it(make_client, sandbox):
    client = make_client(timeout=(1, 0.5), max_attempts=2)
    sandbox.state.set_faults(timeout_after_create=-1, timeout_delay=5)
    with pytest.raises(WeChatPayTimeout) as info:
        client.jsapi_prepay("WYTIMEOUT1", "物业费", 500, OPENID, in_minutes())
    assert isinstance(info.value, OutcomeUnknown)
    sandbox.state.reset_faults()
    assert list(sandbox.state.ledger.orders) == ["WYTIMEOUT1"]
    assert client.query_by_out_trade_no("WYTIMEOUT1")["trade_state"] == "NOTPAY"


def test_retries_after_a_timeout_reuse_the_same_out_trade_no_and_body(make_client, sandbox):
    client = make_client(timeout=(1, 0.5), max_attempts=3)
    sandbox.state.set_faults(timeout_after_create=1, timeout_delay=5)
    prepay_id = client.jsapi_prepay("WYRETRY001", "物业费", 500, OPENID, in_minutes())
    calls = sandbox.state.requests_to(JSAPI)
    assert len(calls) == 2 and calls[0]["body_sha1"] == calls[1]["body_sha1"]
    assert list(sandbox.state.ledger.orders) == ["WYRETRY001"]
    assert sandbox.state.ledger.get("WYRETRY001").prepay_id == prepay_id


def test_refund_timeout_is_outcome_unknown_and_refund_query_finds_one_refund(make_client, sandbox):
    client = make_client(timeout=(1, 0.5), max_attempts=2)
    sandbox.state.ledger.pay(client.jsapi_prepay("WYRFTO0001", "物业费", 500, OPENID, in_minutes()))
    sandbox.state.set_faults(timeout_after_create=-1, timeout_delay=5)
    with pytest.raises(OutcomeUnknown):
        client.refund("RFTO0001", 500, 500, "", out_trade_no="WYRFTO0001")
    sandbox.state.reset_faults()
    assert client.query_refund("RFTO0001")["amount"]["refund"] == 500
    assert list(sandbox.state.ledger.refunds) == ["RFTO0001"]


def test_system_errors_are_retried_with_the_same_parameters(make_client, sandbox):
    client = make_client(max_attempts=3)
    sandbox.state.set_faults(fail_5xx=2)
    client.jsapi_prepay("WY5XX00001", "物业费", 1, OPENID, in_minutes())
    calls = sandbox.state.requests_to(JSAPI)
    assert len(calls) == 3 and len({c["body_sha1"] for c in calls}) == 1
    sandbox.state.set_faults(fail_5xx=-1)
    with pytest.raises(ServerError) as info:
        client.query_by_out_trade_no("WY5XX00001")
    assert info.value.code == "SYSTEM_ERROR" and isinstance(info.value, OutcomeUnknown)


def test_rate_limits_are_not_retried_automatically(pay_client):
    with responses.RequestsMock() as mock:
        mock.post(pay_client.api_base + JSAPI, status=429,
                  json={"code": "FREQUENCY_LIMITED", "message": "频率超限"})
        with pytest.raises(RateLimited):
            pay_client.jsapi_prepay("WYRATE0001", "物业费", 1, OPENID, in_minutes())
        assert len(mock.calls) == 1


def test_an_unreachable_wechat_is_a_network_error_for_reads_and_unknown_for_writes(sandbox, merchant):
    from payments.client import WeChatPayClient
    verifier = WeChatPayVerifier(public_keys={"PUB_KEY_ID_X": crypto.public_key_pem(merchant.key)})
    client = WeChatPayClient("1900000109", merchant.serial, merchant.key_pem, "k" * 32, "http://127.0.0.1:9",
                             verifier, "wx1", "https://a.test/n", timeout=(0.2, 0.2), backoff=0.0)
    with pytest.raises(NetworkError):
        client.query_by_out_trade_no("WYDOWN0001")
    with pytest.raises(WeChatPayTimeout):
        client.close("WYDOWN0001")


def test_latency_below_the_read_timeout_is_fine(make_client, sandbox):
    sandbox.state.set_faults(latency=0.2)
    client = make_client(timeout=(1, 2))
    assert client.jsapi_prepay("WYSLOW0001", "物业费", 1, OPENID, in_minutes())


def test_fault_switches_are_settable_over_http(sandbox):
    import requests
    answer = requests.post(sandbox.url("/sandbox/admin/faults"), json={"fail_5xx": 2, "latency": "0.1"},
                           timeout=5)
    assert answer.json()["fail_5xx"] == 2 and sandbox.state.faults.latency == 0.1
    assert requests.post(sandbox.url("/sandbox/admin/faults"), json={"nope": 1}, timeout=5).status_code == 400
    requests.post(sandbox.url("/sandbox/admin/faults/reset"), timeout=5)
    assert sandbox.state.faults.fail_5xx == 0


def test_the_merchant_key_can_be_registered_over_http(sandbox, key_pool):
    import requests
    pem, serial = generate_self_signed_certificate(key_pool[4])
    answer = requests.post(sandbox.url("/sandbox/admin/merchant-keys"),
                           json={"serial_no": serial, "public_key_pem": pem}, timeout=5)
    assert answer.status_code == 201 and sandbox.state.merchant_key(serial) == key_pool[4].public_key()
