"""Cross-check with an independent implementation, wechatpayv3 (test-only, §10).

Its gateway is a private attribute (``wxpay._core._gate_way``); public-key mode
makes no network call in its constructor, certificate mode reads a pre-seeded
``cert_dir``.  It verifies every 2xx answer and raises otherwise, so each call
below that succeeds proves the sandbox's answers verify with it, and the
sandbox's acceptance proves its requests' signatures verify with ours.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3 import utils as v3utils

from payments import crypto
from tests.payments.conftest import OPENID, in_minutes


@pytest.fixture
def wxpay_factory(sandbox, merchant, tmp_path):
    def make(mode: str = "public_key", notify_url: str = "https://wuyepay.test/notify") -> WeChatPay:
        cfg = sandbox.state.public_config(include_secret=True)
        kwargs = {}
        if mode == "public_key":
            kwargs = {"public_key": cfg["public_key_pem"], "public_key_id": cfg["public_key_id"]}
        else:
            cert_dir = tmp_path / "wechatpay-certs"
            cert_dir.mkdir(exist_ok=True)
            for serial, pem in zip(cfg["certificate_serials"], cfg["certificates"]):
                (cert_dir / f"{serial}.pem").write_text(pem)
            kwargs = {"cert_dir": str(cert_dir)}
        wxpay = WeChatPay(wechatpay_type=WeChatPayType.MINIPROG, mchid=cfg["mchid"],
                          private_key=merchant.key_pem, cert_serial_no=merchant.serial, appid=cfg["appid"],
                          apiv3_key=cfg["apiv3_key"], notify_url=notify_url, timeout=(2, 5), **kwargs)
        wxpay._core._gate_way = sandbox.base_url
        return wxpay
    return make


def test_our_request_signature_is_byte_identical_to_wechatpayv3s(merchant, monkeypatch):
    body = crypto.serialize_body({"mchid": "1900000109", "description": "物业费"})
    monkeypatch.setattr(v3utils.time, "time", lambda: 1700000000)
    theirs = v3utils.build_authorization("/v3/pay/transactions/jsapi", "POST", "1900000109", merchant.serial,
                                         v3utils.load_private_key(merchant.key_pem),
                                         data=body.decode("utf-8"), nonce_str="N" * 32)
    ours = crypto.build_authorization(mchid="1900000109", serial_no=merchant.serial, private_key=merchant.key,
                                      method="POST", canonical_url="/v3/pay/transactions/jsapi", body=body,
                                      timestamp=1700000000, nonce="N" * 32)
    assert crypto.parse_authorization(ours) == crypto.parse_authorization(theirs)
    public = load_pem_public_key(crypto.public_key_pem(merchant.key).encode())
    message = crypto.request_sign_message("POST", "/v3/pay/transactions/jsapi", 1700000000, "N" * 32, body)
    public.verify(base64.b64decode(crypto.parse_authorization(ours)["signature"]), message,
                  PKCS1v15(), SHA256())


def test_pay_sign_is_identical_to_wechatpayv3s(wxpay_factory, merchant):
    wxpay = wxpay_factory()
    fields = ["wxd0000000000sandbox", "1414561699", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", "prepay_id=wx2014"]
    assert wxpay.sign(fields) == crypto.pay_sign(merchant.key, *fields)


@pytest.mark.parametrize("mode", ["public_key", "certificate"])
def test_wechatpayv3_runs_the_whole_flow_against_the_sandbox(wxpay_factory, sandbox, mode):
    wxpay = wxpay_factory(mode)
    code, text = wxpay.pay(description="物业费", out_trade_no="WYV3000001", amount={"total": 1234},
                           payer={"openid": OPENID}, time_expire="2099-01-01T00:00:00+08:00")
    assert code == 200, text
    prepay_id = json.loads(text)["prepay_id"]
    sandbox.state.ledger.pay(prepay_id)
    code, text = wxpay.query(out_trade_no="WYV3000001")
    assert code == 200 and json.loads(text)["trade_state"] == "SUCCESS"
    code, text = wxpay.refund(out_refund_no="RFV3000001", out_trade_no="WYV3000001",
                              amount={"refund": 234, "total": 1234, "currency": "CNY"})
    assert code == 200 and json.loads(text)["status"] == "PROCESSING"
    assert sandbox.state.notifier.wait_for(
        lambda n: sandbox.state.ledger.get_refund("RFV3000001").status == "SUCCESS")
    code, text = wxpay.query_refund(out_refund_no="RFV3000001")
    assert code == 200 and json.loads(text)["status"] == "SUCCESS"
    code, text = wxpay.pay(description="停车费", out_trade_no="WYV3000002", amount={"total": 1},
                           payer={"openid": OPENID})
    assert code == 200
    code, _ = wxpay.close(out_trade_no="WYV3000002")
    assert code == 204
    code, text = wxpay.query(out_trade_no="WYV3000002")
    assert json.loads(text)["trade_state"] == "CLOSED"


def test_wechatpayv3_downloads_the_gzip_trade_bill_and_its_sha1_matches(wxpay_factory, sandbox):
    import datetime as dt
    from payments.sandbox.ledger import CST
    wxpay = wxpay_factory()
    code, text = wxpay.pay(description="物业费", out_trade_no="WYV3BILL01", amount={"total": 500},
                           payer={"openid": OPENID})
    sandbox.state.ledger.pay(json.loads(text)["prepay_id"])
    day = dt.datetime.fromtimestamp(sandbox.state.now(), CST).date().isoformat()
    code, text = wxpay.trade_bill(bill_date=day)                         # tar_type GZIP by default
    assert code == 200
    info = json.loads(text)
    code, content = wxpay.download_bill(info["download_url"])
    assert code == 200 and isinstance(content, bytes)
    assert hashlib.sha1(gzip.decompress(content)).hexdigest() == info["hash_value"]


@pytest.mark.parametrize("sandbox_options", [{"callback_signing": "alternate"}])
def test_sandbox_callbacks_verify_and_decrypt_with_wechatpayv3(wxpay_factory, make_client, sandbox, sink):
    client = make_client(notify_url=sink.url)
    for n in range(2):
        sandbox.state.ledger.pay(client.jsapi_prepay(f"WYV3CB000{n}", "物业费", 300 + n, OPENID, in_minutes()))
    assert sandbox.state.notifier.wait_for(lambda n: len(sink.received) == 2)
    cfg = sandbox.state.public_config()
    wxpay = wxpay_factory("public_key")
    wxpay._core._certificates.extend(                      # public key and certificate at once
        v3utils.load_certificate(pem) for pem in cfg["certificates"])
    serials = set()
    for received in sink.received:
        result = wxpay.callback(received["headers"], received["body"])
        assert result is not None, "wechatpayv3 refused the callback"
        assert result["event_type"] == "TRANSACTION.SUCCESS"
        assert result["resource"]["payer"]["openid"] == OPENID
        serials.add(received["headers"]["Wechatpay-Serial"])
    assert len(serials) == 2


def test_wechatpayv3_refuses_a_tampered_sandbox_callback(wxpay_factory, make_client, sandbox, sink):
    client = make_client(notify_url=sink.url)
    sandbox.state.ledger.pay(client.jsapi_prepay("WYV3CB0009", "物业费", 300, OPENID, in_minutes()))
    assert sandbox.state.notifier.wait_for(lambda n: len(sink.received) == 1)
    wxpay = wxpay_factory("certificate")
    body = sink.received[0]["body"].replace(b"TRANSACTION.SUCCESS", b"TRANSACTION.SUCCESX")
    assert wxpay.callback(sink.received[0]["headers"], body) is None
