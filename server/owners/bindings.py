"""Binding owners to houses, three ways (DESIGN.md "Owner"):

* **phone**: the number WeChat verified through the getPhoneNumber button
  equals the house's registered ``owner_phone``.  Every house registered under
  that number is bound, as ``owner`` (the registered owner is who proved it);
  ``house_id`` narrows it to one of them.  A house is never revealed to a
  phone that is not registered on it.
* **code**: a one-time code staff issued for a house and a role; redeemed by
  one conditional UPDATE, so it binds once however many people try it at once.
* **request**: the owner names a house and a role; the binding waits as
  ``pending`` until staff approve or reject it.

A binding is unique per (owner, house); binding again reuses the row.
Unbinding revokes it.  Every change is audited.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import peewee as pw

from server import audit
from server.db import for_update, transaction
from server.errors import Conflict, DomainError, Forbidden, NotFound, ValidationError
from server.owners.models import BindingCode
from server.errors import TooManyRequests
from server.property.models import (Binding, BindingRole, BindingStatus, Building, House,
                                    Owner)
from server.timeutil import utcnow
from server.wxa import MiniProgramClient, WxaError

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"   # no 0/O, 1/I
CODE_LENGTH = 10
CODE_TTL = dt.timedelta(days=7)


def owner_actor(owner_id: int) -> audit.Actor:
    return audit.Actor("owner", owner_id)


def normalize_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def hash_code(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()


def _snapshot(binding: Binding) -> dict:
    return {"owner_id": binding.owner_id, "house_id": binding.house_id, "role": binding.role,
            "status": binding.status, "verified_by": binding.verified_by}


def _upsert(owner_id: int, house: House, role: str, verified_by: str, status: str,
            actor: audit.Actor, now: dt.datetime) -> Binding:
    """Create or reuse the (owner, house) binding; call inside a transaction."""
    binding = Binding.get_or_none(Binding.owner == owner_id, Binding.house == house.id)
    if binding is None:
        try:
            with transaction():  # a savepoint: a concurrent insert must not undo the caller
                binding = Binding.create(owner=owner_id, house=house.id, role=role,
                                         verified_by=verified_by, status=status, created_at=now,
                                         decided_at=now if status == BindingStatus.ACTIVE else None)
            audit.record(actor, "binding.create", "binding", binding.id, after=_snapshot(binding),
                         community_id=house.community_id)
            return binding
        except pw.IntegrityError:
            binding = Binding.get(Binding.owner == owner_id, Binding.house == house.id)
    before = _snapshot(binding)
    binding.role, binding.verified_by, binding.status = role, verified_by, status
    binding.decided_at = now if status == BindingStatus.ACTIVE else None
    binding.save()
    audit.record(actor, "binding.update", "binding", binding.id, before=before,
                 after=_snapshot(binding), community_id=house.community_id)
    return binding


# ------------------------------------------------------------------- phone
def bind_by_phone(wxa: MiniProgramClient, owner_id: int, phone_code: str,
                  house_id: int | None = None, *, now: dt.datetime | None = None) -> list[Binding]:
    now = now or utcnow()
    try:
        number = wxa.user_phone_number(phone_code)
    except WxaError as exc:
        raise _phone_error(exc) from None
    houses = list(House.select().where(House.owner_phone == number.national).order_by(House.id))
    if house_id is not None:
        houses = [h for h in houses if h.id == house_id]
    if not houses:
        raise NotFound("没有登记在此手机号下的房屋，请使用绑定码或提交绑定申请",
                       code="PHONE_NOT_REGISTERED")
    actor = owner_actor(owner_id)
    with transaction():
        Owner.update(phone=number.national).where(Owner.id == owner_id).execute()
        return [_upsert(owner_id, h, BindingRole.OWNER, "phone", BindingStatus.ACTIVE, actor, now)
                for h in houses]


def _phone_error(exc: WxaError) -> DomainError:
    if exc.errcode == 40029:
        return Forbidden("手机号授权已失效，请重新授权", code="PHONE_CODE_INVALID")
    if exc.errcode == 45011:
        return TooManyRequests("操作太频繁，请稍后再试", code="WECHAT_RATE_LIMITED")
    return DomainError("微信服务暂时不可用，请稍后再试", code="WECHAT_UNAVAILABLE", status=503,
                       details={"wechat_errcode": exc.errcode})


# -------------------------------------------------------------------- code
def issue_binding_code(house_id: int, role: str, actor: audit.Actor, *,
                       ttl: dt.timedelta = CODE_TTL,
                       now: dt.datetime | None = None) -> tuple[str, BindingCode]:
    """A new one-time code for staff to hand over; only its hash is stored."""
    if role not in BindingRole.ALL:
        raise ValidationError("绑定身份无效", details={"role": f"应为 {'、'.join(BindingRole.ALL)} 之一"})
    house = House.get_or_none(House.id == house_id)
    if house is None:
        raise NotFound("房屋不存在", code="HOUSE_NOT_FOUND")
    now = now or utcnow()
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    with transaction():
        row = BindingCode.create(house=house.id, role=role, code_hash=hash_code(code),
                                 expires_at=now + ttl, created_by=actor.staff_id, created_at=now)
        audit.record(actor, "binding_code.issue", "binding_code", row.id, community_id=house.community_id,
                     after={"house_id": house.id, "role": role, "expires_at": row.expires_at.isoformat()})
    return code, row


def revoke_binding_code(code_id: int, actor: audit.Actor, *, now: dt.datetime | None = None) -> None:
    with transaction():
        n = (BindingCode.update(revoked_at=now or utcnow())
             .where(BindingCode.id == code_id, BindingCode.used_at.is_null(),
                    BindingCode.revoked_at.is_null()).execute())
        if n:
            audit.record(actor, "binding_code.revoke", "binding_code", code_id)


def bind_by_code(owner_id: int, code: str, *, now: dt.datetime | None = None) -> Binding:
    now = now or utcnow()
    digest = hash_code(code)
    with transaction():
        claimed = (BindingCode.update(used_at=now, used_by=owner_id)
                   .where(BindingCode.code_hash == digest, BindingCode.used_at.is_null(),
                          BindingCode.revoked_at.is_null(), BindingCode.expires_at > now)
                   .execute())
        if claimed != 1:
            raise _code_refusal(digest, now)
        row = BindingCode.get(BindingCode.code_hash == digest)
        house = House.get_by_id(row.house_id)
        return _upsert(owner_id, house, row.role, "code", BindingStatus.ACTIVE,
                       owner_actor(owner_id), now)


def _code_refusal(digest: str, now: dt.datetime) -> DomainError:
    row = BindingCode.get_or_none(BindingCode.code_hash == digest)
    if row is None or row.revoked_at is not None:
        return NotFound("绑定码无效", code="BINDING_CODE_INVALID")
    if row.used_at is not None:
        return Conflict("绑定码已被使用", code="BINDING_CODE_USED")
    return Conflict("绑定码已过期，请联系物业重新获取", code="BINDING_CODE_EXPIRED")


# ----------------------------------------------------------------- request
def find_house(community_id: int, building: str, room_no: str, unit: str = "") -> House:
    house = (House.select().join(Building)
             .where(House.community == community_id, Building.name == building.strip(),
                    House.unit == (unit or "").strip(), House.room_no == room_no.strip())
             .first())
    if house is None:
        raise NotFound("没有找到该房屋，请核对小区、楼栋、单元和房号", code="HOUSE_NOT_FOUND")
    return house


def request_binding(owner_id: int, house_id: int, role: str, *,
                    now: dt.datetime | None = None) -> Binding:
    now = now or utcnow()
    house = House.get_or_none(House.id == house_id)
    if house is None:
        raise NotFound("没有找到该房屋", code="HOUSE_NOT_FOUND")
    with transaction():
        existing = Binding.get_or_none(Binding.owner == owner_id, Binding.house == house.id)
        if existing is not None and existing.status == BindingStatus.ACTIVE:
            raise Conflict("已绑定该房屋", code="ALREADY_BOUND")
        if existing is not None and existing.status == BindingStatus.PENDING and existing.role == role:
            return existing
        return _upsert(owner_id, house, role, "staff", BindingStatus.PENDING,
                       owner_actor(owner_id), now)


def _decide(binding_id: int, status: str, actor: audit.Actor, note: str, now) -> Binding:
    with transaction():
        binding = for_update(Binding.select().where(Binding.id == binding_id)).first()
        if binding is None:
            raise NotFound("绑定申请不存在")
        if binding.status != BindingStatus.PENDING:
            raise Conflict("该绑定申请已经处理过", code="BINDING_NOT_PENDING")
        before = _snapshot(binding)
        binding.status, binding.decided_at = status, now or utcnow()
        binding.save()
        audit.record(actor, f"binding.{'approve' if status == BindingStatus.ACTIVE else 'reject'}",
                     "binding", binding.id, before=before, after=_snapshot(binding), note=note,
                     community_id=binding.house.community_id)
    return binding


def approve_binding(binding_id: int, actor: audit.Actor, *, note: str = "",
                    now: dt.datetime | None = None) -> Binding:
    return _decide(binding_id, BindingStatus.ACTIVE, actor, note, now)


def reject_binding(binding_id: int, actor: audit.Actor, *, note: str = "",
                   now: dt.datetime | None = None) -> Binding:
    return _decide(binding_id, BindingStatus.REJECTED, actor, note, now)


# ------------------------------------------------------------ unbind / read
def unbind(owner_id: int, house_id: int, *, now: dt.datetime | None = None) -> None:
    """Revoke the owner's active or pending binding to the house (404 if none)."""
    with transaction():
        binding = for_update(Binding.select().where(
            Binding.owner == owner_id, Binding.house == house_id,
            Binding.status.in_((BindingStatus.ACTIVE, BindingStatus.PENDING)))).first()
        if binding is None:
            raise NotFound("房屋不存在", code="HOUSE_NOT_FOUND")
        before = _snapshot(binding)
        binding.status, binding.decided_at = BindingStatus.REVOKED, now or utcnow()
        binding.save()
        audit.record(owner_actor(owner_id), "binding.revoke", "binding", binding.id,
                     before=before, after=_snapshot(binding))


