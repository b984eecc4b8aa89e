"""Known-answer tests from wechat-pay-v3.md §11 and the §1–§5 formats."""
from __future__ import annotations

import json
import re

import pytest

from payments import crypto
from payments.exceptions import DecryptError
from tests.payments import vectors as v


def test_go_vector_1_rsa_sha256_signature_matches_the_published_one():
    key = crypto.load_private_key(v.GO_PRIVATE_KEY)
    assert crypto.sign(key, v.GO_SIGN_MESSAGE) == v.GO_SIGNATURE
    assert crypto.verify(key.public_key(), v.GO_SIGN_MESSAGE, v.GO_SIGNATURE)


def test_wechatpy_vector_6_pkcs1_key_signs_an_empty_get_like_wechatpy():
    key = crypto.load_private_key(v.WECHATPY_PRIVATE_KEY)        # BEGIN RSA PRIVATE KEY
    message = crypto.request_sign_message("GET", "test", 1651854037,
                                          "1E3A8D73B5A4AEE787C0F68B5DAB8520", b"")
    assert message.decode() == v.WECHATPY_MESSAGE
    assert crypto.sign(key, message) == v.WECHATPY_SIGNATURE


def test_doc_vector_7_authorization_header_for_the_sample_jsapi_order():
    key = crypto.load_private_key(v.DOC_PRIVATE_KEY)
    header = crypto.build_authorization(
        mchid=v.DOC_MCHID, serial_no=v.DOC_SERIAL, private_key=key, method="POST",
        canonical_url="/v3/pay/transactions/jsapi", body=v.DOC_BODY, timestamp=v.DOC_TIMESTAMP,
        nonce=v.DOC_NONCE)
    assert header.startswith("WECHATPAY2-SHA256-RSA2048 mchid=")
    assert " " not in header.split(" ", 1)[1]
    pairs = crypto.parse_authorization(header)
    assert pairs == {"mchid": v.DOC_MCHID, "nonce_str": v.DOC_NONCE, "timestamp": str(v.DOC_TIMESTAMP),
                     "serial_no": v.DOC_SERIAL, "signature": v.DOC_SIGNATURE}


def test_vector_8_pay_sign_for_wx_request_payment():
    key = crypto.load_private_key(v.GO_PRIVATE_KEY)
    assert crypto.pay_sign(key, *v.PAYSIGN_FIELDS) == v.PAYSIGN


def test_vector_8_empty_body_response_message_ends_with_two_newlines():
    key = crypto.load_private_key(v.GO_PRIVATE_KEY)
    message = crypto.response_sign_message(*v.EMPTY_RESPONSE, b"")
    assert message == b"1700000000\nfdasflkja484w\n\n"
    assert crypto.sign(key, message) == v.EMPTY_RESPONSE_SIGNATURE


def test_go_vector_3_aes_gcm_with_a_16_byte_key():
    d = v.GO_AES
    assert crypto.aes_gcm_decrypt(d["key"], d["nonce"], d["aad"], d["ciphertext"]) == d["plaintext"]


def test_java_vector_4_aes_256_gcm():
    d = v.JAVA_AES
    assert crypto.aes_gcm_decrypt(d["key"], d["nonce"], d["aad"], d["ciphertext"]) == d["plaintext"]


def test_go_vector_2_callback_resource_decrypts_to_the_published_plaintext():
    resource = json.loads(v.GO_NOTIFY_BODY)["resource"]
    plaintext = crypto.aes_gcm_decrypt(v.GO_APIV3_KEY, resource["nonce"], resource["associated_data"],
                                       resource["ciphertext"])
    assert plaintext.decode() == v.GO_NOTIFY_PLAINTEXT


@pytest.mark.parametrize("change", ["key", "aad", "nonce", "ciphertext"])
def test_aes_gcm_rejects_any_tampering(change):
    d = dict(v.JAVA_AES)
    if change == "key":
        d["key"] = "b" + d["key"][1:]
    elif change == "aad":
        d["aad"] = "certificate"
    elif change == "nonce":
        d["nonce"] = "uluk4a9R25RX"
    else:
        d["ciphertext"] = "A" + d["ciphertext"][1:]
    with pytest.raises(DecryptError):
        crypto.aes_gcm_decrypt(d["key"], d["nonce"], d["aad"], d["ciphertext"])


def test_aes_gcm_rejects_keys_that_are_neither_16_nor_32_bytes():
    with pytest.raises(DecryptError):
        crypto.aes_gcm_decrypt("short", "uluk4a9R25RW", "", v.JAVA_AES["ciphertext"])


def test_aes_gcm_encrypt_round_trips_with_empty_associated_data():
    key = "k" * 32
    ct = crypto.aes_gcm_encrypt(key, "abcdefghijkl", None, "物业费".encode())
    assert crypto.aes_gcm_decrypt(key, "abcdefghijkl", "", ct) == "物业费".encode()


def test_nonce_is_32_alphanumeric_characters_and_not_repeated():
    nonces = {crypto.new_nonce() for _ in range(200)}
    assert len(nonces) == 200
    assert all(re.fullmatch(r"[0-9A-Za-z]{32}", n) for n in nonces)


def test_body_is_serialized_once_as_compact_utf8_json():
    body = crypto.serialize_body({"description": "物业费", "amount": {"total": 1}})
    assert body == '{"description":"物业费","amount":{"total":1}}'.encode()


def test_request_message_for_get_has_empty_body_line():
    assert crypto.request_sign_message("get", "/v3/x?mchid=1", 1, "n") == b"GET\n/v3/x?mchid=1\n1\nn\n\n"


def test_authorization_pairs_parse_in_any_order_like_the_php_sdk():
    header = ('WECHATPAY2-SHA256-RSA2048 mchid="1",serial_no="AB",timestamp="2",'
              'nonce_str="n",signature="c2ln"')
    assert crypto.parse_authorization(header)["serial_no"] == "AB"


@pytest.mark.parametrize("header", [
    "", 'Bearer x', 'WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n"',
    'WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2",nonce_str="n",timestamp="1",serial_no="A",signature="s"',
    'WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str="n",timestamp="1",serial_no="A",signature="s"',
])
def test_malformed_authorization_headers_are_refused(header):
    with pytest.raises(ValueError):
        crypto.parse_authorization(header)


def test_probe_and_malformed_signatures_never_verify():
    key = crypto.load_private_key(v.GO_PRIVATE_KEY).public_key()
    assert not crypto.verify(key, v.GO_SIGN_MESSAGE, "WECHATPAY/SIGNTEST/" + v.GO_SIGNATURE)
    assert not crypto.verify(key, v.GO_SIGN_MESSAGE, "not base64!")
    assert not crypto.verify(key, v.GO_SIGN_MESSAGE, "")
    assert not crypto.verify(key, v.GO_SIGN_MESSAGE + "x", v.GO_SIGNATURE)


def test_private_key_loading_accepts_pkcs8_and_pkcs1_and_hides_bad_input():
    assert crypto.load_private_key(v.DOC_PRIVATE_KEY).has_private()
    assert crypto.load_private_key(v.WECHATPY_PRIVATE_KEY).has_private()
    secret_looking = "-----BEGIN PRIVATE KEY-----\nTOPSECRETMATERIAL\n-----END PRIVATE KEY-----"
    with pytest.raises(ValueError) as info:
        crypto.load_private_key(secret_looking)
    assert "TOPSECRET" not in str(info.value)
    with pytest.raises(ValueError):
        crypto.load_private_key(crypto.public_key_pem(crypto.load_private_key(v.DOC_PRIVATE_KEY)))
