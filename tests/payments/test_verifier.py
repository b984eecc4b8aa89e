"""Response/callback verification: key chosen by Wechatpay-Serial, 300 s window, typed failures (§2, R3)."""
from __future__ import annotations

import json
import threading
import time

import pytest

from payments import crypto
from payments.certs import generate_self_signed_certificate
from payments.exceptions import (
    DecryptError, InvalidSignature, MissingHeaders, StaleTimestamp, UnknownSerial,
)
from payments.verifier import WeChatPayVerifier
from tests.payments import vectors as v

NOW = int(time.time())
PUB_ID = "PUB_KEY_ID_0000000000000024101100397200000006"


class Clock:
    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


def signed(key, serial, body=b'{"ok":true}', ts=NOW, nonce="n" * 32, sig_type=crypto.SIGNATURE_TYPE):
    headers = {"Wechatpay-Timestamp": str(ts), "Wechatpay-Nonce": nonce, "Wechatpay-Serial": serial,
               "Wechatpay-Signature": crypto.sign(key, crypto.response_sign_message(ts, nonce, body))}
    if sig_type:
        headers["Wechatpay-Signature-Type"] = sig_type
    return headers, body


@pytest.fixture
def pub_verifier(key_pool):
    return WeChatPayVerifier(public_keys={PUB_ID: crypto.public_key_pem(key_pool[1])}, clock=Clock())


def test_go_vector_2_callback_verifies_and_decrypts_with_a_frozen_clock():
    verifier = WeChatPayVerifier(apiv3_key=v.GO_APIV3_KEY, certificates=[v.GO_CERTIFICATE],
                                 clock=Clock(v.GO_NOTIFY_TIME))
    envelope, data = verifier.verify_notification(v.GO_NOTIFY_HEADERS, v.GO_NOTIFY_BODY.encode())
    assert envelope["id"] == "3119dfba-e649-5eec-ab1e-3412bc4d2e17"
    assert "ciphertext" not in envelope["resource"]
    assert data == json.loads(v.GO_NOTIFY_PLAINTEXT)


@pytest.mark.parametrize("offset,ok", [(-301, False), (-300, True), (0, True), (300, True), (301, False)])
def test_timestamp_must_be_within_300_seconds(pub_verifier, key_pool, offset, ok):
    headers, body = signed(key_pool[1], PUB_ID, ts=NOW + offset)
    if ok:
        assert pub_verifier.verify(headers, body) == PUB_ID
    else:
        with pytest.raises(StaleTimestamp):
            pub_verifier.verify(headers, body)


def test_tampered_body_fails(pub_verifier, key_pool):
    headers, body = signed(key_pool[1], PUB_ID, body=b'{"amount":1}')
    with pytest.raises(InvalidSignature):
        pub_verifier.verify(headers, b'{"amount":2}')


def test_probe_signature_fails_like_any_bad_signature(pub_verifier, key_pool):
    headers, body = signed(key_pool[1], PUB_ID)
    headers["Wechatpay-Signature"] = "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]
    with pytest.raises(InvalidSignature, match="probe"):
        pub_verifier.verify(headers, body)


@pytest.mark.parametrize("missing", ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature",
                                     "Wechatpay-Serial"])
def test_each_missing_header_fails(pub_verifier, key_pool, missing):
    headers, body = signed(key_pool[1], PUB_ID)
    del headers[missing]
    with pytest.raises(MissingHeaders):
        pub_verifier.verify(headers, body)


def test_header_names_are_case_insensitive_and_signature_type_may_be_absent(pub_verifier, key_pool):
    headers, body = signed(key_pool[1], PUB_ID, sig_type=None)
    assert pub_verifier.verify({k.lower(): val for k, val in headers.items()}, body) == PUB_ID


def test_another_signature_type_is_refused(pub_verifier, key_pool):
    headers, body = signed(key_pool[1], PUB_ID, sig_type="WECHATPAY2-SM2-WITH-SM3")
    with pytest.raises(InvalidSignature):
        pub_verifier.verify(headers, body)


def test_unknown_serial_and_wrong_key_fail(pub_verifier, key_pool):
    with pytest.raises(UnknownSerial):
        pub_verifier.verify(*signed(key_pool[1], "PUB_KEY_ID_OTHER"))
    with pytest.raises(InvalidSignature):
        pub_verifier.verify(*signed(key_pool[0], PUB_ID))


def test_rotation_old_and_new_public_keys_and_certificates_verify_together(key_pool):
    cert_pem, cert_serial = generate_self_signed_certificate(key_pool[0])
    verifier = WeChatPayVerifier(public_keys={PUB_ID: crypto.public_key_pem(key_pool[1])},
                                 certificates=[cert_pem], clock=lambda: NOW)
    verifier.add_public_key("PUB_KEY_ID_NEW", crypto.public_key_pem(key_pool[3]))
    assert verifier.verify(*signed(key_pool[1], PUB_ID)) == PUB_ID
    assert verifier.verify(*signed(key_pool[3], "PUB_KEY_ID_NEW")) == "PUB_KEY_ID_NEW"
    assert verifier.verify(*signed(key_pool[0], cert_serial.lower())) == cert_serial.lower()
    assert verifier.request_serial == "PUB_KEY_ID_NEW"