def bound_house_ids(owner_id: int):
    """A subquery of the ids of houses the owner may see."""
    return (Binding.select(Binding.house)
            .where(Binding.owner == owner_id, Binding.status == BindingStatus.ACTIVE))


def require_bound_house(owner_id: int, house_id: int) -> None:
    """404, never 403, for a house the owner is not bound to: its existence stays private."""
    if not (Binding.select().where(Binding.owner == owner_id, Binding.house == house_id,
                                   Binding.status == BindingStatus.ACTIVE).exists()):
        raise NotFound("房屋不存在", code="HOUSE_NOT_FOUND")


# ------------------------------------------------------------------- staff
# What the staff pages call: Chinese refusals, the community on every audit row.
def staff_unbind(binding_id: int, actor: audit.Actor, *, note: str = "",
                 now: dt.datetime | None = None) -> Binding:
    """Staff revoke an owner's active or pending binding (audited with before/after)."""
    with transaction():
        binding = for_update(Binding.select().where(Binding.id == binding_id)).first()
        if binding is None:
            raise NotFound("绑定不存在", code="BINDING_NOT_FOUND")
        if binding.status not in (BindingStatus.ACTIVE, BindingStatus.PENDING):
            raise Conflict("该绑定已解除或已被拒绝", code="BINDING_NOT_ACTIVE")
        before = _snapshot(binding)
        binding.status, binding.decided_at = BindingStatus.REVOKED, now or utcnow()
        binding.save()
        audit.record(actor, "binding.revoke", "binding", binding.id, before=before,
                     after=_snapshot(binding), note=note,
                     community_id=House.get_by_id(binding.house_id).community_id)
    return binding


