"""The real client over real HTTP against the sandbox: order, query, pay, close, refund (§4–§6)."""
from __future__ import annotations

import datetime as dt

import pytest
import requests

from payments import crypto
from payments.exceptions import (
    NotEnough, NotFound, OrderClosed, OrderPaid, OutTradeNoUsed, RequestRejected,
)
from tests.payments.conftest import OPENID, in_minutes


def test_prepay_returns_a_prepay_id_and_the_order_is_notpay(pay_client, sandbox):
    prepay_id = pay_client.jsapi_prepay("WY202601010001", "物业费 2026-01", 12345, OPENID, in_minutes(15),
                                    attach="house=1")
    assert prepay_id.startswith("wx")
    order = pay_client.query_by_out_trade_no("WY202601010001")
    assert order["trade_state"] == "NOTPAY"
    assert order["amount"]["total"] == 12345
    sent = sandbox.state.ledger.get("WY202601010001").request
    assert sent["time_expire"].endswith("+08:00") and sent["notify_url"] == pay_client.notify_url


def test_same_out_trade_no_and_parameters_give_the_same_prepay_id(pay_client, sandbox):
    first = pay_client.jsapi_prepay("WY202601010002", "物业费", 100, OPENID, in_minutes(15))
    expire = dt.datetime.fromisoformat(sandbox.state.ledger.get("WY202601010002").request["time_expire"])
    assert pay_client.jsapi_prepay("WY202601010002", "物业费", 100, OPENID, expire) == first


def test_same_out_trade_no_with_other_parameters_is_out_trade_no_used(pay_client):
    pay_client.jsapi_prepay("WY202601010003", "物业费", 100, OPENID, in_minutes(15))
    with pytest.raises(OutTradeNoUsed) as info:
        pay_client.jsapi_prepay("WY202601010003", "物业费", 101, OPENID, in_minutes(15))
    assert info.value.status == 403 and info.value.request_id


def test_paid_order_reads_success_with_transaction_id_and_payer(pay_client, sandbox):
    prepay_id = pay_client.jsapi_prepay("WY202601010004", "物业费", 2500, OPENID, in_minutes(15))
    sandbox.state.ledger.pay(prepay_id)
    order = pay_client.query_by_out_trade_no("WY202601010004")
    assert order["trade_state"] == "SUCCESS" and order["transaction_id"].startswith("4200")
    assert order["payer"]["openid"] == OPENID and order["amount"]["payer_total"] == 2500


@pytest.mark.parametrize("outcome,state", [("payerror", "PAYERROR"), ("userpaying", "USERPAYING")])
def test_failed_or_pending_payments_are_visible_to_query(pay_client, sandbox, outcome, state):
    prepay_id = pay_client.jsapi_prepay("WY2026010100P" + outcome[:3], "物业费", 100, OPENID, in_minutes(15))
    sandbox.state.ledger.pay(prepay_id, outcome)
    assert pay_client.query_by_out_trade_no("WY2026010100P" + outcome[:3])["trade_state"] == state


def test_pay_endpoint_refuses_insufficient_balance_and_order_stays_notpay(pay_client, sandbox):
    prepay_id = pay_client.jsapi_prepay("WY202601010005", "物业费", 100, OPENID, in_minutes(15))
    answer = requests.post(sandbox.url(f"/sandbox/pay/{prepay_id}"),
                           json={"outcome": "insufficient_balance"}, timeout=5)
    assert answer.status_code == 409 and answer.json()["message"] == "余额不足"
    assert pay_client.query_by_out_trade_no("WY202601010005")["trade_state"] == "NOTPAY"


def test_pay_page_renders_the_order_for_a_person(pay_client, sandbox):
    prepay_id = pay_client.jsapi_prepay("WY202601010006", "物业费 1 月", 12345, OPENID, in_minutes(15))
    page = requests.get(sandbox.url(f"/sandbox/pay/{prepay_id}"), timeout=5)
    assert page.status_code == 200 and "123.45" in page.text and "物业费 1 月" in page.text
    requests.post(sandbox.url(f"/sandbox/pay/{prepay_id}"), data={"outcome": "success"}, timeout=5)
    assert pay_client.query_by_out_trade_no("WY202601010006")["trade_state"] == "SUCCESS"


