"""Signed, short-lived links to a printable receipt, for the mini-program's web-view.

A ``<web-view>`` cannot send an ``Authorization`` header, so ``GET /receipts/{number}``
hands the owner a link whose query carries an HMAC-signed token (itsdangerous,
keyed with the app's secret and a salt of its own, so no other signed value of
the app can pass for one): the receipt number, the owner and the session that
asked for it, and when it was signed.  Opening it checks, in order:

* the signature (tampered, truncated or signed with another key → 403);
* the age (older than the configured lifetime → 410: ask the app for a new link);
* the number in the path equals the signed one (a valid token cannot open another receipt);
* the session that asked is still live (logging out or revoking it kills its links);
* the owner may still see that receipt (:func:`server.owners.history.receipt`: 404 otherwise).

No Flask here: the caller passes the secret and the lifetime.
"""
from __future__ import annotations

import datetime as dt

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from server.errors import DomainError, Forbidden
from server.owners.models import OwnerSession
from server.timeutil import utcnow

SALT = "wuyepay.owner-receipt-print.v1"
DEFAULT_TTL_SECONDS = 600


class LinkExpired(DomainError):
    code = "RECEIPT_LINK_EXPIRED"
    status = 410


def _serializer(secret: str) -> URLSafeTimedSerializer:
    if not secret:
        raise RuntimeError("SECRET_KEY is required to sign receipt links")
    return URLSafeTimedSerializer(secret, salt=SALT)


def sign(secret: str, number: str, owner_id: int, session_id: int) -> str:
    """The token for ``number`` as seen by ``owner_id`` through ``session_id``."""
    return _serializer(secret).dumps({"n": number, "o": owner_id, "s": session_id})


def verify(secret: str, token: str, number: str, *, max_age: int,
           now: dt.datetime | None = None) -> int:
    """The owner id the token was signed for, or :class:`Forbidden` / :class:`LinkExpired`."""
    try:
        data = _serializer(secret).loads(token or "", max_age=max_age)
    except SignatureExpired:
        raise LinkExpired("收据链接已过期，请在小程序中重新打开", code="RECEIPT_LINK_EXPIRED") from None
    except BadSignature:
        raise Forbidden("收据链接无效", code="RECEIPT_LINK_INVALID") from None
    if (not isinstance(data, dict) or data.get("n") != number
            or not isinstance(data.get("o"), int) or not isinstance(data.get("s"), int)):
        raise Forbidden("收据链接无效", code="RECEIPT_LINK_INVALID")
    now = now or utcnow()
    live = (OwnerSession.select(OwnerSession.id)
            .where(OwnerSession.id == data["s"], OwnerSession.owner == data["o"],
                   OwnerSession.revoked_at.is_null(), OwnerSession.expires_at > now)
            .exists())
    if not live:
        raise Forbidden("登录已失效，请在小程序中重新打开收据", code="RECEIPT_LINK_REVOKED")
    return data["o"]
