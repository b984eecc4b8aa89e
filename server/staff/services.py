"""Staff accounts as the admin pages change them: create, role and communities,
unlock, deactivate.  Every change is audited (never the password) in the same
transaction; repeating a change that is already in place changes nothing.
"""
from __future__ import annotations

import re

import peewee as pw

from server import audit, db
from server.audit import Actor
from server.errors import DomainError
from server.property.models import Community
from server.staff.models import StaffCommunity, StaffRole, StaffUser

MIN_PASSWORD = 8
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")


def _refuse(message: str, code: str = "VALIDATION_ERROR", status: int = 422):
    raise DomainError(message, code=code, status=status)


def _communities(community_ids) -> list[Community]:
    ids = sorted({int(i) for i in community_ids})
    found = list(Community.select().where(Community.id.in_(ids)).order_by(Community.code)) if ids else []
    if len(found) != len(ids):
        _refuse("所选小区不存在")
    return found


def _snapshot(user: StaffUser) -> dict:
    codes = [c.code for c in Community.select(Community.code)
             .join(StaffCommunity, on=(StaffCommunity.community == Community.id))
             .where(StaffCommunity.staff == user.id).order_by(Community.code)]
    return {"username": user.username, "display_name": user.display_name, "role": user.role,
            "communities": codes, "active": user.active,
            "locked_until": user.locked_until.isoformat() if user.locked_until else None}


def _get_locked(staff_id: int) -> StaffUser:
    user = db.for_update(StaffUser.select().where(StaffUser.id == staff_id)).first()
    if user is None:
        raise DomainError("找不到该员工", code="NOT_FOUND", status=404)
    return user


def _check_role(role: str, communities: list) -> None:
    if role not in StaffRole.ALL:
        _refuse("角色无效")
    if role != StaffRole.ADMIN and not communities:
        _refuse("非管理员至少要选择一个小区")


def _other_active_admins(user: StaffUser) -> int:
    return StaffUser.select().where(StaffUser.role == StaffRole.ADMIN, StaffUser.active == True,  # noqa: E712
                                    StaffUser.id != user.id).count()


def create_staff(username: str, display_name: str, role: str, community_ids, password: str,
                 actor: Actor) -> StaffUser:
    """A new account with an argon2 hash; refuses a taken username or a short password."""
    from server.admin.auth import hash_password

    username = (username or "").strip()
    if not _USERNAME.match(username):
        _refuse("用户名应为 2–64 位字母、数字或 _ . @ -")
    if len(password or "") < MIN_PASSWORD:
        _refuse(f"初始密码至少 {MIN_PASSWORD} 位")
    communities = _communities(community_ids)
    _check_role(role, communities)
    try:
        with db.transaction():
            user = StaffUser.create(username=username, display_name=(display_name or "").strip() or username,
                                    password_hash=hash_password(password), role=role)
            for community in communities:
                StaffCommunity.create(staff=user, community=community)
            audit.record(actor, "staff.create", "staff_user", user.id, after=_snapshot(user))
    except pw.IntegrityError:
        _refuse(f"用户名 {username} 已存在", code="CONFLICT", status=409)
    return user


def update_access(staff_id: int, role: str, community_ids, actor: Actor) -> StaffUser:
    """Change the role and the communities; refuses to demote the last active admin."""
    communities = _communities(community_ids)
    _check_role(role, communities)
    with db.transaction():
        user = _get_locked(staff_id)
        before = _snapshot(user)
        if user.role == StaffRole.ADMIN and role != StaffRole.ADMIN and user.active \
                and not _other_active_admins(user):
            _refuse("这是唯一的在用管理员，不能改为其他角色", code="LAST_ADMIN", status=409)
        StaffUser.update(role=role).where(StaffUser.id == user.id).execute()
        StaffCommunity.delete().where(StaffCommunity.staff == user.id).execute()
        for community in communities:
            StaffCommunity.create(staff=user.id, community=community)
        user = StaffUser.get_by_id(user.id)
        after = _snapshot(user)
        if after != before:
            audit.record(actor, "staff.update", "staff_user", user.id, before=before, after=after)
    return user


def unlock(staff_id: int, actor: Actor) -> StaffUser:
    """Clear a lockout and the failed-password count."""
    with db.transaction():
        user = _get_locked(staff_id)
        if user.locked_until is None and user.failed_logins == 0:
            return user
        before = {**_snapshot(user), "failed_logins": user.failed_logins}
        StaffUser.update(locked_until=None, failed_logins=0).where(StaffUser.id == user.id).execute()
        user = StaffUser.get_by_id(user.id)
        audit.record(actor, "staff.unlock", "staff_user", user.id, before=before,
                     after={**_snapshot(user), "failed_logins": 0})
    return user


def set_active(staff_id: int, active: bool, actor: Actor) -> StaffUser:
    """Deactivate (signs the account out on its next request) or reactivate an account."""
    with db.transaction():
        user = _get_locked(staff_id)
        if user.active == active:
            return user
        if not active and actor.staff_id == user.id:
            _refuse("不能停用自己的账号", code="SELF", status=409)
        if not active and user.role == StaffRole.ADMIN and not _other_active_admins(user):
            _refuse("这是唯一的在用管理员，不能停用", code="LAST_ADMIN", status=409)
        before = _snapshot(user)
        StaffUser.update(active=active).where(StaffUser.id == user.id).execute()
        user = StaffUser.get_by_id(user.id)
        audit.record(actor, "staff.activate" if active else "staff.deactivate", "staff_user",
                     user.id, before=before, after=_snapshot(user))
    return user


def staff_list(*, include_inactive: bool = True):
    """Staff accounts, active first (their communities: ``communities_of``)."""
    users = StaffUser.select().order_by(StaffUser.active.desc(), StaffUser.username)
    if not include_inactive:
        users = users.where(StaffUser.active == True)  # noqa: E712
    return users


def communities_of(user_ids) -> dict[int, list[Community]]:
    """``{staff_id: [community…]}`` for the given staff in one query."""
    result: dict[int, list[Community]] = {i: [] for i in user_ids}
    if not result:
        return result
    rows = (StaffCommunity.select(StaffCommunity.staff, Community)
            .join(Community).where(StaffCommunity.staff.in_(list(result)))
            .order_by(Community.code))
    for row in rows:
        result[row.staff_id].append(row.community)
    return result