def test_mini_program_pay_params_are_accepted_by_request_payment(pay_client, sandbox):
    prepay_id = pay_client.jsapi_prepay("WY202601010007", "物业费", 100, OPENID, in_minutes(15))
    params = pay_client.mini_program_pay_params(prepay_id)
    assert set(params) == {"timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["package"] == f"prepay_id={prepay_id}" and params["signType"] == "RSA"
    assert len(params["timeStamp"]) == 10 and len(params["nonceStr"]) == 32
    tampered = dict(params, package="prepay_id=wx0")
    assert requests.post(sandbox.url("/sandbox/request-payment"), json=tampered, timeout=5).status_code == 400
    answer = requests.post(sandbox.url("/sandbox/request-payment"), json=params, timeout=5)
    assert answer.json() == {"errMsg": "requestPayment:ok"}
    assert pay_client.query_by_out_trade_no("WY202601010007")["trade_state"] == "SUCCESS"


def test_close_then_query_is_closed_and_prepay_again_is_order_closed(pay_client):
    pay_client.jsapi_prepay("WY202601010008", "物业费", 100, OPENID, in_minutes(15))
    pay_client.close("WY202601010008")
    pay_client.close("WY202601010008")                        # closing twice is harmless
    assert pay_client.query_by_out_trade_no("WY202601010008")["trade_state"] == "CLOSED"
    with pytest.raises(OrderClosed):
        pay_client.jsapi_prepay("WY202601010008", "物业费", 100, OPENID, in_minutes(15))


def test_closing_a_paid_order_is_an_error_and_query_says_success(pay_client, sandbox):
    prepay_id = pay_client.jsapi_prepay("WY202601010009", "物业费", 100, OPENID, in_minutes(15))
    sandbox.state.ledger.pay(prepay_id)
    with pytest.raises(OrderPaid):
        pay_client.close("WY202601010009")
    assert pay_client.query_by_out_trade_no("WY202601010009")["trade_state"] == "SUCCESS"


def test_query_of_an_unknown_order_is_not_found(pay_client):
    with pytest.raises(NotFound) as info:
        pay_client.query_by_out_trade_no("WY_NEVER_SEEN")
    assert info.value.code == "ORDER_NOT_EXIST"


def _paid(pay_client, sandbox, out_trade_no, total=10000):
    sandbox.state.ledger.pay(pay_client.jsapi_prepay(out_trade_no, "物业费", total, OPENID, in_minutes(15)))
    return pay_client.query_by_out_trade_no(out_trade_no)


def test_refund_and_refund_query(pay_client, sandbox):
    order = _paid(pay_client, sandbox, "WY202601010010")
    refund = pay_client.refund("RF202601010010-1", 3000, 10000, "多收退回",
                               transaction_id=order["transaction_id"])
    assert refund["status"] == "PROCESSING" and refund["amount"]["refund"] == 3000
    assert sandbox.state.notifier.wait_for(
        lambda n: sandbox.state.ledger.get_refund("RF202601010010-1").status == "SUCCESS")
    queried = pay_client.query_refund("RF202601010010-1")
    assert queried["status"] == "SUCCESS" and queried["refund_id"] == refund["refund_id"]
    assert pay_client.query_by_out_trade_no("WY202601010010")["trade_state"] == "REFUND"


def test_refund_is_deterministic_per_out_refund_no(pay_client, sandbox):
    _paid(pay_client, sandbox, "WY202601010011")
    first = pay_client.refund("RF202601010011-1", 3000, 10000, "", out_trade_no="WY202601010011")
    again = pay_client.refund("RF202601010011-1", 3000, 10000, "", out_trade_no="WY202601010011")
    assert first["refund_id"] == again["refund_id"]
    assert len([r for r in sandbox.state.ledger.refunds.values()
                if r.order.out_trade_no == "WY202601010011"]) == 1


def test_refund_over_the_refundable_remainder_is_not_enough(pay_client, sandbox):
    _paid(pay_client, sandbox, "WY202601010012")
    pay_client.refund("RF202601010012-1", 6000, 10000, "", out_trade_no="WY202601010012")
    with pytest.raises(NotEnough):
        pay_client.refund("RF202601010012-2", 4001, 10000, "", out_trade_no="WY202601010012")
    assert pay_client.refund("RF202601010012-3", 4000, 10000, "", out_trade_no="WY202601010012")


def test_refund_of_an_unknown_order_and_unknown_refund_query_are_not_found(pay_client):
    with pytest.raises(NotFound) as info:
        pay_client.refund("RF-NONE", 1, 1, "", out_trade_no="WY_NEVER_SEEN")
    assert info.value.code == "RESOURCE_NOT_EXISTS"
    with pytest.raises(NotFound):
        pay_client.query_refund("RF-NONE")


def test_invalid_arguments_are_refused_before_anything_is_sent(pay_client, sandbox):
    with pytest.raises(ValueError):
        pay_client.jsapi_prepay("bad no!", "x", 1, OPENID, in_minutes())
    with pytest.raises(ValueError):
        pay_client.jsapi_prepay("WY202601019999", "x", 1.5, OPENID, in_minutes())
    with pytest.raises(ValueError):
        pay_client.jsapi_prepay("WY202601019999", "x", 1, OPENID, dt.datetime(2030, 1, 1))   # naive
    with pytest.raises(ValueError):
        pay_client.refund("RF1", 2, 1, "", out_trade_no="WY1")
    with pytest.raises(ValueError):
        pay_client.refund("RF1", 1, 1, "", out_trade_no="WY1", transaction_id="42")
    assert sandbox.state.count_requests("/v3/pay/transactions/jsapi") == 0


def test_sandbox_rejects_invalid_fields_like_wechat(pay_client, sandbox, merchant):
    body = {"appid": sandbox.state.appid, "mchid": sandbox.state.mchid, "description": "x" * 128,
            "out_trade_no": "WY202601010013", "notify_url": "https://a.test/n",
            "amount": {"total": 1}, "payer": {"openid": OPENID}}
    response = pay_client.transport.request  # the transport signs arbitrary bodies for us
    with pytest.raises(RequestRejected) as info:
        response("POST", "/v3/pay/transactions/jsapi", json_body=body, state_changing=True)
    assert info.value.code == "PARAM_ERROR" and "description" in str(info.value.detail)
    body.update(description="ok", appid="wx_other_app")
    with pytest.raises(RequestRejected) as info:
        response("POST", "/v3/pay/transactions/jsapi", json_body=body, state_changing=True)
    assert info.value.code == "APPID_MCHID_NOT_MATCH"
    assert crypto.serialize_body(body)     # the same bytes were signed and sent


def test_client_from_config_reads_keys_from_files_and_uses_both_key_kinds(sandbox, merchant, tmp_path):
    from payments.client import client_from_config
    from server.config import TestingConfig
    cfg = sandbox.state.public_config(include_secret=True)
    (tmp_path / "apiclient_key.pem").write_text(merchant.key_pem)
    (tmp_path / "pub_key.pem").write_text(cfg["public_key_pem"])
    config = TestingConfig(
        WECHATPAY_MCHID=cfg["mchid"], WECHATPAY_MERCHANT_SERIAL=merchant.serial,
        WECHATPAY_PRIVATE_KEY_FILE=str(tmp_path / "apiclient_key.pem"), WECHATPAY_APIV3_KEY=cfg["apiv3_key"],
        WECHATPAY_PUBLIC_KEY_FILE=str(tmp_path / "pub_key.pem"), WECHATPAY_PUBLIC_KEY_ID=cfg["public_key_id"],
        WECHATPAY_API_BASE=sandbox.base_url, WECHATPAY_NOTIFY_URL="https://wuyepay.test/notify",
        WECHAT_APPID=cfg["appid"])
    client = client_from_config(config)
    assert client.jsapi_prepay("WYCONFIG01", "物业费", 1, OPENID, in_minutes())
    assert set(client.verifier.serials()) == {cfg["public_key_id"], *cfg["certificate_serials"]}
    client.transport.session.close()
    with pytest.raises(ValueError, match="WECHATPAY_APIV3_KEY"):
        client_from_config({**config.as_flask_mapping(), "WECHATPAY_APIV3_KEY": ""})
