"""Certificate parsing with pycryptodome's DER walk, cross-checked with ``cryptography`` (test-only)."""
from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

from payments import crypto
from payments.certs import generate_self_signed_certificate, normalize_serial, parse_certificate
from tests.payments import vectors as v

UTC = dt.timezone.utc


def test_go_certificate_serial_validity_and_key():
    info = parse_certificate(v.GO_CERTIFICATE)
    assert info.serial_no == v.GO_CERT_SERIAL
    assert info.not_before == dt.datetime(2021, 4, 27, 8, 55, 23, tzinfo=UTC)
    assert info.not_after == dt.datetime(2031, 4, 25, 8, 55, 23, tzinfo=UTC)
    go_key = crypto.load_private_key(v.GO_PRIVATE_KEY)
    assert info.public_key == go_key.public_key()     # vector 1's key pair (§11.1)


def test_java_vector_5_certificate_download_decrypts_to_the_announced_serial():
    item = v.JAVA_CERTIFICATES_RESPONSE["data"][0]
    enc = item["encrypt_certificate"]
    pem = crypto.aes_gcm_decrypt(v.JAVA_APIV3_KEY, enc["nonce"], enc["associated_data"], enc["ciphertext"])
    info = parse_certificate(pem)
    assert info.serial_no == item["serial_no"] == v.JAVA_CERT_SERIAL
    assert info.not_before == dt.datetime.fromisoformat(item["effective_time"])
    assert info.not_after == dt.datetime.fromisoformat(item["expire_time"])


def test_generated_certificate_is_a_valid_x509_for_an_independent_parser(key_pool):
    key = key_pool[3]
    pem, serial = generate_self_signed_certificate(key, common_name="测试 Sandbox")
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert format(cert.serial_number, "X") == serial and len(serial) == 40
    cert.public_key().verify(cert.signature, cert.tbs_certificate_bytes, PKCS1v15(), SHA256())
    info = parse_certificate(pem)
    assert info.serial_no == serial
    assert info.not_before == cert.not_valid_before_utc
    assert info.not_after == cert.not_valid_after_utc
    assert info.public_key == key.public_key()


def test_validity_window_is_checked(key_pool):
    start = dt.datetime(2030, 1, 1, tzinfo=UTC)
    pem, _ = generate_self_signed_certificate(key_pool[3], not_before=start,
                                              not_after=dt.datetime(2060, 1, 1, tzinfo=UTC))
    info = parse_certificate(pem)
    assert info.not_after.year == 2060                   # GeneralizedTime after 2049
    assert not info.is_valid_at(start - dt.timedelta(seconds=1))
    assert info.is_valid_at(start)
    assert info.is_valid_at(start.timestamp() + 10)


def test_serials_compare_without_case_or_leading_zeros():
    assert normalize_serial("00d7ce59d1f522d701") == normalize_serial("D7CE59D1F522D701")


@pytest.mark.parametrize("bad", ["", "not pem", v.DOC_PRIVATE_KEY])
def test_non_certificates_are_refused(bad):
    with pytest.raises(ValueError):
        parse_certificate(bad)