def staff_decide_binding(binding_id: int, approve: bool, actor: audit.Actor, *, note: str = "",
                         now: dt.datetime | None = None) -> Binding:
    """Approve or reject a pending request; a decided one is refused in Chinese."""
    try:
        if approve:
            return approve_binding(binding_id, actor, note=note, now=now)
        return reject_binding(binding_id, actor, note=note, now=now)
    except Conflict:
        raise Conflict("该申请已处理过，不能重复审核", code="BINDING_NOT_PENDING") from None
    except NotFound:
        raise NotFound("绑定申请不存在", code="BINDING_NOT_FOUND") from None


def staff_revoke_binding_code(code_id: int, actor: audit.Actor, *,
                              now: dt.datetime | None = None) -> BindingCode:
    """Revoke an unused code; a used or already revoked one is refused."""
    now = now or utcnow()
    with transaction():
        row = for_update(BindingCode.select().where(BindingCode.id == code_id)).first()
        if row is None:
            raise NotFound("绑定码不存在", code="BINDING_CODE_NOT_FOUND")
        if row.used_at is not None:
            raise Conflict("绑定码已被使用，不能作废；如需解除请解绑", code="BINDING_CODE_USED")
        if row.revoked_at is not None:
            raise Conflict("绑定码已作废", code="BINDING_CODE_REVOKED")
        BindingCode.update(revoked_at=now).where(BindingCode.id == code_id).execute()
        audit.record(actor, "binding_code.revoke", "binding_code", code_id,
                     before={"revoked_at": None}, after={"revoked_at": now.isoformat()},
                     community_id=House.get_by_id(row.house_id).community_id)
    return BindingCode.get_by_id(code_id)


def binding_requests(community_ids: list[int], *, pending: bool = True):
    """Pending requests (``pending``) or recent staff decisions, owner/house/building joined."""
    query = (Binding.select(Binding, Owner, House, Building)
             .join(Owner, on=(Binding.owner == Owner.id))
             .switch(Binding).join(House, on=(Binding.house == House.id))
             .join(Building, on=(House.building == Building.id))
             .where(House.community.in_(community_ids), Binding.verified_by == "staff"))
    if pending:
        return query.where(Binding.status == BindingStatus.PENDING).order_by(Binding.created_at)
    return (query.where(Binding.status.in_((BindingStatus.ACTIVE, BindingStatus.REJECTED)),
                        Binding.decided_at.is_null(False))
            .order_by(Binding.decided_at.desc()))