def test_expired_certificate_no_longer_verifies(key_pool):
    import datetime as dt
    utc = dt.timezone.utc
    pem, serial = generate_self_signed_certificate(
        key_pool[0], not_before=dt.datetime(2020, 1, 1, tzinfo=utc),
        not_after=dt.datetime(2021, 1, 1, tzinfo=utc))
    verifier = WeChatPayVerifier(certificates=[pem], clock=lambda: NOW)
    with pytest.raises(UnknownSerial):
        verifier.verify(*signed(key_pool[0], serial))


def _certificates_answer(key_pool, apiv3_key, serials_keys, signer, signer_serial, ts=NOW):
    data = []
    for key in serials_keys:
        pem, serial = generate_self_signed_certificate(key)
        nonce = crypto.new_resource_nonce()
        data.append({"serial_no": serial, "effective_time": "", "expire_time": "",
                     "encrypt_certificate": {
                         "algorithm": "AEAD_AES_256_GCM", "associated_data": "certificate", "nonce": nonce,
                         "ciphertext": crypto.aes_gcm_encrypt(apiv3_key, nonce, "certificate", pem)}})
    body = json.dumps({"data": data}).encode()
    serial = signer_serial or data[0]["serial_no"]
    headers, _ = signed(signer, serial, body=body, ts=ts)
    return headers, body, [d["serial_no"] for d in data]


def test_certificate_download_is_decrypted_checked_and_installed(key_pool):
    key = "0123456789abcdef0123456789abcdef"
    headers, body, serials = _certificates_answer(key_pool, key, [key_pool[0]], key_pool[0], None)
    verifier = WeChatPayVerifier(apiv3_key=key, clock=lambda: NOW + 0)
    installed = verifier.install_certificates(headers, body)
    assert [c.serial_no for c in installed] == serials
    assert verifier.request_serial == serials[0]


def test_certificate_download_signed_by_nobody_we_know_is_refused(key_pool):
    key = "0123456789abcdef0123456789abcdef"
    headers, body, _ = _certificates_answer(key_pool, key, [key_pool[0]], key_pool[3], None)
    verifier = WeChatPayVerifier(apiv3_key=key, clock=lambda: NOW)
    with pytest.raises(InvalidSignature):
        verifier.install_certificates(headers, body)
    assert verifier.serials() == []


def test_certificate_download_with_a_wrong_apiv3_key_is_refused(key_pool):
    headers, body, _ = _certificates_answer(key_pool, "a" * 32, [key_pool[0]], key_pool[0], None)
    with pytest.raises(DecryptError):
        WeChatPayVerifier(apiv3_key="b" * 32, clock=lambda: NOW).install_certificates(headers, body)


def test_a_flood_of_unknown_serials_triggers_at_most_one_refresh_per_minute(key_pool):
    clock = Clock()
    calls = []
    gate = threading.Event()

    def fetch():
        calls.append(clock())
        gate.wait(0.2)                       # a slow download while the flood keeps coming
        return {}, b'{"data": []}'

    verifier = WeChatPayVerifier(apiv3_key="k" * 32, use_platform_certificates=True,
                                 fetch_certificates=fetch, clock=clock)
    verifier._last_success = NOW             # daily refresh not due: only unknown serials refresh
    headers, body = signed(key_pool[0], "ABCDEF")
    errors = []

    def attempt():
        try:
            verifier.verify(headers, body)
        except UnknownSerial as exc:
            errors.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 40 and len(calls) == 1
    clock.now += 59
    with pytest.raises(UnknownSerial):
        verifier.verify(*signed(key_pool[0], "ABCDEF", ts=clock.now))
    assert len(calls) == 1
    clock.now += 2
    with pytest.raises(UnknownSerial):
        verifier.verify(*signed(key_pool[0], "ABCDEF", ts=clock.now))
    assert len(calls) == 2


def test_certificates_are_downloaded_on_first_use_then_refreshed_daily(key_pool):
    clock, apiv3_key, calls = Clock(), "k" * 32, []

    def fetch():
        calls.append(clock())
        headers, body, _ = _certificates_answer(key_pool, apiv3_key, [key_pool[0]], key_pool[0], None,
                                                ts=clock())
        return headers, body

    verifier = WeChatPayVerifier(apiv3_key=apiv3_key,
                                 public_keys={PUB_ID: crypto.public_key_pem(key_pool[1])},
                                 use_platform_certificates=True, clock=clock, fetch_certificates=fetch)
    verifier.verify(*signed(key_pool[1], PUB_ID))
    verifier.verify(*signed(key_pool[1], PUB_ID))
    assert len(calls) == 1
    clock.now += 24 * 3600 - 1
    verifier.verify(*signed(key_pool[1], PUB_ID, ts=clock.now))
    assert len(calls) == 1
    clock.now += 1
    verifier.verify(*signed(key_pool[1], PUB_ID, ts=clock.now))
    assert len(calls) == 2 and len(verifier.serials()) == 3     # the public key + two certificates


def test_repr_shows_no_apiv3_key():
    verifier = WeChatPayVerifier(apiv3_key="SECRETAPIV3KEY00SECRETAPIV3KEY00")
    assert "SECRET" not in repr(verifier)
