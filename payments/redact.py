"""Redaction for logs (RELIABILITY.md R17): no keys, ciphertext or personal data in clear."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

#: JSON keys whose values never reach a log line.
SENSITIVE_KEYS = frozenset({
    "openid", "sp_openid", "sub_openid", "touser", "unionid", "session_key",
    "ciphertext", "apiv3_key", "private_key", "secret", "appsecret", "access_token",
    "js_code", "code", "phone", "phonenumber", "purephonenumber", "paysign", "signature",
    "authorization", "wechatpay-signature", "token", "user_received_account",
})


def redact(value):
    """A copy of ``value`` (dict/list/scalar) with sensitive fields masked."""
    if isinstance(value, dict):
        return {k: (MASK if str(k).lower() in SENSITIVE_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value


def redact_url(url: str) -> str:
    """The URL with sensitive query values (download ``token``, ``access_token``…) masked."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [(k, MASK if k.lower() in SENSITIVE_KEYS else v)
             for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(query=urlencode(query, safe=MASK)))


def redact_headers(headers) -> dict:
    return {k: (MASK if k.lower() in SENSITIVE_KEYS else v) for k, v in dict(headers).items()}
