"""Staff sign-in: argon2 password hashes, lockout, roles and community scope.

A wrong password counts against the account; the ``LOCK_AFTER``-th one in a
row locks it for ``LOCK_FOR`` (a correct password is refused while locked).
A successful sign-in resets the count.  Every outcome goes to the audit log.
"""
from __future__ import annotations

import datetime as dt
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort
from flask_login import UserMixin, current_user, login_required

from server import audit, db
from server.audit import Actor
from server.property.models import Community
from server.staff.models import StaffCommunity, StaffRole, StaffUser
from server.timeutil import utcnow

LOCK_AFTER = 10
LOCK_FOR = dt.timedelta(minutes=15)

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both cases cost the same.
_DUMMY_HASH = _hasher.hash("not-a-password")


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("empty password")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False


class LoginResult:
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"
    INACTIVE = "inactive"


class StaffLogin(UserMixin):
    """The Flask-Login view of a staff member (the id is the row id)."""

    def __init__(self, user: StaffUser):
        self.user = user
        self.id = str(user.id)

    @property
    def role(self) -> str:
        return self.user.role


def authenticate(username: str, password: str, *, now: dt.datetime | None = None,
                 remote_addr: str = "") -> tuple[str, StaffUser | None]:
    """Check a username and password; count failures and lock; audit every outcome."""
    now = now or utcnow()
    username = (username or "").strip()
    note = f"ip={remote_addr}" if remote_addr else ""
    with db.transaction():
        user = db.for_update(StaffUser.select().where(StaffUser.username == username)).first()
        if user is None:
            verify_password("", password)
            audit.record(Actor("staff", username[:64]), "staff.login_failed", "staff_user", "",
                         after={"reason": "unknown_user"}, note=note)
            return LoginResult.BAD_CREDENTIALS, None
        actor = Actor.staff(user)
        if user.locked_until is not None and user.locked_until > now:
            audit.record(actor, "staff.login_refused", "staff_user", user.id,
                         after={"reason": "locked", "locked_until": user.locked_until.isoformat()},
                         note=note)
            return LoginResult.LOCKED, user
        if not verify_password(user.password_hash, password):
            before = {"failed_logins": user.failed_logins}
            # A lock that has run out starts a fresh count.
            failed = 1 if user.locked_until is not None else user.failed_logins + 1
            locked_until = now + LOCK_FOR if failed >= LOCK_AFTER else None
            StaffUser.update(failed_logins=failed, locked_until=locked_until).where(
                StaffUser.id == user.id).execute()
            audit.record(actor, "staff.login_failed", "staff_user", user.id, before=before,
                         after={"failed_logins": failed}, note=note)
            if locked_until is not None:
                audit.record(actor, "staff.locked", "staff_user", user.id,
                             after={"locked_until": locked_until.isoformat(),
                                    "failed_logins": failed}, note=note)
                return LoginResult.LOCKED, user
            return LoginResult.BAD_CREDENTIALS, user
        if not user.active:
            audit.record(actor, "staff.login_refused", "staff_user", user.id,
                         after={"reason": "inactive"}, note=note)
            return LoginResult.INACTIVE, user
        StaffUser.update(failed_logins=0, locked_until=None, last_login_at=now).where(
            StaffUser.id == user.id).execute()
        audit.record(actor, "staff.login", "staff_user", user.id,
                     before={"failed_logins": user.failed_logins}, after={"failed_logins": 0},
                     note=note)
        return LoginResult.OK, StaffUser.get_by_id(user.id)


def load_staff(user_id: str) -> StaffLogin | None:
    user = StaffUser.get_or_none(StaffUser.id == int(user_id)) if user_id.isdigit() else None
    if user is None or not user.active:
        return None
    return StaffLogin(user)


def staff_communities(user: StaffUser):
    """The communities ``user`` may see: all for admins, else their StaffCommunity rows."""
    query = Community.select().order_by(Community.code)
    if user.role == StaffRole.ADMIN:
        return query
    return query.join(StaffCommunity, on=(StaffCommunity.community == Community.id)).where(
        StaffCommunity.staff == user.id)


def require_role(*roles: str):
    """Signed-in staff whose role is one of ``roles`` (none given: any role); else 403."""
    unknown = set(roles) - set(StaffRole.ALL)
    if unknown:
        raise ValueError(f"unknown roles: {sorted(unknown)}")

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator
