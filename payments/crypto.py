"""WeChat Pay API v3 cryptography on pycryptodome (wechat-pay-v3.md §1, §2, §3, §5).

Pure functions, no I/O.  Bodies are bytes: serialize once with
:func:`serialize_body`, sign those bytes and send those bytes (§1).
Certificate parsing lives in :mod:`payments.certs` and is re-exported here.
"""
from __future__ import annotations

import base64
import binascii
import json
import secrets
import string
import time

from Crypto.Cipher import AES
from Crypto.Hash import SHA256
from Crypto.PublicKey import RSA
from Crypto.Signature import pkcs1_15

from payments.certs import (  # noqa: F401  (re-exported)
    CertificateInfo, generate_self_signed_certificate, parse_certificate,
)
from payments.exceptions import DecryptError

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
SIGNATURE_TYPE = AUTH_SCHEME
PROBE_SIGNATURE_PREFIX = "WECHATPAY/SIGNTEST/"
_NONCE_ALPHABET = string.ascii_letters + string.digits
_AUTH_FIELDS = ("mchid", "nonce_str", "timestamp", "serial_no", "signature")


# ------------------------------------------------------------------------- keys
def _as_bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def load_private_key(pem: str | bytes) -> RSA.RsaKey:
    """Merchant API private key ``apiclient_key.pem``: PKCS#8 or PKCS#1 PEM (§1).

    The error never repeats the input, so a misconfigured key does not end up in logs.
    """
    if isinstance(pem, RSA.RsaKey):
        if not pem.has_private():
            raise ValueError("an RSA private key is required, got a public key")
        return pem
    try:
        key = RSA.import_key(_as_bytes(pem))
    except (ValueError, IndexError, TypeError):
        raise ValueError("cannot load the RSA private key (expected PKCS#1 or PKCS#8 PEM)") from None
    if not key.has_private():
        raise ValueError("an RSA private key is required, got a public key")
    return key


def load_public_key(pem: str | bytes) -> RSA.RsaKey:
    """A WeChat Pay public key (``PUBLIC KEY`` PEM) or a certificate's key (§2)."""
    if isinstance(pem, RSA.RsaKey):
        return pem.public_key()
    try:
        return RSA.import_key(_as_bytes(pem)).public_key()
    except (ValueError, IndexError, TypeError):
        raise ValueError("cannot load the RSA public key / certificate PEM") from None


def public_key_pem(key: RSA.RsaKey) -> str:
    return key.public_key().export_key(format="PEM").decode("ascii")


def private_key_pem(key: RSA.RsaKey) -> str:
    """PKCS#8 PEM (what ``apiclient_key.pem`` looks like)."""
    return key.export_key(format="PEM", pkcs=8).decode("ascii")


# ----------------------------------------------------------------- sign / verify
def new_nonce(length: int = 32) -> str:
    """``[0-9A-Za-z]{32}`` from the OS CSPRNG, like the Go SDK's utils/nonce.go (§1)."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def serialize_body(data) -> bytes:
    """JSON body as UTF-8 bytes; the very bytes that are signed and sent (§1)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(private_key: RSA.RsaKey, message: str | bytes) -> str:
    """RSASSA-PKCS1-v1_5 with SHA-256, standard Base64 (§1, Go utils/sign.go)."""
    digest = SHA256.new(_as_bytes(message))
    return base64.b64encode(pkcs1_15.new(private_key).sign(digest)).decode("ascii")


def verify(public_key: RSA.RsaKey, message: str | bytes, signature_b64: str) -> bool:
    """True iff ``signature_b64`` is a valid signature of ``message``.

    Probe signatures (``WECHATPAY/SIGNTEST/…``) and malformed Base64 are simply
    invalid (§2 "Probe signatures": fail closed, never acknowledge).
    """
    if not signature_b64 or signature_b64.startswith(PROBE_SIGNATURE_PREFIX):
        return False
    try:
        raw = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        pkcs1_15.new(public_key).verify(SHA256.new(_as_bytes(message)), raw)
    except (ValueError, TypeError):
        return False
    return True


def request_sign_message(method: str, canonical_url: str, timestamp: int | str,
                         nonce: str, body: bytes | str = b"") -> bytes:
    """``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (§1); GET/empty body → ``\\n\\n`` end."""
    head = f"{method.upper()}\n{canonical_url}\n{timestamp}\n{nonce}\n".encode("utf-8")
    return head + _as_bytes(body or b"") + b"\n"


