"""X.509 certificates with pycryptodome only (wechat-pay-v3.md §2, §8).

pycryptodome imports an RSA key from a certificate but does not expose the
serial number or validity, so :func:`parse_certificate` walks the DER with
``Crypto.Util.asn1``.  We do not depend on the ``cryptography`` package at run
time: it is only installed as a dependency of the test-only ``wechatpayv3``.

:func:`generate_self_signed_certificate` makes the platform and merchant
certificates of the sandbox and the tests.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

from Crypto.Hash import SHA256
from Crypto.IO import PEM
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15
from Crypto.Util.asn1 import (
    DerBitString, DerInteger, DerNull, DerObject, DerObjectId, DerSequence, DerSetOf,
)

_SHA256_WITH_RSA = "1.2.840.113549.1.1.11"
_OID_CN, _OID_O, _OID_C = "2.5.4.3", "2.5.4.10", "2.5.4.6"
_UTC = dt.timezone.utc


@dataclasses.dataclass(frozen=True)
class CertificateInfo:
    """What we need from a certificate: serial (upper-case hex), validity, key."""

    serial_no: str
    not_before: dt.datetime
    not_after: dt.datetime
    public_key: RSA.RsaKey
    pem: str

    def is_valid_at(self, when: dt.datetime | float) -> bool:
        if not isinstance(when, dt.datetime):
            when = dt.datetime.fromtimestamp(when, _UTC)
        return self.not_before <= when <= self.not_after


def serial_to_hex(serial: int) -> str:
    """``format(cert.serial_number, 'X')`` as in §8 (no zero padding)."""
    return format(serial, "X")


def normalize_serial(serial: str) -> str:
    """Compare certificate serials as numbers: case and leading zeros do not matter."""
    text = (serial or "").strip().upper().lstrip("0")
    return text or "0"


def _pem_to_der(pem: str | bytes) -> bytes:
    text = pem.decode("ascii") if isinstance(pem, bytes) else pem
    try:
        der, marker, _ = PEM.decode(text.strip())
    except (ValueError, IndexError, TypeError):
        raise ValueError("not a PEM certificate") from None
    if marker != "CERTIFICATE":
        raise ValueError(f"expected a CERTIFICATE PEM, got {marker!r}")
    return der


def _parse_time(raw: bytes) -> dt.datetime:
    obj = DerObject()
    obj.decode(raw)
    text = obj.payload.decode("ascii")
    if not text.endswith("Z"):
        raise ValueError("certificate time must be in UTC (Z)")
    if obj._tag_octet == 0x17:          # UTCTime YYMMDDHHMMSSZ (RFC 5280 4.1.2.5.1)
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    elif obj._tag_octet != 0x18:        # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError("unknown certificate time type")
    return dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=_UTC)


def parse_certificate(pem: str | bytes) -> CertificateInfo:
    """Serial, validity and RSA public key of a PEM X.509 certificate (§8).

    Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue };
    TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature,
    issuer, validity SEQUENCE { notBefore, notAfter }, subject, subjectPublicKeyInfo, … }.
    """
    der = _pem_to_der(pem)
    try:
        cert = DerSequence().decode(der)
        tbs = DerSequence().decode(cert[0])
        offset = 1 if isinstance(tbs[0], bytes) and tbs[0][:1] == b"\xa0" else 0
        serial = tbs[offset]
        if not isinstance(serial, int) or serial < 0:
            raise ValueError("bad serial number")
        validity = DerSequence().decode(tbs[offset + 3])
        not_before, not_after = _parse_time(validity[0]), _parse_time(validity[1])
        public_key = RSA.import_key(der).public_key()
    except (ValueError, IndexError, TypeError, EOFError) as exc:
        raise ValueError(f"cannot parse the X.509 certificate: {exc}") from None
    text = pem.decode("ascii") if isinstance(pem, bytes) else pem
    return CertificateInfo(serial_to_hex(serial), not_before, not_after, public_key, text)


# ------------------------------------------------------------- self-signed certs
def _name(common_name: str, organization: str) -> DerSequence:
    def rdn(oid: str, tag: int, value: str) -> DerSetOf:
        atv = DerSequence([DerObjectId(oid), DerObject(tag, value.encode("utf-8"))])
        return DerSetOf([atv])
    return DerSequence([
        rdn(_OID_C, 0x13, "CN"),                 # PrintableString
        rdn(_OID_O, 0x0C, organization),         # UTF8String
        rdn(_OID_CN, 0x0C, common_name),
    ])


def _der_time(when: dt.datetime) -> DerObject:
    when = when.astimezone(_UTC)
    if 1950 <= when.year < 2050:
        return DerObject(0x17, when.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return DerObject(0x18, when.strftime("%Y%m%d%H%M%SZ").encode("ascii"))


def random_serial() -> int:
    """160-bit positive serial whose hex form has exactly 40 digits, like WeChat's."""
    return (1 << 156) + secrets.randbelow((1 << 159) - (1 << 156))


def generate_self_signed_certificate(private_key: RSA.RsaKey, *, common_name: str = "WeChat Pay Sandbox",
                                     organization: str = "WuyePay Sandbox", serial: int | None = None,
                                     not_before: dt.datetime | None = None,
                                     not_after: dt.datetime | None = None) -> tuple[str, str]:
    """A v3 self-signed SHA256-with-RSA certificate: ``(pem, serial_hex)``.

    For the sandbox and tests only (WeChat's real certificates come from its CA).
    Default validity: from one day ago for five years, as WeChat's (§8).
    """
    now = dt.datetime.now(_UTC).replace(microsecond=0)
    not_before = not_before or now - dt.timedelta(days=1)
    not_after = not_after or not_before + dt.timedelta(days=5 * 365)
    serial = random_serial() if serial is None else serial
    algorithm = DerSequence([DerObjectId(_SHA256_WITH_RSA), DerNull()])
    name = _name(common_name, organization)
    spki = private_key.public_key().export_key(format="DER")
    tbs = DerSequence([
        DerInteger(2, explicit=0),                 # version v3
        DerInteger(serial),
        algorithm,
        name,
        DerSequence([_der_time(not_before), _der_time(not_after)]),
        name,
        spki,                                      # pre-encoded bytes are kept as they are
    ]).encode()
    signature = pkcs1_15.new(private_key).sign(SHA256.new(tbs))
    cert = DerSequence([tbs, algorithm, DerBitString(signature)]).encode()
    return PEM.encode(cert, "CERTIFICATE") + "\n", serial_to_hex(serial)
