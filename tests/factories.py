"""Tiny factories: a community with buildings, houses, fee items and standards.

They write rows directly (not through the services under test) and pick
unique names, so a test can make as many as it likes.
"""
from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from server.audit import Actor
from server.billing.models import (Bill, BillStatus, Cycle, FeeItem, FeeStandard, Meter,
                                   MeterReading, Method, StandardStatus)
from server.ledger.models import Payment
from server.property.models import Building, Community, House, HouseStatus
from server.staff.models import StaffRole, StaffUser
from server.timeutil import day_in_month, period_end, period_start, utcnow

_seq = itertools.count(1)
LONG_AGO = dt.date(2020, 1, 1)


def staff(username: str | None = None, role: str = StaffRole.MANAGER) -> StaffUser:
    return StaffUser.create(username=username or f"staff{next(_seq)}", role=role)


def staff_actor(username: str | None = None) -> Actor:
    return Actor.staff(staff(username))


def community(name: str | None = None, code: str | None = None) -> Community:
    n = next(_seq)
    return Community.create(name=name or f"小区{n}", code=code or f"C{n}")


def building(comm: Community, name: str | None = None) -> Building:
    return Building.create(community=comm, name=name or f"{next(_seq)}栋")


def house(comm: Community, bldg: Building | None = None, *, area="89.50",
          status: str = HouseStatus.OCCUPIED, room_no: str | None = None) -> House:
    bldg = bldg or building(comm)
    return House.create(community=comm, building=bldg, room_no=room_no or f"{next(_seq)}",
                        floor_area=Decimal(str(area)), status=status)


def fee_item(comm: Community, code: str, name: str | None = None) -> FeeItem:
    return FeeItem.create(community=comm, code=code, name=name or code)


def standard(item: FeeItem, method: str, unit_price, *, unit: str = "", cycle: str = Cycle.MONTHLY,
             due_day: int = 15, effective_from: dt.date = LONG_AGO, version: int | None = None,
             daily_rate="0", grace_days: int = 0, cap_ratio="0",
             status: str = StandardStatus.PUBLISHED) -> FeeStandard:
    units = {Method.FIXED: "户·月", Method.PER_AREA: "m²·月", Method.METERED: "m³"}
    if version is None:
        version = FeeStandard.select().where(FeeStandard.fee_item == item).count() + 1
    return FeeStandard.create(
        fee_item=item, version=version, method=method, unit_price=Decimal(str(unit_price)),
        unit=unit or units[method], cycle=cycle, due_day=due_day,
        late_fee_daily_rate=Decimal(str(daily_rate)), late_fee_grace_days=grace_days,
        late_fee_cap_ratio=Decimal(str(cap_ratio)), effective_from=effective_from, status=status,
        published_at=utcnow() if status == StandardStatus.PUBLISHED else None)


@dataclass
class Estate:
    """A community ready to bill: its houses and fee items by code."""

    community: Community
    houses: list[House] = field(default_factory=list)
    items: dict[str, FeeItem] = field(default_factory=dict)


def estate(n_houses: int = 3, *, area="100.00", water: bool = True, parking: bool = True,
           property_price="2.5000", parking_price="150", water_price="4.1000") -> Estate:
    """物业费 per m², 停车费 fixed and 水费 metered (meters installed at 0, no readings)."""
    comm = community()
    bldg = building(comm)
    result = Estate(comm)
    result.houses = [house(comm, bldg, area=area) for _ in range(n_houses)]
    result.items["WYF"] = fee_item(comm, "WYF", "物业费")
    standard(result.items["WYF"], Method.PER_AREA, property_price)
    if parking:
        result.items["TCF"] = fee_item(comm, "TCF", "停车费")
        standard(result.items["TCF"], Method.FIXED, parking_price)
    if water:
        result.items["SF"] = fee_item(comm, "SF", "水费")
        standard(result.items["SF"], Method.METERED, water_price, unit="m³")
        for h in result.houses:
            meter(h, result.items["SF"])
    return result


def meter(h: House, item: FeeItem, start="0", installed_on: dt.date = LONG_AGO) -> Meter:
    return Meter.create(house=h, fee_item=item, start_reading=Decimal(str(start)),
                        installed_on=installed_on)


def reading(h: House, item: FeeItem, period: str, previous, current) -> MeterReading:
    """A reading row written directly (the service is tested in test_meters)."""
    m = Meter.get(Meter.house == h, Meter.fee_item == item)
    previous, current = Decimal(str(previous)), Decimal(str(current))
    return MeterReading.create(house=h, fee_item=item, meter=m, period=period, previous=previous,
                               current=current, usage=current - previous,
                               read_on=period_end(period))


def bill(h: House, item: FeeItem, *, period: str = "2026-01", amount_fen: int = 10_000,
         due_day: int = 15, std: FeeStandard | None = None, **values) -> Bill:
    std = std or FeeStandard.select().where(FeeStandard.fee_item == item).first()
    defaults = dict(
        house=h, community=h.community_id, fee_item=item, standard=std,
        standard_version=std.version if std else None, period=period,
        period_start=period_start(period), period_end=period_end(period), months=1,
        method=std.method if std else Method.FIXED, quantity=Decimal(1), unit="户·月",
        unit_price=Decimal(amount_fen) / 100, amount_fen=amount_fen,
        due_date=day_in_month(period, due_day), status=BillStatus.UNPAID)
    defaults.update(values)
    return Bill.create(**defaults)


def payment(comm: Community, amount_fen: int, channel: str = "cash") -> Payment:
    return Payment.create(community=comm, channel=channel, amount_fen=amount_fen)


def reload(instance):
    return type(instance).get_by_id(instance.id)
