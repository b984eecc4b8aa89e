"""What a billing run would bill: the fee items in force for a period, and the
bills and problems of one chunk of houses at a time (a few queries per chunk,
so memory stays flat however large the community)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from server.billing import meters as meters_mod
from server.billing.models import Bill, FeeItem, FeeStandard, Meter, MeterReading, Method
from server.billing.rules import Pricer, basis_unit, billed_months, cycle_months
from server.billing.standards import standard_for
from server.db import database
from server.property.models import House, HouseStatus
from server.timeutil import day_in_month, period_end, period_start

ONE = Decimal(1)
_ANOMALY_ZH = {"usage_high": "异常偏高", "usage_zero": "为零（房屋在住）"}


@dataclass(frozen=True)
class ItemPlan:
    """A fee item that bills in this period, with the standard in force."""

    fee_item_id: int
    code: str
    name: str
    standard: FeeStandard
    months: int
    due_date: dt.date
    period_start: dt.date
    period_end: dt.date

    @property
    def method(self) -> str:
        return self.standard.method


@dataclass(slots=True)
class PlannedBill:
    house_id: int
    fee_item_id: int
    code: str
    method: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    months: int
    amount_fen: int
    due_date: dt.date
    period_start: dt.date
    period_end: dt.date
    standard_id: int
    standard_version: int
    reading_id: int | None = None
    previous_reading: Decimal | None = None
    current_reading: Decimal | None = None
    exists: bool = False


@dataclass(frozen=True)
class Problem:
    """Something staff should look at.  ``missing_reading``, ``no_meter``,
    ``zero_area`` and ``no_standard`` mean no bill; ``usage_high`` and
    ``usage_zero`` are warnings on a bill that is still issued."""

    kind: str
    message: str
    house_id: int | None = None
    fee_item_id: int | None = None

    def as_dict(self) -> dict:
        return {"kind": self.kind, "message": self.message, "house_id": self.house_id,
                "fee_item_id": self.fee_item_id}


@dataclass
class ChunkPlan:
    bills: list[PlannedBill] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def item_plans(community_id: int, period: str) -> tuple[list[ItemPlan], list[Problem]]:
    plans, problems = [], []
    start = period_start(period)
    items = (FeeItem.select().where(FeeItem.community == community_id, FeeItem.active)
             .order_by(FeeItem.id))
    for item in items:
        standard = standard_for(item, start)
        if standard is None:
            problems.append(Problem("no_standard", f"{item.name}：{start.isoformat()} 没有生效的已发布"
                                    "收费标准，请先发布收费标准", fee_item_id=item.id))
            continue
        months = cycle_months(standard.cycle, period)
        if months == 0:
            continue  # a quarterly or yearly item outside its billing month
        plans.append(ItemPlan(item.id, item.code, item.name, standard, months,
                              day_in_month(period, standard.due_day), start,
                              period_end(period, months)))
    return plans, problems


def as_decimal(value) -> Decimal | None:
    """A DECIMAL column read straight from the driver (TEXT on SQLite)."""
    if value is None or isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def raw_rows(query, decimals: tuple[int, ...] = ()) -> list[tuple]:
    """Run a query on the bare cursor, converting only the given DECIMAL columns.
    (peewee's per-row conversion costs more than the query on large runs.)"""
    rows = database.execute(query).fetchall()
    if not decimals:
        return [tuple(r) for r in rows]
    result = []
    for row in rows:
        row = list(row)
        for i in decimals:
            row[i] = as_decimal(row[i])
        result.append(tuple(row))
    return result


def house_chunks(community_id: int, size: int):
    """Yield lists of (id, floor_area, status, room_no) in id order, by keyset pages."""
    last_id = 0
    while True:
        rows = raw_rows(House.select(House.id, House.floor_area, House.status, House.room_no)
                        .where(House.community == community_id, House.id > last_id)
                        .order_by(House.id).limit(size), decimals=(1,))
        if not rows:
            return
        yield rows
        last_id = rows[-1][0]


def plan_chunk(houses: list[tuple], items: list[ItemPlan], period: str, *,
               anomaly_factor: Decimal | None, mark_existing: bool = False) -> ChunkPlan:
    """The bills and problems for one chunk of houses (ids ascending).

    Queries, each by the chunk's house ids (an IN list, so every database
    uses the (house, fee_item, …) indexes whatever its statistics): the
    period's readings of the metered items; with ``anomaly_factor`` the recent
    readings; the meters of houses with no reading; with ``mark_existing``
    the bills that exist.
    """
    plan = ChunkPlan()
    ids = [h[0] for h in houses]
    metered = [i.fee_item_id for i in items if i.method == Method.METERED]
    readings, history, has_meter, existing = {}, {}, set(), set()
    if metered:
        query = (MeterReading.select(MeterReading.id, MeterReading.house, MeterReading.fee_item,
                                     MeterReading.previous, MeterReading.current,
                                     MeterReading.usage)
                 .where(MeterReading.house.in_(ids), MeterReading.fee_item.in_(metered),
                        MeterReading.period == period))
        readings = {(r[1], r[2]): r for r in raw_rows(query, decimals=(3, 4, 5))}
        if anomaly_factor is not None:
            history = meters_mod.recent_usage(ids, metered, period)
        if len(readings) < len(houses) * len(metered):
            has_meter = set(raw_rows(Meter.select(Meter.house, Meter.fee_item)
                                     .where(Meter.house.in_(ids), Meter.fee_item.in_(metered))))
    if mark_existing:
        existing = set(raw_rows(Bill.select(Bill.house, Bill.fee_item)
                                .where(Bill.house.in_(ids), Bill.period == period,
                                       Bill.fee_item.in_([i.fee_item_id for i in items] or [0]))))
    for item in items:
        _plan_item(plan, item, houses, period, readings, history, has_meter, existing, anomaly_factor)
    return plan


def _plan_item(plan: ChunkPlan, item: ItemPlan, houses, period, readings, history, has_meter,
               existing, anomaly_factor) -> None:
    standard, method, item_id = item.standard, item.method, item.fee_item_id
    pricer = Pricer(standard.unit_price, billed_months(method, item.months))
    unit, price = basis_unit(method, standard.unit), standard.unit_price
    common = (item.code, method)
    tail = (item.due_date, item.period_start, item.period_end, standard.id, standard.version)
    for house_id, area, status, room_no in houses:
        reading = None
        if method == Method.METERED:
            reading = readings.get((house_id, item_id))
            if reading is None:
                if (house_id, item_id) in has_meter:
                    plan.problems.append(Problem("missing_reading", f"{room_no}：缺少{item.name} "
                                                 f"{period} 的读数，请先录入", house_id, item_id))
                else:
                    plan.problems.append(Problem("no_meter", f"{room_no}：未安装{item.name}表具",
                                                 house_id, item_id))
                continue
            quantity = reading[5]
            if anomaly_factor is not None:
                kind = meters_mod.anomaly_kind(quantity, history.get((house_id, item_id), ()),
                                               status == HouseStatus.OCCUPIED, anomaly_factor)
                if kind:
                    plan.problems.append(Problem(kind, f"{room_no}：{item.name}用量 {quantity}"
                                                 f"{_ANOMALY_ZH.get(kind, '异常')}，请核对读数",
                                                 house_id, item_id))
        elif method == Method.PER_AREA:
            if area is None or area <= 0:
                plan.problems.append(Problem("zero_area", f"{room_no}：房屋面积为 {area}，"
                                                 "请先补录面积",
                                             house_id, item_id))
                continue
            quantity = area
        else:
            quantity = ONE
        amount = pricer.amount(quantity)
        if amount <= 0:
            continue  # nothing owed: no bill
        plan.bills.append(PlannedBill(
            house_id, item_id, *common, quantity, unit, price, item.months, amount, *tail,
            *(reading[0], reading[3], reading[4]) if reading else (None, None, None),
            (house_id, item_id) in existing))
