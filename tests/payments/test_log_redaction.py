"""Logs never contain the APIv3 key, the private key, ciphertext or openids in clear (R17)."""
from __future__ import annotations

import json
import logging
import re

from payments.redact import redact, redact_url
from tests.payments.conftest import OPENID, in_minutes
from tests.payments.test_sandbox_callbacks import both_modes_verifier


def test_a_full_flow_at_debug_level_logs_no_secret_or_personal_data(make_client, sandbox, sink, merchant,
                                                                     caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client("certificate", notify_url=sink.url)
    prepay_id = client.jsapi_prepay("WYLOG00001", "物业费", 100, OPENID, in_minutes())
    pay_params = client.mini_program_pay_params(prepay_id)
    sandbox.state.ledger.pay(prepay_id)
    client.refund("RFLOG00001", 50, 100, "退", out_trade_no="WYLOG00001")
    sandbox.state.set_faults(probe_responses=1)
    try:
        client.query_by_out_trade_no("WYLOG00001")
    except Exception:
        pass
    assert sandbox.state.notifier.wait_for(lambda n: len(sink.received) >= 2)
    ciphertexts = []
    verifier = both_modes_verifier(sandbox.state)
    for received in sink.received:
        ciphertexts.append(json.loads(received["body"])["resource"]["ciphertext"])
        verifier.verify_notification(received["headers"], received["body"])
    cert_answer = client.fetch_certificates_response()[1]
    ciphertexts += [d["encrypt_certificate"]["ciphertext"] for d in json.loads(cert_answer)["data"]]

    text = caplog.text
    assert "wechatpay POST" in text and "request_id=" in text          # something was logged
    assert "'openid': '***'" in text                            # the debug body, masked
    assert sandbox.state.apiv3_key not in text
    assert OPENID not in text
    assert pay_params["paySign"] not in text
    for ct in ciphertexts:
        assert ct[:24] not in text
    key_lines = [line for line in merchant.key_pem.splitlines() if not line.startswith("-----")]
    assert not any(line in text for line in key_lines)
    assert not re.search(r"PRIVATE KEY", text)


def test_redaction_masks_nested_fields_and_url_tokens():
    data = {"payer": {"openid": OPENID}, "resource": {"ciphertext": "abc", "nonce": "n"},
            "amount": {"total": 1}}
    assert redact(data) == {"payer": {"openid": "***"}, "resource": {"ciphertext": "***", "nonce": "n"},
                            "amount": {"total": 1}}
    assert redact_url("https://h/v3/billdownload/file?token=SECRET&x=1") == \
        "https://h/v3/billdownload/file?token=***&x=1"


def test_client_repr_shows_no_key(pay_client, sandbox):
    assert sandbox.state.apiv3_key not in repr(pay_client) and "PRIVATE" not in repr(pay_client)