def build_authorization(*, mchid: str, serial_no: str, private_key: RSA.RsaKey, method: str,
                        canonical_url: str, body: bytes | str = b"", timestamp: int | None = None,
                        nonce: str | None = None) -> str:
    """The ``Authorization`` header value (§1), Go/Java pair order."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    nonce = nonce or new_nonce()
    signature = sign(private_key, request_sign_message(method, canonical_url, ts, nonce, body))
    return (f'{AUTH_SCHEME} mchid="{mchid}",nonce_str="{nonce}",timestamp="{ts}",'
            f'serial_no="{serial_no}",signature="{signature}"')


def parse_authorization(header: str) -> dict[str, str]:
    """Split an ``Authorization`` header into its five pairs, in any order (§1).

    Raises ``ValueError`` for another scheme, a duplicated or missing pair.
    """
    scheme, _, rest = (header or "").strip().partition(" ")
    if scheme != AUTH_SCHEME:
        raise ValueError("Authorization scheme is not " + AUTH_SCHEME)
    pairs: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep or len(value) < 2 or value[0] != '"' or value[-1] != '"':
            raise ValueError(f"malformed Authorization pair {key!r}")
        if key in pairs:
            raise ValueError(f"duplicated Authorization pair {key!r}")
        pairs[key] = value[1:-1]
    missing = [f for f in _AUTH_FIELDS if not pairs.get(f)]
    if missing:
        raise ValueError("Authorization lacks " + ", ".join(missing))
    return pairs


def response_sign_message(timestamp: int | str, nonce: str, body: bytes | str = b"") -> bytes:
    """``TIMESTAMP\\nNONCE\\nBODY\\n`` for responses and callbacks (§2); empty → ``ts\\nn\\n\\n``."""
    return f"{timestamp}\n{nonce}\n".encode("utf-8") + _as_bytes(body or b"") + b"\n"


def pay_sign(private_key: RSA.RsaKey, appid: str, timestamp: str, nonce_str: str,
             package: str) -> str:
    """``paySign`` for ``wx.requestPayment``: ``appId\\ntimeStamp\\nnonceStr\\npackage\\n`` (§5)."""
    return sign(private_key, f"{appid}\n{timestamp}\n{nonce_str}\n{package}\n")


# --------------------------------------------------------------------- AES-GCM
def _aes_key(key: str | bytes) -> bytes:
    raw = _as_bytes(key)
    # 32 bytes is the APIv3 key; 16 is accepted for the Go test vectors (§11.2, §11.3).
    if len(raw) not in (16, 32):
        raise DecryptError("the APIv3 key must be 32 bytes (16 accepted for test vectors)")
    return raw


def aes_gcm_decrypt(key: str | bytes, nonce: str, associated_data: str | None,
                    ciphertext_b64: str) -> bytes:
    """Decrypt a callback/certificate ``resource`` (§3).

    key = APIv3 key as UTF-8 bytes; IV = ``nonce`` as ASCII (12 bytes, not Base64);
    AAD = ``associated_data`` bytes (absent → ``b""``); data = b64decode(ct) = ct ‖ tag16.
    """
    raw_key = _aes_key(key)
    try:
        data = base64.b64decode(ciphertext_b64 or "", validate=True)
        iv = (nonce or "").encode("ascii")
    except (binascii.Error, ValueError):
        raise DecryptError("resource ciphertext/nonce is malformed") from None
    if len(data) < 17 or not iv:
        raise DecryptError("resource ciphertext is too short")
    cipher = AES.new(raw_key, AES.MODE_GCM, nonce=iv)
    cipher.update(_as_bytes(associated_data or b""))
    try:
        return cipher.decrypt_and_verify(data[:-16], data[-16:])
    except ValueError:
        raise DecryptError("AES-GCM authentication failed (wrong APIv3 key or tampered data)") from None


def aes_gcm_encrypt(key: str | bytes, nonce: str, associated_data: str | None,
                    plaintext: bytes | str) -> str:
    """The inverse of :func:`aes_gcm_decrypt`, for the sandbox: Base64(ct ‖ tag)."""
    cipher = AES.new(_aes_key(key), AES.MODE_GCM, nonce=nonce.encode("ascii"))
    cipher.update(_as_bytes(associated_data or b""))
    ct, tag = cipher.encrypt_and_digest(_as_bytes(plaintext))
    return base64.b64encode(ct + tag).decode("ascii")


def new_resource_nonce() -> str:
    """12 printable characters, as WeChat uses for ``resource.nonce`` (§3)."""
    return new_nonce(12)
