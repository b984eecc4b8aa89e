"""Bearer tokens for the staff JSON API (``/api/admin/v1``), for an ERP or a script.

A token is ``wyp_`` + 32 random bytes (URL-safe base64), shown once when it is
issued; only its SHA-256 is stored.  It acts as its staff member, with that
member's role and communities, until it expires, is revoked, or the member is
deactivated.  Issuing and revoking are audited, and so is every refusal of a
known token (an expired or revoked token still in use is worth noticing).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from server import audit, db
from server.errors import NotFound, Unauthorized, ValidationError
from server.staff.models import StaffApiToken, StaffUser
from server.timeutil import utcnow

PREFIX = "wyp_"
DEFAULT_TTL_DAYS = 365
MAX_TTL_DAYS = 3650
# last_used_at is written at most this often per token (not one UPDATE per request).
LAST_USED_EVERY = dt.timedelta(minutes=1)


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def _snapshot(row: StaffApiToken) -> dict:
    return {"staff_id": row.staff_id, "name": row.name,
            "expires_at": row.expires_at.isoformat() if row.expires_at else None,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None}


def issue_token(staff_id: int, name: str, actor: audit.Actor, ttl_days: int = DEFAULT_TTL_DAYS, *,
                now: dt.datetime | None = None) -> tuple[StaffApiToken, str]:
    """A new token for an active staff member: (the row, the plaintext to show once)."""
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise ValidationError("令牌名称应为 1–64 个字符", details={"name": "1 to 64 characters"})
    if isinstance(ttl_days, bool) or not isinstance(ttl_days, int) or not 1 <= ttl_days <= MAX_TTL_DAYS:
        raise ValidationError(f"有效期应为 1–{MAX_TTL_DAYS} 天", details={"ttl_days": repr(ttl_days)})
    now = now or utcnow()
    plaintext = PREFIX + secrets.token_urlsafe(32)
    with db.transaction():
        user = StaffUser.get_or_none(StaffUser.id == staff_id)
        if user is None:
            raise NotFound("工作人员不存在", code="STAFF_NOT_FOUND")
        if not user.active:
            raise ValidationError("该工作人员已停用", code="STAFF_INACTIVE")
        row = StaffApiToken.create(staff=user, name=name, token_hash=hash_token(plaintext),
                                   created_at=now, expires_at=now + dt.timedelta(days=ttl_days))
        audit.record(actor, "staff_token.issue", "staff_api_token", row.id, after=_snapshot(row),
                     note=f"for {user.username}")
    return row, plaintext


def _refuse(row: StaffApiToken, reason: str, code: str, message: str) -> Unauthorized:
    with db.transaction():
        audit.record(audit.Actor.staff(row.staff), "staff_token.refused", "staff_api_token", row.id,
                     after={"reason": reason})
    return Unauthorized(message, code=code)


def authenticate(plaintext: str | None, *, now: dt.datetime | None = None) -> StaffUser:
    """The staff member a token acts as; Unauthorized when unknown, expired, revoked or inactive."""
    if not plaintext or not plaintext.startswith(PREFIX):
        raise Unauthorized("缺少或无效的访问令牌", code="TOKEN_INVALID")
    now = now or utcnow()
    row = (StaffApiToken.select(StaffApiToken, StaffUser).join(StaffUser)
           .where(StaffApiToken.token_hash == hash_token(plaintext)).first())
    if row is None:
        raise Unauthorized("缺少或无效的访问令牌", code="TOKEN_INVALID")
    if row.revoked_at is not None:
        raise _refuse(row, "revoked", "TOKEN_REVOKED", "访问令牌已被吊销")
    if row.expires_at is not None and row.expires_at <= now:
        raise _refuse(row, "expired", "TOKEN_EXPIRED", "访问令牌已过期")
    if not row.staff.active:
        raise _refuse(row, "inactive", "STAFF_INACTIVE", "该工作人员已停用")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        StaffApiToken.update(last_used_at=now).where(StaffApiToken.id == row.id).execute()
    return row.staff


def revoke_token(token_id: int, actor: audit.Actor, *, now: dt.datetime | None = None) -> StaffApiToken:
    """Revoke a token; idempotent (a revoked token stays as it was)."""
    with db.transaction():
        row = db.for_update(StaffApiToken.select().where(StaffApiToken.id == token_id)).first()
        if row is None:
            raise NotFound("令牌不存在", code="TOKEN_NOT_FOUND")
        if row.revoked_at is not None:
            return row
        before = _snapshot(row)
        row.revoked_at = now or utcnow()
        StaffApiToken.update(revoked_at=row.revoked_at).where(StaffApiToken.id == row.id).execute()
        audit.record(actor, "staff_token.revoke", "staff_api_token", row.id, before=before,
                     after=_snapshot(row))
    return row


def staff_tokens(staff_id: int | None = None):
    """Tokens, newest first (never their plaintext, which is not stored)."""
    query = (StaffApiToken.select(StaffApiToken, StaffUser).join(StaffUser)
             .order_by(StaffApiToken.id.desc()))
    if staff_id is not None:
        query = query.where(StaffApiToken.staff == staff_id)
    return query
