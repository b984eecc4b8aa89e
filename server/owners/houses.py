"""What an owner may read about their houses and communities.

Read-only queries with a fixed number of round trips whatever the number of
houses or standards: the owner's houses (with what is still owed on each), one
bound house, and the fee standards of a community the owner lives in.
"""
from __future__ import annotations

import datetime as dt

import peewee as pw

from server.billing.models import Bill, BillStatus, FeeItem, FeeStandard, StandardStatus
from server.errors import NotFound
from server.owners import prepared
from server.property.models import Binding, BindingStatus, Building, Community, House
from server.timeutil import local_today

VISIBLE = (BindingStatus.ACTIVE, BindingStatus.PENDING)


def _as_date(value):
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def house_dict(house: House, building: Building, community: Community, *, area: bool = True) -> dict:
    result = {"id": house.id, "community": {"id": community.id, "name": community.name},
              "building": building.name, "unit": house.unit, "room_no": house.room_no,
              "label": "-".join(p for p in (building.name, house.unit, house.room_no) if p)}
    if area:
        result["floor_area"] = house.floor_area
    return result


def owner_houses(owner_id: int, today: dt.date | None = None) -> dict:
    """Bound houses with their open balance, and pending binding requests.  Two queries."""
    today = today or local_today()
    rows = list(Binding.select(Binding, House, Building, Community)
                .join(House).join(Building).switch(House).join(Community)
                .where(Binding.owner == owner_id, Binding.status.in_(VISIBLE))
                .order_by(Community.name, Building.name, House.unit, House.room_no))
    active_ids = [b.house_id for b in rows if b.status == BindingStatus.ACTIVE]
    owed: dict[int, dict] = {}
    if active_ids:
        balance = Bill.amount_fen + Bill.adjusted_fen + Bill.late_fee_fen - Bill.paid_fen
        overdue = pw.Case(None, [(Bill.due_date < today, 1)], 0)
        for house_id, count, total, n_overdue in (
                Bill.select(Bill.house, pw.fn.COUNT(Bill.id), pw.fn.SUM(balance), pw.fn.SUM(overdue))
                .where(Bill.house.in_(active_ids), Bill.status.in_(BillStatus.OPEN))
                .group_by(Bill.house).tuples()):
            owed[house_id] = {"open_bills": int(count), "balance_fen": int(total or 0),
                              "overdue_bills": int(n_overdue or 0)}
    houses, pending = [], []
    for b in rows:
        active = b.status == BindingStatus.ACTIVE
        item = house_dict(b.house, b.house.building, b.house.community, area=active)
        item["role"] = b.role
        if b.status == BindingStatus.ACTIVE:
            item.update(verified_by=b.verified_by, bound_at=b.decided_at or b.created_at)
            item.update(owed.get(b.house_id, {"open_bills": 0, "balance_fen": 0, "overdue_bills": 0}))
            houses.append(item)
        else:
            item["requested_at"] = b.created_at
            pending.append(item)
    return {"houses": houses, "pending_requests": pending}


def _bound_house_query(owner_id, house_id):
    return (House.select(House, Building, Community)
            .join(Building).switch(House).join(Community)
            .join_from(House, Binding, on=((Binding.house == House.id)
                                           & (Binding.owner == owner_id)
                                           & (Binding.status == BindingStatus.ACTIVE)))
            .where(House.id == house_id).limit(1))


def bound_house(owner_id: int, house_id: int) -> dict:
    """The house if the owner is bound to it, else 404 (never 403: existence stays private).
    One query, its SQL generated once (:mod:`server.owners.prepared`)."""
    house = next(iter(prepared.run(("bound_house",), _bound_house_query,
                                   owner_id=owner_id, house_id=house_id)), None)
    if house is None:
        raise NotFound("房屋不存在", code="HOUSE_NOT_FOUND")
    return house_dict(house, house.building, house.community)


def _standard_dict(s: FeeStandard) -> dict:
    return {"id": s.id, "version": s.version, "method": s.method, "unit_price": s.unit_price,
            "unit": s.unit, "cycle": s.cycle, "due_day": s.due_day,
            "late_fee": {"daily_rate": s.late_fee_daily_rate, "grace_days": s.late_fee_grace_days,
                         "cap_ratio": s.late_fee_cap_ratio},
            "effective_from": _as_date(s.effective_from), "effective_to": _as_date(s.effective_to),
            "note": s.note}


def community_fee_standards(owner_id: int, community_id: int,
                            today: dt.date | None = None) -> dict:
    """Published standards of a community the owner has a bound house in: for each
    active fee item the version in force today and the versions still to come."""
    today = today or local_today()
    community = (Community.select().join(House).join(Binding)
                 .where(Community.id == community_id, Binding.owner == owner_id,
                        Binding.status == BindingStatus.ACTIVE).first())
    if community is None:
        raise NotFound("小区不存在", code="COMMUNITY_NOT_FOUND")
    rows = (FeeStandard.select(FeeStandard, FeeItem).join(FeeItem)
            .where(FeeItem.community == community_id, FeeItem.active == True,  # noqa: E712
                   FeeStandard.status == StandardStatus.PUBLISHED)
            .order_by(FeeItem.code, FeeStandard.effective_from, FeeStandard.version))
    items: dict[int, dict] = {}
    for s in rows:
        entry = items.setdefault(s.fee_item_id, {
            "fee_item": {"id": s.fee_item.id, "code": s.fee_item.code, "name": s.fee_item.name},
            "current": None, "upcoming": []})
        start = _as_date(s.effective_from)
        if start > today:
            entry["upcoming"].append(_standard_dict(s))
        elif entry["current"] is None or start >= entry["current"]["effective_from"]:
            # Rows are in effective_from order: the last one started wins (standard_for's rule).
            entry["current"] = _standard_dict(s)
    for entry in items.values():
        current = entry["current"]
        if current is not None and current["effective_to"] and current["effective_to"] < today:
            entry["current"] = None
    result = [e for e in items.values() if e["current"] or e["upcoming"]]
    return {"community": {"id": community.id, "name": community.name}, "as_of": today,
            "items": result}


def house_addresses(house_ids: list[int]) -> list[dict]:
    """Houses by id, in the given order: address only (no area).  One query."""
    if not house_ids:
        return []
    rows = {h.id: h for h in House.select(House, Building, Community)
            .join(Building).switch(House).join(Community).where(House.id.in_(house_ids))}
    return [house_dict(rows[i], rows[i].building, rows[i].community, area=False)
            for i in house_ids if i in rows]


def search_communities(text: str = "", limit: int = 20) -> list[dict]:
    """Communities whose name contains ``text`` (to name a house in a binding request)."""
    query = Community.select().order_by(Community.name).limit(limit)
    text = (text or "").strip()
    if text:
        query = query.where(Community.name.contains(text))
    return [{"id": c.id, "name": c.name, "address": c.address} for c in query]
