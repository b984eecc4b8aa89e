"""The sandbox checks our Authorization like WeChat (§1), signs every answer (§2), mounts under a prefix."""
from __future__ import annotations

import threading
import time

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from payments import crypto
from payments.sandbox import SandboxState, mount_sandbox
from payments.sandbox.server import _QuietHandler
from payments.verifier import WeChatPayVerifier
from tests.payments.conftest import OPENID, in_minutes, public_key_verifier

PATH = "/v3/pay/transactions/out-trade-no/WYAUTH0001?mchid=1900000109"


def _header(merchant, method="GET", url=PATH, body=b"", ts=None, order=None):
    ts = int(time.time()) if ts is None else ts
    nonce = crypto.new_nonce()
    pairs = {"mchid": "1900000109", "nonce_str": nonce, "timestamp": str(ts), "serial_no": merchant.serial,
             "signature": crypto.sign(merchant.key,
                                      crypto.request_sign_message(method, url, ts, nonce, body))}
    order = order or list(pairs)
    return "WECHATPAY2-SHA256-RSA2048 " + ",".join(f'{k}="{pairs[k]}"' for k in order)


def test_pairs_in_the_php_sdks_order_are_accepted(sandbox, merchant, pay_client):
    pay_client.jsapi_prepay("WYAUTH0001", "物业费", 1, OPENID, in_minutes())
    header = _header(merchant, order=["mchid", "serial_no", "timestamp", "nonce_str", "signature"])
    answer = requests.get(sandbox.url(PATH), headers={"Authorization": header}, timeout=5)
    assert answer.status_code == 200
    verifier = public_key_verifier(sandbox.state, clock=sandbox.state.now)
    verifier.add_certificate(sandbox.state.certificates()[0].certificate_pem)
    assert verifier.verify(answer.headers, answer.content) == sandbox.state.active_certificate


@pytest.mark.parametrize("authorization", [None, "Basic abc", 'WECHATPAY2-SHA256-RSA2048 mchid="1900000109"'])
def test_missing_or_malformed_authorization_is_401_sign_error(sandbox, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    answer = requests.get(sandbox.url(PATH), headers=headers, timeout=5)
    assert answer.status_code == 401 and answer.json()["code"] == "SIGN_ERROR"


@pytest.mark.parametrize("skew,status", [(-298, 404), (298, 404), (-302, 401), (302, 401)])
def test_request_timestamp_skew_over_five_minutes_is_rejected(sandbox, merchant, skew, status):
    header = _header(merchant, ts=int(sandbox.state.now()) + skew)
    assert requests.get(sandbox.url(PATH), headers={"Authorization": header}, timeout=5).status_code == status


def test_a_body_changed_after_signing_is_401_with_sign_information(sandbox, merchant):
    body = crypto.serialize_body({"mchid": "1900000109"})
    url = "/v3/pay/transactions/out-trade-no/WYAUTH0001/close"
    header = _header(merchant, "POST", url, body)
    answer = requests.post(sandbox.url(url), data=body.replace(b"109", b"108"), timeout=5,
                           headers={"Authorization": header, "Content-Type": "application/json"})
    error = answer.json()
    assert answer.status_code == 401 and error["code"] == "SIGN_ERROR"
    assert error["detail"]["sign_information"]["method"] == "POST"


def test_every_v3_answer_is_signed_even_errors(sandbox):
    answer = requests.get(sandbox.url(PATH), timeout=5)
    assert answer.status_code == 401 and answer.headers["Request-ID"]
    assert answer.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    verifier = WeChatPayVerifier(certificates=[k.certificate_pem for k in sandbox.state.certificates()],
                                 clock=sandbox.state.now)
    verifier.verify(answer.headers, answer.content)


def test_responses_are_signed_with_the_public_key_only_when_asked_for_it(make_client, sandbox):
    pub = make_client("public_key")
    pub.jsapi_prepay("WYAUTH0002", "物业费", 1, OPENID, in_minutes())
    cert = make_client("certificate")
    cert.query_by_out_trade_no("WYAUTH0002")
    assert cert.verifier.serials() == [sandbox.state.active_certificate]


@pytest.fixture
def mounted(key_pool, merchant):
    """The sandbox mounted under a prefix inside another Flask app, as in demo mode."""
    state = SandboxState(platform_key=key_pool[0], public_key=key_pool[1], refund_delay=-1,
                         bills_available_immediately=True)
    host = Flask("wuyepay-demo")
    prefix = mount_sandbox(host, state, "/_sandbox/wechat")
    server = make_server("127.0.0.1", 0, host, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_port}{prefix}"
    state.register_merchant_key(merchant.serial, merchant.cert_pem)
    yield state
    state.close()
    server.shutdown()
    thread.join(timeout=5)
    server.server_close()


def test_the_sandbox_works_mounted_under_a_prefix(mounted, merchant):
    from payments.client import WeChatPayClient
    client = WeChatPayClient(mounted.mchid, merchant.serial, merchant.key_pem, mounted.apiv3_key,
                             mounted.base_url, public_key_verifier(mounted), mounted.appid,
                             "https://wuyepay.test/notify", timeout=(2, 5))
    prepay_id = client.jsapi_prepay("WYMOUNT001", "物业费", 100, OPENID, in_minutes())
    assert requests.post(f"{mounted.base_url}/sandbox/pay/{prepay_id}", json={}, timeout=5).json()["ok"]
    info = client.trade_bill(time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600)))
    assert info["download_url"].startswith(mounted.base_url + "/v3/billdownload/file?token=")
    assert client.download_bill(info["download_url"], info["hash_value"]).startswith(b"\xef\xbb\xbf")
    code = mounted.mp.issue_login_code()
    answer = requests.get(f"{mounted.base_url}/sns/jscode2session", timeout=5, params={
        "appid": mounted.appid, "secret": mounted.app_secret, "js_code": code,
        "grant_type": "authorization_code"})
    assert answer.json()["openid"]
    client.transport.session.close()
