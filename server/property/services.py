"""Staff changes to communities, buildings and houses, and the house search.

Every change runs in one transaction with its audit record (before/after).
A house's floor area is billing data: changing it affects only bills issued
afterwards (bills keep the quantity they were issued with), never issued ones.
Messages are Chinese: they are shown to staff as they are.
"""
from __future__ import annotations

import re
from decimal import Decimal

import peewee as pw

from server import audit
from server.db import for_update, transaction
from server.errors import Conflict, NotFound, ValidationError
from server.money import MoneyError, to_decimal
from server.property.models import (Binding, BindingStatus, Building, Community, House,
                                    HouseStatus, Owner)

_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
_PHONE_RE = re.compile(r"^1\d{10}$")


def _text(value, label: str, max_length: int, *, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationError(f"请填写{label}", details={"field": label})
    if len(text) > max_length:
        raise ValidationError(f"{label}不能超过{max_length}个字符", details={"field": label})
    return text


def _community_snapshot(c: Community) -> dict:
    return {"name": c.name, "code": c.code, "address": c.address}


def create_community(name: str, code: str, address: str, actor: audit.Actor) -> Community:
    name = _text(name, "小区名称", 100)
    code = _text(code, "小区编码", 16)
    if not _CODE_RE.match(code):
        raise ValidationError("小区编码只能包含字母、数字、下划线和短横线", details={"field": "code"})
    address = _text(address, "地址", 255, required=False)
    try:
        with transaction():
            community = Community.create(name=name, code=code, address=address)
            audit.record(actor, "community.create", "community", community.id,
                         after=_community_snapshot(community), community_id=community.id)
    except pw.IntegrityError:
        raise Conflict("小区名称或编码已存在", code="COMMUNITY_EXISTS") from None
    return community


def update_community(community_id: int, name: str, address: str, actor: audit.Actor) -> Community:
    """Rename a community or change its address (the code prefixes receipts: fixed)."""
    name = _text(name, "小区名称", 100)
    address = _text(address, "地址", 255, required=False)
    try:
        with transaction():
            community = for_update(Community.select().where(Community.id == community_id)).first()
            if community is None:
                raise NotFound("小区不存在", code="COMMUNITY_NOT_FOUND")
            before = _community_snapshot(community)
            if (name, address) == (community.name, community.address):
                return community
            community.name, community.address = name, address
            community.save()
            audit.record(actor, "community.update", "community", community.id, before=before,
                         after=_community_snapshot(community), community_id=community.id)
    except pw.IntegrityError:
        raise Conflict("已有同名小区", code="COMMUNITY_EXISTS") from None
    return community


def create_building(community_id: int, name: str, actor: audit.Actor) -> Building:
    name = _text(name, "楼栋名称", 50)
    if not Community.select().where(Community.id == community_id).exists():
        raise NotFound("小区不存在", code="COMMUNITY_NOT_FOUND")
    try:
        with transaction():
            building = Building.create(community=community_id, name=name)
            audit.record(actor, "building.create", "building", building.id,
                         after={"name": name}, community_id=community_id)
    except pw.IntegrityError:
        raise Conflict(f"本小区已有楼栋“{name}”", code="BUILDING_EXISTS") from None
    return building


def community_counts(community_ids: list[int]) -> dict[int, tuple[int, int]]:
    """{community id: (buildings, houses)} in two grouped queries."""
    buildings = dict(Building.select(Building.community, pw.fn.COUNT(Building.id))
                     .where(Building.community.in_(community_ids))
                     .group_by(Building.community).tuples())
    houses = dict(House.select(House.community, pw.fn.COUNT(House.id))
                  .where(House.community.in_(community_ids))
                  .group_by(House.community).tuples())
    return {cid: (buildings.get(cid, 0), houses.get(cid, 0)) for cid in community_ids}


def building_house_counts(community_id: int) -> dict[int, int]:
    return dict(House.select(House.building, pw.fn.COUNT(House.id))
                .where(House.community == community_id).group_by(House.building).tuples())


# ---------------------------------------------------------------- houses
def _house_snapshot(h: House) -> dict:
    return {"floor_area": str(h.floor_area), "owner_name": h.owner_name,
            "owner_phone": h.owner_phone, "status": h.status}


def update_house(house_id: int, actor: audit.Actor, *, floor_area: str, owner_phone: str,
                 owner_name: str, status: str) -> House:
    """Edit a house's registered data.  Issued bills keep their quantity: a new
    area is used from the next billing run on."""
    try:
        area = to_decimal(floor_area)
    except MoneyError:
        raise ValidationError("面积应为数字，例如 89.50", details={"field": "floor_area"}) from None
    if area <= 0 or area.as_tuple().exponent < -2 or area >= Decimal("100000000"):
        raise ValidationError("面积应大于 0，最多两位小数", details={"field": "floor_area"})
    phone = (owner_phone or "").strip()
    if phone and not _PHONE_RE.match(phone):
        raise ValidationError("登记手机号应为 11 位手机号码", details={"field": "owner_phone"})
    name = _text(owner_name, "业主姓名", 50, required=False)
    if status not in HouseStatus.ALL:
        raise ValidationError("房屋状态无效", details={"field": "status"})
    with transaction():
        house = for_update(House.select().where(House.id == house_id)).first()
        if house is None:
            raise NotFound("房屋不存在", code="HOUSE_NOT_FOUND")
        before = _house_snapshot(house)
        house.floor_area, house.owner_phone, house.owner_name, house.status = area, phone, name, status
        after = _house_snapshot(house)
        if after == before:
            return house
        house.save()
        audit.record(actor, "house.update", "house", house.id, before=before, after=after,
                     community_id=house.community_id)
    return house


def search_houses(community_ids: list[int], *, building_id: int | None = None, room: str = "",
                  owner: str = ""):
    """Houses of the given communities, filtered; building and community joined in.

    ``room`` matches the room number (partial); ``owner`` the registered owner's
    name or phone, or a bound owner's phone or nickname (partial)."""
    # LEFT OUTER on NOT NULL keys: the same rows, and counting drops the joins.
    query = (House.select(House, Building, Community)
             .join(Building, pw.JOIN.LEFT_OUTER, on=(House.building == Building.id))
             .switch(House).join(Community, pw.JOIN.LEFT_OUTER, on=(House.community == Community.id))
             .where(House.community.in_(community_ids)))
    if building_id:
        query = query.where(House.building == building_id)
    if room.strip():
        query = query.where(House.room_no.contains(room.strip()))
    if owner.strip():
        word = owner.strip()
        bound = (Binding.select(Binding.house).join(Owner)
                 .where(Binding.status.in_((BindingStatus.ACTIVE, BindingStatus.PENDING)),
                        Owner.phone.contains(word) | Owner.nickname.contains(word)))
        query = query.where(House.owner_name.contains(word) | House.owner_phone.contains(word)
                            | House.id.in_(bound))
    return query.order_by(Community.code, Building.name, House.unit, House.room_no)


def binding_counts(house_ids: list[int]) -> dict[int, dict[str, int]]:
    """{house id: {status: count}} in one grouped query."""
    out: dict[int, dict[str, int]] = {}
    if not house_ids:
        return out
    rows = (Binding.select(Binding.house, Binding.status, pw.fn.COUNT(Binding.id))
            .where(Binding.house.in_(house_ids)).group_by(Binding.house, Binding.status).tuples())
    for house_id, status, n in rows:
        out.setdefault(house_id, {})[status] = n
    return out


def active_count(counts: dict[str, int]) -> int:
    return counts.get(BindingStatus.ACTIVE, 0)
